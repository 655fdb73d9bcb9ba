"""The texts of the notices, in plain English (API.md "Notification" ``type`` list, plus R-VOUCH-11's two):
one template per type naming its ``{fields}`` (or alternatives, each chosen by the facts it names);
``render`` refuses a missing or unexpected fact, so a caller cannot send half a notice. One module,
so a translation can sit beside ``ENGLISH``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from string import Formatter
from typing import Literal, NamedTuple, get_args

from lifecycle.core.money import Money

NoticeType = Literal[
    "welcome",
    "user_invited",
    "extra_seat_warning",
    "shared_login_detected",
    "usage_limit_exceeded",
    "receipt",
    "payment_failed",
    "payment_action_required",
    "payment_required",
    "payment_disputed",
    "dispute_opened",
    "card_expiring",
    "card_updated",
    "price_change_notice",
    "trial_ended",
    "inactivity_warning",
    "account_deleted",
    "suspension_warning",
    "termination_warning",
    "cancellation_confirmed",
    "cancellation_overdue",
    "privacy_request_verification",
    "privacy_request_completed",
    "privacy_request_rejected",
    "privacy_request_overdue",
    "voucher_revoked",
    "account_marked_for_removal",
    "custom_request_approved",
    "custom_request_refused",
    "account_reinstated",
    "product_news",
]
NOTICE_TYPES: tuple[NoticeType, ...] = get_args(NoticeType)
# R-GDPR-6, R-GDPR-8, R-GDPR-9: marketing, sent only by ``notifications.notify_marketing``, which
# checks the person's consent and adds the one-click unsubscribe link (``{unsubscribe_url}``).
MARKETING_TYPES: frozenset[NoticeType] = frozenset({"product_news"})


class Template(NamedTuple):
    subject: str
    body: str


# How a person the service made signs in (API.md "Sign-in"): with the password they chose, or,
# invited, by setting one through the identity provider's forgot-password flow.
SIGN_IN = 'Sign in with {email} and the password you chose (forgot it? choose "Forgot password" on the sign-in page).'
INVITED = (
    'To sign in, set your password: on the sign-in page choose "Forgot password", enter {email}, '
    "and we will email you a code to set it with."
)
SIGN_OFF = "\n\nThe Help Desk team"
REPLY_IF_MISTAKEN = "If you think this is a mistake, reply to this email and our support staff will review it."

# A type with more than one text (a tuple) is rendered with the one whose facts it is given.
ENGLISH: dict[NoticeType, Template | tuple[Template, ...]] = {
    "welcome": Template(
        "Welcome to your help desk",
        "Your help desk {subdomain} is ready on the {plan} plan. {sign_in} Then add your team and start "
        "answering tickets.\n\nIf you did not sign up, reply to this email and we will close the account.",
    ),
    # API.md "Sign-in": a user added by the owner or an admin is invited to set a password.
    "user_invited": Template(
        "You were added to help desk {subdomain}",
        "You were added to help desk {subdomain} as {role}. {sign_in}\n\n"
        "If you do not know this help desk, ignore this email.",
    ),
    # R-VOUCH-6, R-VOUCH-7, R-VOUCH-8
    "extra_seat_warning": Template(
        "Your package's seats are exceeded",
        "Help desk {subdomain} now has {seats_used} users, but your package includes {included_seats}: "
        "the package's seats are exceeded. Each extra user costs the standard all-inclusive price, "
        "{seat_price} a month, billed monthly for the time the user exists.\n\n"
        "Before the first charge, add your billing details and a card or PayPal in Billing. "
        "To avoid the charge, remove the extra users.",
    ),
    # R-USE-1, R-USE-2
    "shared_login_detected": Template(
        "A login of your help desk is shared",
        "The login of {user} in help desk {subdomain} was used by more than one person on {days} days "
        "of the billing period {period}, each time on more devices at once than one person uses:\n"
        "{evidence}\n\nOne login is for one person, so a shared-login fee of {fee} will be added "
        "to your next invoice. The evidence is under Shared logins in your account.\n\nTo avoid the fee "
        "in future, give each person their own user. " + REPLY_IF_MISTAKEN,
    ),
    # R-FAIR-2
    "usage_limit_exceeded": Template(
        "Your help desk is over its usage limit",
        "Help desk {subdomain} has used {usage}, above the {limit} included in its plan. Our staff will "
        "review the account and may change its limits.\n\nTo stay within the limits, reduce the usage or "
        "move to a paid plan in Billing.",
    ),
    # R-PAY-11
    "receipt": Template(
        "Receipt for your payment of {amount}",
        "We received your payment of {amount} for help desk {subdomain} on {paid_at}, for invoice "
        "{invoice_number}.\n\nThe invoice is in Billing. Thank you.",
    ),
    "payment_failed": Template(
        "Your payment of {amount} did not go through",
        "We could not charge {amount} for help desk {subdomain}; nothing was charged.\n\nPlease check "
        "your payment method, or replace it in Billing, so the service can continue.",
    ),
    "payment_action_required": (
        # R-PAY-12: an on-session charge waits for the card holder's authentication at the provider's link.
        Template(
            "Confirm your payment of {amount}",
            "Your bank asks you to confirm the payment of {amount} for help desk {subdomain} before it is "
            "charged; nothing has been charged yet.\n\nConfirm it with your bank here:\n{next_action_url}\n\n"
            "Then repeat the step in Billing that asked for it, and the payment completes.",
        ),
        # R-PAY-12, R-VOUCH-10: the billing run's charge needed the card holder, who was not there:
        # the account is blocked, and giving the payment method again in Billing charges on session.
        Template(
            "Confirm your payment of {amount} to restore your help desk",
            "Your bank asks you to confirm the payment of {amount} for help desk {subdomain}. It could not "
            "be confirmed while you were away, so nothing has been charged and the help desk has lost "
            "access until it is paid.\n\nGive your payment method again in Billing, confirm the payment "
            "with your bank when asked, and access returns at once:\n{billing_url}",
        ),
    ),
    # R-VOUCH-10, and a charge still declined after its retries (lifecycle.billing.billing_run)
    "payment_required": Template(
        "Your help desk needs billing details",
        "Help desk {subdomain} has lost access because a charge is due (such as the first charge for its "
        "extra users) and the billing details or a payment method that can be charged are missing.\n\n"
        "Add them in Billing, or replace the payment method, and access returns at once.",
    ),
    # R-PAY-12: a dispute opened at the payment provider (lifecycle.billing.webhooks), to the owner
    "payment_disputed": Template(
        "A payment for help desk {subdomain} was disputed",
        "A payment of {amount} for help desk {subdomain} was disputed with your bank or PayPal. Our "
        "staff will look at it and may contact you.\n\nIf the dispute is a mistake, you can withdraw it "
        "with your bank; if someone used your card without your permission, please tell us.",
    ),
    # R-PAY-12: the same dispute, to staff
    "dispute_opened": Template(
        "Payment dispute on account {account}",
        "A payment of {amount} for account {account} was disputed at the payment provider (reason: "
        "{reason}). The account is flagged (payment_dispute); the dispute policy is {policy}.\n\nAnswer "
        "the dispute at the payment provider before its evidence deadline.",
    ),
    # R-PAY-12: the card the account charges is about to expire (the provider's notice)
    "card_expiring": Template(
        "Your card for help desk {subdomain} expires soon",
        "The {brand} card ending in {last4}, which help desk {subdomain} is charged to, expires at the end "
        "of {expires}.\n\nPlease give a new card (or PayPal) in Billing before the next charge, so the "
        "service continues without interruption.",
    ),
    # R-PAY-12: the card network updated the card the account charges
    "card_updated": Template(
        "Your card for help desk {subdomain} was updated",
        "Your bank updated the card help desk {subdomain} is charged to: it is now the {brand} card "
        "ending in {last4}, expiring {expires}.\n\nIf that is not the card you want charged, please "
        "give another card (or PayPal) in Billing.",
    ),
    # R-PAY-9
    "price_change_notice": Template(
        "The price of the {plan} plan is changing",
        "From {effective_at}, the {plan} plan will cost {new_price} instead of {old_price}.\n\nNothing "
        "changes before then. If you do not want the new price, you can change your plan or stop the "
        "account before that date.",
    ),
    # R-PAY-3
    "trial_ended": Template(
        "Your free trial has ended",
        "The free trial of help desk {subdomain} on the {plan} plan ended on {trial_ends_at}, without a "
        "payment method, so the account is suspended. Your data is kept.\n\nAdd a card in Billing and "
        "the account is active again at once.",
    ),
    # R-TERM-6
    "inactivity_warning": Template(
        "Your help desk will be deleted for inactivity",
        "Nobody has used help desk {subdomain} since {last_active_at}. If it stays unused, it will be "
        "deleted with all its data on {delete_at}.\n\nTo keep it, sign in or use the help desk before "
        "then. If its access is blocked (a trial ended or a payment is due), add a payment method in "
        "Billing first.",
    ),
    # R-TERM-3, R-TERM-6
    "account_deleted": Template(
        "Your help desk has been deleted",
        "Help desk {subdomain} and all its content were deleted on {deleted_at} and cannot be recovered. "
        "We keep only what the law requires, such as invoices.\n\nYou are welcome to sign up again at "
        "any time.",
    ),
    # R-TERM-4: recorded in the same transaction as the suspension, just before it; the reason
    # is STAFF_ACTION_REASONS' plain words, never staff's own details or evidence (R-TERM-5).
    "suspension_warning": Template(
        "Your help desk is being suspended",
        "Our staff are suspending help desk {subdomain} as of {suspend_at}. The reason: {reason}.\n\n"
        "While it is suspended, nobody can sign in or use it, but nothing is deleted. Once the reason "
        "is resolved, our staff can reinstate it as it was. " + REPLY_IF_MISTAKEN,
    ),
    # R-TERM-4, as the suspension warning, for a termination.
    "termination_warning": Template(
        "Your help desk is being closed",
        "Our staff are closing help desk {subdomain} as of {terminate_at}. The reason: {reason}.\n\n"
        "Access ends then and there will be no further charges. Its content will be deleted and "
        "cannot be recovered; we keep only what the law requires, such as invoices. " + REPLY_IF_MISTAKEN,
    ),
    # R-TERM-1, R-TERM-2
    "cancellation_confirmed": Template(
        "Your help desk has been cancelled",
        "Help desk {subdomain} was cancelled on {cancelled_at}. Access has ended and there will be no "
        "further charges.\n\nAll its content will be deleted and cannot be recovered. We keep only what "
        "the law requires, such as invoices.",
    ),
    # R-TERM-2: to staff, when an emailed cancellation is still unconfirmed after its deadline.
    "cancellation_overdue": Template(
        "Overdue cancellation request {request_id}",
        "The owner of account {account} asked on {requested_at} to cancel it. Staff had to confirm "
        "the cancellation by {due_by}, and it is still pending.\n\nConfirm it now in the staff tools "
        "(POST /admin/cancellation-requests/{request_id}/confirm).",
    ),
    # R-GDPR-10: the link is signed, names the request and expires (lifecycle.privacy.privacy.sign).
    "privacy_request_verification": Template(
        "Please confirm your data protection request",
        "We received a request from this address for {request_type} (reference {reference}).\n\n"
        "Before we act on it we need to know it was you. Confirm it with this link, valid until "
        "{link_expires_at}:\n{verification_link}\n\nWe will answer by {due_at}. If you did not make this "
        "request, ignore this email and nothing will happen.",
    ),
    # R-GDPR-10: ``summary`` is the action's own words; ``download`` is empty or a paragraph with
    # the export's link (R-GDPR-3, R-GDPR-7).
    "privacy_request_completed": Template(
        "Your data protection request is complete",
        "Your request for {request_type} (reference {reference}) was completed on {completed_at}.\n\n"
        "{summary}{download}\n\nIf you have questions about the result, reply to this email. You may "
        "also complain to your data protection authority.",
    ),
    # R-GDPR-10: a rejection states its reason and the subject's remedies (GDPR Art. 12(4)).
    "privacy_request_rejected": Template(
        "Your data protection request was declined",
        "We did not carry out your request for {request_type} (reference {reference}). The reason: "
        "{reason}\n\nYou may make a new request, reply to this email, or complain to your data "
        "protection authority.",
    ),
    # R-GDPR-10: to staff, once, when a request is still open at its due date. No personal data.
    "privacy_request_overdue": Template(
        "Overdue data protection request {request_id}",
        "The request {request_id} for {request_type}, received on {received_at}, had to be answered by "
        "{due_at} and is still {status}.\n\nComplete or reject it now in the staff tools "
        "(GET /admin/privacy/requests/{request_id}).",
    ),
    # R-VOUCH-11
    "voucher_revoked": Template(
        "Your lifetime-deal code has been revoked",
        "The lifetime-deal code of help desk {subdomain} has been revoked because {reason}. The account "
        "has lost access.\n\n" + REPLY_IF_MISTAKEN,
    ),
    # R-VOUCH-11
    "account_marked_for_removal": Template(
        "Your help desk will be removed",
        "Help desk {subdomain} will be removed with all its data: it was created with another "
        "lifetime-deal code by the owner of help desk {revoked_subdomain}, whose code has been revoked "
        "because {reason}. The deal allows one code per person.\n\n" + REPLY_IF_MISTAKEN,
    ),
    # R-CUSTOM-1: the Terms' written approval; it states the specification, the price agreed
    # in advance and that the results belong to the vendor.
    "custom_request_approved": Template(
        "Your custom development request is approved: {title}",
        'We will develop "{title}" for help desk {subdomain} to this specification:\n\n{specification}\n\n'
        "The price, agreed in advance, is {price}. The result of the development is the exclusive "
        "intellectual property of the vendor, who may reuse it for other customers.\n\n"
        "If this is not what we agreed, reply to this email before the work starts.",
    ),
    # R-CUSTOM-1
    "custom_request_refused": Template(
        "Your custom development request was declined: {title}",
        'We will not develop "{title}" for help desk {subdomain}. The reason: {reason}.\n\n'
        "You are welcome to file another request.",
    ),
    # R-TERM-4: staff lifted a suspension.
    "account_reinstated": Template(
        "Your help desk is available again",
        "Our staff lifted the suspension of help desk {subdomain} on {reinstated_at}. Everyone can sign "
        "in and use it again, and its data is as it was.",
    ),
    # R-GDPR-9: marketing, to a person who consented; the one-click link withdraws the consent.
    "product_news": Template(
        "{headline}",
        "{news}\n\nYou receive this because you agreed to receive product news from us. To stop, "
        "unsubscribe with one click: {unsubscribe_url}",
    ),
}

# R-GDPR-10: a data subject request's type as its notices say it ("a request for ...").
REQUEST_TYPE_WORDS: dict[str, str] = {
    "access": "access to your personal data",
    "rectification": "correction of your personal data",
    "erasure": "erasure of your personal data",
    "restriction": "restriction of the processing of your personal data",
    "portability": "a copy of your personal data in a portable format",
    "objection": "objection to the processing of your personal data",
    "withdraw_consent": "withdrawal of your consent",
}


# R-VOUCH-11: the staff's reason for a revocation, as the notice says it.
REVOCATION_REASONS: dict[str, str] = {
    "abuse": "it was used in a way the deal does not allow, such as sharing the code or redeeming it again",
    "fraud": "the purchase of the code was found to be fraudulent",
}


# R-TERM-4, R-REG-4: staff's reason for a suspension or termination, as the owner's warning says
# it. Staff's details and evidence stay with staff (R-TERM-5). Fraud is never warned of.
STAFF_ACTION_REASONS: dict[str, str] = {
    "non_payment": "payments for the account are overdue",
    "terms_violation": "the account was used in a way the Terms of Service do not allow",
    "abuse": "the account was used to abuse the service or other people",
    "fraud": "fraud is suspected",
    "false_information": "false information was given at registration, or someone was impersonated",
    "fair_usage": "the account's usage goes beyond what the fair usage policy allows",
    "other": "a matter our staff will explain if you reply to this email",
}


def fields(template: Template) -> frozenset[str]:
    """The facts a template needs."""
    parsed = [*Formatter().parse(template.subject), *Formatter().parse(template.body)]
    return frozenset(name for _, name, _, _ in parsed if name)


def texts(type: NoticeType) -> tuple[Template, ...]:
    """The type's texts: one, or its alternatives, each chosen by the facts it names."""
    entry = ENGLISH[type]
    return (entry,) if isinstance(entry, Template) else entry


def plain(value: object) -> str:
    """A fact as a reader sees it: instants as "25 November 2026, 12:00 UTC", money as "39.00 USD"."""
    if isinstance(value, datetime):
        instant = value.astimezone(UTC)
        return f"{instant.day} {instant:%B %Y, %H:%M} UTC"
    if isinstance(value, Money):
        whole, cents = divmod(abs(value.amount), 100)
        sign = "-" if value.amount < 0 else ""
        return f"{sign}{whole:,}.{cents:02d} {value.currency}"
    return str(value)


def render(type: NoticeType, **facts: object) -> tuple[str, str]:
    """``(subject, body)`` of a notice; ``KeyError`` if a fact is missing or not the template's.
    A type with alternative texts takes exactly the facts of one of them, which chooses it."""
    options = texts(type)
    if len(options) > 1:
        options = tuple(template for template in options if fields(template) == facts.keys())
        if not options:
            named = " or ".join(str(sorted(fields(template))) for template in texts(type))
            raise KeyError(f"{type} needs the facts {named}, not {sorted(facts)}")
    template = options[0]
    needed = fields(template)
    if missing := needed - facts.keys():
        raise KeyError(f"{type} needs the facts {sorted(missing)}")
    if unexpected := facts.keys() - needed:
        raise KeyError(f"{type} takes no facts {sorted(unexpected)}")
    shown = {name: plain(value) for name, value in facts.items()}
    return template.subject.format_map(shown), template.body.format_map(shown) + SIGN_OFF
