"""The payment provider port (R-PAY-12): customers, payment methods, charges and refunds, each under an
idempotency key; only the provider's tokens and references are stored, never a card number. The
one adapter, ``StripeProvider``, calls Stripe through its official SDK; the local runtime and the
tests point it at a stand-in that speaks the same API (``local_runtime/payment_standin.py``).
docs/ARCHITECTURE.md "Billing".
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args

from lifecycle.core import secrets
from lifecycle.core.errors import (
    AuthenticationRequired,
    InvalidField,
    PaymentDeclined,
    PaymentProcessing,
    ServiceUnavailable,
)
from lifecycle.core.money import Money
from lifecycle.core.observability import logger
from lifecycle.core.settings import Settings

if TYPE_CHECKING:
    from stripe import PaymentIntent, StripeClient
    from stripe.params import PaymentIntentCreateParams

    from lifecycle.storage import Account

MethodType = Literal["card", "paypal"]
METHOD_TYPES: tuple[str, ...] = get_args(MethodType)

# The Stripe API version every request is made with: the one stripe 16.1.0 (layers/shared/python/
# requirements.txt) is generated for, so the SDK's types describe the answers. Changing it is a
# migration (Stripe's upgrade notes), made together with the SDK.
STRIPE_API_VERSION = "2026-10-28.endive"
# Retries of a request that got no answer, a 409 or a 5xx, with the same idempotency key (the SDK
# waits 0.5 s, then 1 s, with jitter); the timeouts keep a charge within an API function's 10 s.
NETWORK_RETRIES = 2
CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 6.0
# Where the provider sends the card holder back after authenticating (the web client's page).
RETURN_PATH = "/payments/authenticated"
UNAVAILABLE = "The payment provider could not be reached; retry shortly"
# Metadata of the refunds the service makes itself: a refund without it was made at the
# provider (its dashboard, a bank's chargeback settled by refund) and needs a credit note.
REFUNDED_BY = {"refunded_by": "service"}


@dataclass(frozen=True)
class Charge:
    """A successful charge: the provider's id (the payment intent's) and the amount taken."""

    id: str
    amount: Money


@dataclass(frozen=True)
class CardShown:
    """What the provider shows of a card: not card data under PCI DSS (no number, no code)."""

    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class AttachedMethod:
    """A payment method the provider attached: its reference, its type at the provider (which
    the token decides, not the owner's word) and, for a card, what may be shown of it."""

    id: str
    type: str
    card: CardShown | None = None

    def display(self) -> dict[str, Any]:
        """What the account keeps to show (API.md "Account" ``payment_method``): a card's brand,
        last four digits and expiry, or only "paypal" (never the payer's address)."""
        if self.card is not None:
            return {"type": "card", **asdict(self.card)}
        return {"type": self.type}


@dataclass(frozen=True)
class Refund:
    """A refund of (part of) a charge."""

    id: str
    charge_id: str
    amount: Money


class PaymentProvider(Protocol):
    """R-PAY-12: the payment provider; only its tokens and references are stored."""

    def create_customer(self, account_id: str, email: str, idempotency_key: str) -> str:
        """The provider's customer id for the account."""
        ...

    def delete_customer(self, customer_id: str) -> None:
        """Delete the customer and its payment methods at the provider; one deleted before is no error."""
        ...

    def attach(self, customer_id: str, method_type: MethodType, token: str, idempotency_key: str) -> AttachedMethod:
        """Attach a provider token to the customer; returns the method attached (its reference to
        store, its type and what may be shown of it)."""
        ...

    def charge(
        self,
        customer_id: str,
        method_ref: str,
        amount: Money,
        idempotency_key: str,
        description: str,
        off_session: bool = True,
        metadata: dict[str, str] | None = None,
    ) -> Charge:
        """Charge ``amount``, paid when this returns; ``metadata`` says what for (the provider
        sends it back with the payment's webhook events). ``off_session``: a schedule charges, the card
        holder is not there to authenticate. Raises ``PaymentDeclined`` when the provider declines,
        ``AuthenticationRequired`` when the card holder must authenticate first and
        ``PaymentProcessing`` while the provider has not confirmed it."""
        ...

    def refund(self, charge_id: str, amount: Money, idempotency_key: str) -> Refund:
        """Refund part or all of a charge; more than its unrefunded amount raises ``ValueError``.
        The refund is marked as the service's own (``REFUNDED_BY``), so its webhook event is
        told apart from a refund made at the provider."""
        ...

    def account_of_customer(self, customer_id: str) -> str | None:
        """The account a provider customer was created for (its ``account_id`` metadata)."""
        ...

    def account_of_payment(self, intent_id: str) -> str | None:
        """The account a payment intent charged (its ``account_id`` metadata)."""
        ...


def _check_amount(amount: Money) -> None:
    if amount.amount <= 0:
        raise ValueError("a charge or refund is of a positive amount")


@lru_cache(maxsize=4)
def _client(secret_key: str, api_base: str) -> StripeClient:
    """One SDK client per key and address: it keeps its HTTP connections (one session per thread)."""
    import stripe  # ~0.4 s: imported where the provider is first called, never at a handler's import

    # The SDK logs each request's URL (an attach carries the token in it) and the provider's
    # messages at INFO: only its warnings may reach the service's logs.
    logging.getLogger("stripe").setLevel(logging.WARNING)
    return stripe.StripeClient(
        secret_key,
        stripe_version=STRIPE_API_VERSION,
        base_addresses={"api": api_base},
        max_network_retries=NETWORK_RETRIES,
        http_client=stripe.RequestsClient(timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS)),
    )


@contextmanager
def _provider_errors(operation: str, customer_id: str | None = None) -> Iterator[None]:
    """The SDK's typed errors as the contract's: a decline 402, authentication 402, the provider
    unreachable, failing or throttling 503; any other refusal is a bug in the request (``ValueError``,
    without the provider's message, which may quote a token)."""
    import stripe

    try:
        yield
    except stripe.CardError as exc:
        error = exc.error
        code = error.code if error is not None else None
        decline_code = error.decline_code if error is not None else None
        logger.info(
            "payment declined",
            extra={"operation": operation, "customer_id": customer_id, "code": code, "decline_code": decline_code},
        )
        if code == "authentication_required":
            raise AuthenticationRequired(
                "The card holder must authenticate this payment; it was made without them (off session)"
            ) from None
        raise PaymentDeclined("The payment method was declined") from None
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as exc:
        logger.warning(
            "payment provider unavailable",
            extra={"operation": operation, "error": type(exc).__name__, "status": exc.http_status},
        )
        raise ServiceUnavailable(UNAVAILABLE) from None
    except (stripe.AuthenticationError, stripe.PermissionError) as exc:
        # Our key is wrong or lacks a permission: nothing a client can fix, operations must.
        logger.error("payment provider refused our key", extra={"operation": operation, "status": exc.http_status})
        raise ServiceUnavailable(UNAVAILABLE) from None
    except stripe.InvalidRequestError as exc:
        extra = {"operation": operation, "status": exc.http_status, "code": exc.code, "param": exc.param}
        if operation == "attach" and exc.code == "resource_missing" and exc.param != "customer":
            logger.info("payment token not known to the provider", extra=extra)
            raise InvalidField("token", "not a payment method token of the provider") from None
        logger.error("payment provider refused the request", extra=extra)
        raise ValueError(f"payment provider refused {operation}: {exc.http_status} {exc.code}") from None
    except stripe.StripeError as exc:
        # IdempotencyError (a key reused with another request) and the rest: a bug of ours.
        logger.error(
            "payment provider refused the request", extra={"operation": operation, "error": type(exc).__name__}
        )
        raise ValueError(f"payment provider refused {operation}: {type(exc).__name__}") from None


@dataclass(frozen=True)
class StripeProvider:
    """R-PAY-12: Stripe's API through the SDK (``STRIPE_API_VERSION``), every POST under the
    caller's idempotency key, so a retry (the SDK's own, or the caller's with the same key) is
    answered with the first outcome and never charges twice.

    A charge is a payment intent confirmed at once with the customer's saved method: paid when
    ``succeeded``. ``requires_action`` (the card holder must authenticate) raises
    ``AuthenticationRequired`` with the provider's URL, ``processing`` ``PaymentProcessing``; a
    replayed answer in either state is read again, so the retry after the card holder acted sees
    the outcome.
    """

    # repr=False: the secret must never reach a log line through a repr.
    secret_key: str = field(repr=False)
    api_base: str = "https://api.stripe.com"
    return_url: str = "https://api.helpdesk.example" + RETURN_PATH

    @property
    def client(self) -> StripeClient:
        return _client(self.secret_key, self.api_base)

    def create_customer(self, account_id: str, email: str, idempotency_key: str) -> str:
        _check_key(idempotency_key)
        with _provider_errors("create_customer"):
            customer = self.client.v1.customers.create(
                {"email": email, "metadata": {"account_id": account_id}},
                {"idempotency_key": idempotency_key},
            )
        return _text(customer.id, "id")

    def delete_customer(self, customer_id: str) -> None:
        with _provider_errors("delete_customer", customer_id):
            deleted = _unless_missing(lambda: self.client.v1.customers.delete(customer_id))
        if deleted is None:
            logger.info("payment customer deleted before", extra={"customer_id": customer_id})

    def attach(self, customer_id: str, method_type: MethodType, token: str, idempotency_key: str) -> AttachedMethod:
        # Cards and PayPal alike: the client's provider token is a payment method to attach.
        if method_type not in METHOD_TYPES:
            raise ValueError(f"method_type is one of {METHOD_TYPES}")
        if not token:
            raise InvalidField("token", "must be a payment provider token")
        _check_key(idempotency_key)
        with _provider_errors("attach", customer_id):
            method = self.client.v1.payment_methods.attach(
                token, {"customer": customer_id}, {"idempotency_key": idempotency_key}
            )
        card = method.card if method.type == "card" else None
        shown = None
        if card is not None:
            shown = CardShown(
                _text(card.brand, "card.brand"), _text(card.last4, "card.last4"), card.exp_month, card.exp_year
            )
        return AttachedMethod(_text(method.id, "id"), _text(method.type, "type"), shown)

    def charge(
        self,
        customer_id: str,
        method_ref: str,
        amount: Money,
        idempotency_key: str,
        description: str,
        off_session: bool = True,
        metadata: dict[str, str] | None = None,
    ) -> Charge:
        _check_amount(amount)
        _check_key(idempotency_key)
        params: PaymentIntentCreateParams = {
            "amount": amount.amount,
            "currency": amount.currency.lower(),
            "customer": customer_id,
            "payment_method": method_ref,
            "confirm": True,
            "off_session": off_session,
            "description": description,
            "return_url": self.return_url,
        }
        if metadata:  # only when given: an empty map is sent as ``metadata=``, which clears it
            params["metadata"] = dict(metadata)
        with _provider_errors("charge", customer_id):
            intent = self.client.v1.payment_intents.create(params, {"idempotency_key": idempotency_key})
            if intent.status in ("requires_action", "processing") and _replayed(intent):
                # The first answer, replayed: the card holder may have acted since.
                intent = self.client.v1.payment_intents.retrieve(intent.id)
        return Charge(self._paid(intent, customer_id), amount)

    def _paid(self, intent: PaymentIntent, customer_id: str) -> str:
        """The payment intent's id when it is paid; otherwise why not, raised."""
        status = intent.status
        extra = {"customer_id": customer_id, "intent_status": status}
        if status == "succeeded":
            return _text(intent.id, "id")
        if status == "requires_action":
            logger.info("payment needs the card holder's authentication", extra=extra)
            redirect = intent.next_action.redirect_to_url if intent.next_action is not None else None
            raise AuthenticationRequired(
                "The card holder must authenticate this payment at next_action_url, then retry",
                next_action_url=redirect.url if redirect is not None else None,
            )
        if status == "processing":
            logger.info("payment still processing", extra=extra)
            raise PaymentProcessing("The payment provider has not confirmed the payment yet; retry shortly")
        if status == "requires_payment_method":
            # Declined (on a replay of an authentication that failed, for one).
            logger.info("payment declined", extra=extra)
            raise PaymentDeclined("The payment method was declined")
        logger.error("payment intent in an unexpected state", extra=extra)
        raise ValueError(f"payment intent {status}: not a state a confirmed automatic charge is in")

    def refund(self, charge_id: str, amount: Money, idempotency_key: str) -> Refund:
        _check_amount(amount)
        _check_key(idempotency_key)
        with _provider_errors("refund"):
            refund = self.client.v1.refunds.create(
                {"payment_intent": charge_id, "amount": amount.amount, "metadata": dict(REFUNDED_BY)},
                {"idempotency_key": idempotency_key},
            )
        return Refund(_text(refund.id, "id"), charge_id, amount)

    def account_of_customer(self, customer_id: str) -> str | None:
        with _provider_errors("retrieve_customer", customer_id):
            customer = _unless_missing(lambda: self.client.v1.customers.retrieve(customer_id))
        if customer is None or getattr(customer, "deleted", False):
            return None
        return _account_in(customer)

    def account_of_payment(self, intent_id: str) -> str | None:
        with _provider_errors("retrieve_payment_intent"):
            intent = _unless_missing(lambda: self.client.v1.payment_intents.retrieve(intent_id))
        return _account_in(intent) if intent is not None else None


def _unless_missing[T](call: Callable[[], T]) -> T | None:
    """``call``'s answer, or None when the provider has no such object (``resource_missing``);
    its other refusals are raised for ``_provider_errors`` to map."""
    import stripe

    try:
        return call()
    except stripe.InvalidRequestError as exc:
        if exc.code != "resource_missing":
            raise
        return None


def _account_in(obj: Any) -> str | None:
    """The ``account_id`` metadata the service gave a provider object, if any."""
    metadata = getattr(obj, "metadata", None)
    if metadata is None or "account_id" not in metadata:
        return None
    account_id = metadata["account_id"]
    return account_id if isinstance(account_id, str) and account_id else None


def _check_key(idempotency_key: str) -> None:
    if not idempotency_key:
        raise ValueError("an idempotency key is required")


def _replayed(answer: Any) -> bool:
    """Whether the provider answered a repeated idempotency key with its first answer."""
    response = getattr(answer, "last_response", None)
    return response is not None and str(response.headers.get("idempotent-replayed", "")).lower() == "true"


def _text(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        logger.warning("payment provider answer lacks a field", extra={"field": name})
        raise ServiceUnavailable(UNAVAILABLE)
    return value


def method_metadata(account: Account) -> dict[str, str]:
    """The method a charge is made with as its metadata (type and what may be shown of it), for
    a webhook to store it when the charge is confirmed after its request (R-PAY-12)."""
    shown = account.payment_method_display or {"type": account.payment_method_type or "card"}
    return {"method_type": account.payment_method_type or "card", "method_shown": json.dumps(shown)}


def method_of_metadata(metadata: dict[str, str]) -> tuple[str | None, dict[str, Any] | None]:
    """``method_metadata`` read back: the type and the display (None where absent or unreadable)."""
    try:
        shown = json.loads(metadata["method_shown"]) if "method_shown" in metadata else None
    except ValueError:
        shown = None
    return metadata.get("method_type"), shown if isinstance(shown, dict) else None


def provider_for(settings: Settings) -> PaymentProvider:
    """R-PAY-12: Stripe at ``payment_api_base`` with ``payment_provider_secret``."""
    key = secrets.payment_provider_secret(settings)
    if not key:
        raise ValueError("the payment provider needs payment_provider_secret")
    return StripeProvider(
        key,
        settings.payment_api_base,
        settings.public_base_url.rstrip("/") + RETURN_PATH,
    )
