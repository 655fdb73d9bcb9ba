"""Domain errors. Logic raises them; ``lifecycle.entry.http`` maps them to problem+json once.

Each class carries the stable ``code`` of shared/spec/API.md and its HTTP status.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        # Extra members of the problem document (e.g. a suggested subdomain).
        self.extra = extra
        self.headers: dict[str, str] = {}


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"
    title = "Authentication required"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    title = "Not allowed for this role"


class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class CampaignExists(Conflict):
    code = "campaign_exists"
    title = "A campaign with this id already exists"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    title = "Idempotency-Key reused with a different request"


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"
    title = "A request with this Idempotency-Key is still being processed"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers["Retry-After"] = "1"


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class ServiceUnavailable(DomainError):
    status = 503
    code = "service_unavailable"
    title = "Temporarily unavailable, retry later"

    def __init__(self, detail: str | None = None, retry_after: int = 1, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers["Retry-After"] = str(retry_after)


# ---------------------------------------------------------------- signup and redemption


class Unprocessable(DomainError):
    status = 422
    code = "unprocessable"
    title = "The request cannot be processed"


class TermsNotAccepted(Unprocessable):
    code = "terms_not_accepted"
    title = "The terms must be accepted, with authority to bind the organisation"


class Underage(Unprocessable):
    code = "underage"
    title = "The person registering must be at least 18 years old"


class SubdomainTaken(Conflict):
    code = "subdomain_taken"
    title = "This subdomain is taken"


class EmailTaken(Conflict):
    code = "email_taken"
    title = "This email already owns an account"


class VoucherNotFound(NotFound):
    code = "voucher_not_found"
    title = "No such voucher code"


class VoucherAlreadyRedeemed(Conflict):
    code = "voucher_already_redeemed"
    title = "This voucher code has been redeemed already"


class VoucherExpired(DomainError):
    status = 410
    code = "voucher_expired"
    title = "This voucher code can no longer be redeemed"


class VoucherNotStackable(Conflict):
    code = "voucher_not_stackable"
    title = "This account already has a voucher; codes do not stack"


class VoucherRevoked(DomainError):
    status = 410
    code = "voucher_revoked"
    title = "This voucher code has been revoked"


class InvalidField(Unprocessable):
    """A field that passed the schema but not a rule (e.g. no subdomain can be derived)."""

    code = "validation_error"
    title = "The request is not valid"

    def __init__(self, field: str, message: str) -> None:
        super().__init__("See errors[] for each field", errors=[{"field": field, "message": message}])


class InvalidVatId(InvalidField):
    """R-PAY-14: a VAT ID that is not its state's by format and check digits, or not the address's state's."""

    code = "invalid_vat_id"
    title = "The VAT ID is not valid for the country"


# ---------------------------------------------------------------- bots and rate limits (R-REG-2)


class BotSuspected(Forbidden):
    """R-REG-2: the human check failed or the honeypot field was filled."""

    code = "bot_suspected"
    title = "The request looks automated"


class HumanCheckUnavailable(ServiceUnavailable):
    """R-REG-2: the CAPTCHA provider could not answer; the signup may be retried."""

    code = "human_check_unavailable"
    title = "The human check is unavailable, retry later"


class RateLimited(DomainError):
    """R-REG-2: too many signups from one IP or for one email in the current window."""

    status = 429
    code = "rate_limited"
    title = "Too many requests, retry later"

    def __init__(self, detail: str | None = None, retry_after: int = 1, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers["Retry-After"] = str(max(1, retry_after))


# ---------------------------------------------------------------- terms and activity (R-TERMS-3)


class TermsVersionExists(Conflict):
    """R-TERMS-3: a version string is published once; a new text needs a new version."""

    code = "terms_version_exists"
    title = "This terms version has been published already"


class AccountBlocked(Forbidden):
    """The account's access is not full (``access`` in API.md): its members cannot use it."""

    code = "account_blocked"
    title = "This account's access is blocked"


# ---------------------------------------------------------------- users and seats (R-USE-3)


class SeatLimitReached(Conflict):
    """R-USE-3: the account already has as many users as its plan (or override) allows."""

    code = "seat_limit_reached"
    title = "The account has as many users as its plan allows"


class UserExists(Conflict):
    """The email is already a user of this account."""

    code = "user_exists"
    title = "This email is already a user of the account"


class CannotRemoveOwner(Conflict):
    code = "cannot_remove_owner"
    title = "The account's owner cannot be removed"


# ---------------------------------------------------------------- custom development (R-CUSTOM-1)


class AlreadyDecided(Conflict):
    """R-CUSTOM-1: a custom development request is approved or refused once."""

    code = "already_decided"
    title = "This request has been decided already"


class AlreadyConfirmed(Conflict):
    """R-TERM-2: an emailed cancellation request is confirmed once."""

    code = "already_confirmed"
    title = "This cancellation request has been confirmed already"


# ---------------------------------------------------------------- billing (R-PAY-*, R-VOUCH-8..10)


class BillingDetailsRequired(Conflict):
    """R-VOUCH-8: a charge needs the billing details first (an invoice carries them)."""

    code = "billing_details_required"
    title = "Give the billing details first"


class PaymentMethodRequired(Conflict):
    """A charge needs a payment method (card or PayPal) first."""

    code = "payment_method_required"
    title = "Add a payment method first"


class DowngradeNeedsConfirmation(Conflict):
    """R-PAY-8: what the lower plan loses is listed; the owner confirms before it is scheduled."""

    code = "downgrade_needs_confirmation"
    title = "Confirm the downgrade: the lower plan loses what is listed"


class CorrectionWindowClosed(Conflict):
    """R-PAY-13: corrections only within the window after the latest invoice."""

    code = "correction_window_closed"
    title = "The correction window of this invoice has closed"


class AlreadyCorrected(Conflict):
    """R-PAY-13: an invoice is credited once."""

    code = "already_corrected"
    title = "This invoice has been corrected already"


class NoticeTooShort(Unprocessable):
    """R-PAY-9: a price takes effect at least the notice period after the owners' notices."""

    code = "notice_too_short"
    title = "The price change needs a longer notice"


# ---------------------------------------------------------------- payments (R-PAY-12)


class PaymentDeclined(DomainError):
    """API.md "A declined charge": the provider refused the charge; nothing is saved."""

    status = 402
    code = "payment_declined"
    title = "The payment was declined"


class AuthenticationRequired(PaymentDeclined):
    """API.md "Payment tokens" (R-PAY-12): the card holder must authenticate the charge (EU strong
    customer authentication) at ``next_action_url``; it is not paid yet and nothing is saved.
    Off session nobody can, and the URL is None."""

    code = "authentication_required"
    title = "The card holder must authenticate the payment"

    def __init__(self, detail: str | None = None, next_action_url: str | None = None) -> None:
        super().__init__(detail, next_action_url=next_action_url)
        self.next_action_url = next_action_url


class PaymentProcessing(ServiceUnavailable):
    """R-PAY-12: the provider took the charge but has not confirmed it yet; it is not paid. A retry
    (the same provider key) finds its outcome."""

    code = "payment_processing"
    title = "The payment is still being processed; retry shortly"


# ---------------------------------------------------------------- data protection (R-GDPR-3..10)


class InvalidToken(DomainError):
    status = 400
    code = "invalid_token"
    title = "The link is invalid or has expired"


class InvalidSignature(DomainError):
    """A payment provider's webhook event that is unsigned, badly signed or too old (R-PAY-12)."""

    status = 400
    code = "invalid_signature"
    title = "The event's signature is not valid"


class RequestNotVerified(Conflict):
    code = "request_not_verified"
    title = "The data subject's identity is not verified yet"


class RequestClosed(Conflict):
    code = "request_closed"
    title = "The request is already completed or rejected"


class ExportUnavailable(DomainError):
    status = 410
    code = "export_unavailable"
    title = "The export was already downloaded or its link has expired"


class OwnsLiveAccount(Conflict):
    code = "owns_live_account"
    title = "The data subject owns an account in use; it must be stopped before erasure"


class RequestInProgress(Conflict):
    """R-GDPR-10: another completion of the same data subject request is running."""

    code = "request_in_progress"
    title = "The request is being completed; retry shortly"

    def __init__(self, detail: str | None = None, retry_after: int = 30, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers["Retry-After"] = str(retry_after)
