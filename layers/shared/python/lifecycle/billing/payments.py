"""The payment provider port (R-PAY-12): customers, payment methods, charges and refunds, each under an
idempotency key; only the provider's tokens and references are stored, never a card number. Adapters:
``LocalProvider`` (a JSON-lines journal, API.md "Payment tokens") and ``StripeProvider`` (Stripe's REST
API). docs/ARCHITECTURE.md "Billing".
"""

from __future__ import annotations

import fcntl
import json
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, NoReturn, Protocol, get_args

from lifecycle.core import secrets
from lifecycle.core.errors import InvalidField, PaymentDeclined, ServiceUnavailable
from lifecycle.core.money import Money
from lifecycle.core.observability import logger
from lifecycle.core.settings import Settings

MethodType = Literal["card", "paypal"]
METHOD_TYPES: tuple[str, ...] = get_args(MethodType)

# API.md "Payment tokens": the local provider's tokens.
LOCAL_DECLINED_TOKEN = "tok_chargeDeclined"  # noqa: S105  # a public test token of API.md, not a secret
# A local token is "tok_" and up to 250 letters, digits, "_" or "-" (it is kept in the journal).
_LOCAL_TOKEN = re.compile(r"tok_[A-Za-z0-9_-]{1,250}")

STRIPE_API_BASE = "https://api.stripe.com/v1"


@dataclass(frozen=True)
class Charge:
    """A successful charge: the provider's id and the amount taken."""

    id: str
    amount: Money


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

    def attach(self, customer_id: str, method_type: MethodType, token: str, idempotency_key: str) -> str:
        """Attach a provider token to the customer; returns the payment-method reference to store."""
        ...

    def charge(
        self, customer_id: str, method_ref: str, amount: Money, idempotency_key: str, description: str
    ) -> Charge:
        """Charge ``amount``; raises ``PaymentDeclined`` when the provider declines."""
        ...

    def refund(self, charge_id: str, amount: Money, idempotency_key: str) -> Refund:
        """Refund part or all of a charge; more than its unrefunded amount raises ``ValueError``."""
        ...


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def _check_amount(amount: Money) -> None:
    if amount.amount <= 0:
        raise ValueError("a charge or refund is of a positive amount")


# ---------------------------------------------------------------- local provider


Event = dict[str, Any]


@dataclass
class _State:
    """The provider's state, replayed from the journal's events."""

    keys: dict[str, Event] = field(default_factory=dict)
    customers: dict[str, Event] = field(default_factory=dict)
    methods: dict[str, Event] = field(default_factory=dict)
    charges: dict[str, Charge] = field(default_factory=dict)
    refunds: list[Refund] = field(default_factory=list)
    refunded: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, events: list[Event]) -> _State:
        state = cls()
        for event in events:
            state.keys[event["key"]] = event
            kind = event["event"]
            if kind == "customer":
                state.customers[event["id"]] = event
            elif kind == "method":
                state.methods[event["id"]] = event
            elif kind == "charge" and event["outcome"] == "succeeded":
                state.charges[event["id"]] = Charge(event["id"], Money.model_validate(event["request"]["amount"]))
            elif kind == "refund":
                refund = Refund(
                    event["id"], event["request"]["charge_id"], Money.model_validate(event["request"]["amount"])
                )
                state.refunds.append(refund)
                state.refunded[refund.charge_id] = state.refunded.get(refund.charge_id, 0) + refund.amount.amount
        return state

    def replay(self, kind: str, key: str, request: dict[str, Any]) -> Event | None:
        """The event an idempotency key already made, if any; a different request is a bug."""
        if not key:
            raise ValueError("an idempotency key is required")
        seen = self.keys.get(key)
        if seen is None:
            return None
        if seen["event"] != kind or seen["request"] != request:
            raise ValueError(f"idempotency key reused with a different request ({kind})")
        return seen


@dataclass
class _Session:
    state: _State
    append: Callable[[Event], None]


class _Journal:
    """Append-only events: a JSON-lines file under ``flock``, or a list under a lock.

    The file is opened, locked and re-read on every call, so each process and thread
    sees the others' events; a call's read and its append happen under one lock.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._events: list[Event] = []
        self._lock = threading.Lock()

    @contextmanager
    def session(self, exclusive: bool) -> Iterator[_Session]:
        if self.path is None:
            with self._lock:
                yield _Session(_State.of(self._events), self._events.append)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+b") as journal:
            fcntl.flock(journal, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                journal.seek(0)
                data = journal.read()
                whole = data.rfind(b"\n") + 1
                if whole < len(data) and exclusive:
                    # A last line without its newline was cut short by a crash: that event never
                    # happened (its caller saw no answer). Only a writer holds the lock, so cut it.
                    journal.truncate(whole)
                lines = data[:whole].decode("utf-8").split("\n")
                events = [self._parse(number, line) for number, line in enumerate(lines, 1) if line]

                def append(event: Event) -> None:
                    # "a+" writes at the end whatever the read position; one whole line per write.
                    journal.write(json.dumps(event, separators=(",", ":")).encode("utf-8") + b"\n")
                    journal.flush()

                yield _Session(_State.of(events), append)
            finally:
                fcntl.flock(journal, fcntl.LOCK_UN)

    def _parse(self, number: int, line: str) -> Event:
        try:
            event = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"payments journal {self.path}: line {number} is not JSON") from exc
        if not isinstance(event, dict):
            raise ValueError(f"payments journal {self.path}: line {number} is not an event")
        return event


class LocalProvider:
    """The local runtime's and tests' provider (API.md "Payment tokens").

    ``path`` is the JSON-lines journal shared by every instance on that file (and every
    process); ``None`` keeps the state in this instance's memory.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._journal = _Journal(self.path)

    def create_customer(self, account_id: str, email: str, idempotency_key: str) -> str:
        request = {"account_id": account_id, "email": email}
        with self._journal.session(exclusive=True) as session:
            seen = session.state.replay("customer", idempotency_key, request)
            if seen is not None:
                return str(seen["id"])
            customer_id = _new_id("cus")
            session.append({"event": "customer", "key": idempotency_key, "request": request, "id": customer_id})
            return customer_id

    def attach(self, customer_id: str, method_type: MethodType, token: str, idempotency_key: str) -> str:
        if method_type not in METHOD_TYPES:
            raise ValueError(f"method_type is one of {METHOD_TYPES}")
        if not _LOCAL_TOKEN.fullmatch(token):
            # R-PAY-12: only a provider token is taken, never a card number or anything else.
            raise InvalidField("token", "must be a payment provider token (tok_…)")
        request = {"customer_id": customer_id, "method_type": method_type, "token": token}
        with self._journal.session(exclusive=True) as session:
            seen = session.state.replay("method", idempotency_key, request)
            if seen is not None:
                return str(seen["id"])
            if customer_id not in session.state.customers:
                raise ValueError("no such customer")
            method_ref = _new_id("pm")
            session.append({"event": "method", "key": idempotency_key, "request": request, "id": method_ref})
            return method_ref

    def charge(
        self, customer_id: str, method_ref: str, amount: Money, idempotency_key: str, description: str
    ) -> Charge:
        _check_amount(amount)
        request = {
            "customer_id": customer_id,
            "method_ref": method_ref,
            "amount": amount.model_dump(),
            "description": description,
        }
        with self._journal.session(exclusive=True) as session:
            seen = session.state.replay("charge", idempotency_key, request)
            if seen is None:
                method = session.state.methods.get(method_ref)
                if method is None or method["request"]["customer_id"] != customer_id:
                    raise ValueError("no such payment method for this customer")
                declined = method["request"]["token"] == LOCAL_DECLINED_TOKEN
                seen = {
                    "event": "charge",
                    "key": idempotency_key,
                    "request": request,
                    "id": _new_id("ch"),
                    "outcome": "declined" if declined else "succeeded",
                }
                session.append(seen)
        if seen["outcome"] == "declined":
            logger.info("payment declined", extra={"customer_id": customer_id, "provider": "local"})
            raise PaymentDeclined("The payment method was declined")
        return Charge(str(seen["id"]), amount)

    def refund(self, charge_id: str, amount: Money, idempotency_key: str) -> Refund:
        _check_amount(amount)
        request = {"charge_id": charge_id, "amount": amount.model_dump()}
        with self._journal.session(exclusive=True) as session:
            seen = session.state.replay("refund", idempotency_key, request)
            if seen is not None:
                return Refund(str(seen["id"]), charge_id, amount)
            charge = session.state.charges.get(charge_id)
            if charge is None:
                raise ValueError("no such (successful) charge")
            unrefunded = charge.amount - Money(
                amount=session.state.refunded.get(charge_id, 0), currency=charge.amount.currency
            )
            if amount.currency != unrefunded.currency or amount.amount > unrefunded.amount:
                raise ValueError(f"refund exceeds the charge's unrefunded {unrefunded.amount} {unrefunded.currency}")
            refund_id = _new_id("re")
            session.append({"event": "refund", "key": idempotency_key, "request": request, "id": refund_id})
            return Refund(refund_id, charge_id, amount)

    # ---- for tests and the local runtime

    def charges(self) -> list[Charge]:
        """Every successful charge, oldest first (declined attempts are not charges)."""
        with self._journal.session(exclusive=False) as session:
            return list(session.state.charges.values())

    def refunds(self) -> list[Refund]:
        """Every refund, oldest first."""
        with self._journal.session(exclusive=False) as session:
            return list(session.state.refunds)


# ---------------------------------------------------------------- Stripe


class _StripeDeclined(Exception):
    """A ``card_error`` (402) from Stripe; becomes ``PaymentDeclined``."""

    def __init__(self, code: str | None, decline_code: str | None) -> None:
        super().__init__(code)
        self.code = code
        self.decline_code = decline_code


@dataclass(frozen=True)
class StripeProvider:
    """R-PAY-12 in AWS: Stripe's API, form-encoded, with an ``Idempotency-Key`` on every POST.

    A ``card_error`` (402) or a payment intent left ``requires_payment_method`` raises
    ``PaymentDeclined``; a network failure, a 5xx, 429, 409 or refused credentials
    raise ``ServiceUnavailable`` (retry with the same key: Stripe answers a repeated key
    with the first outcome); any other refusal is a bug in the request (``ValueError``).
    A charge is taken when its payment intent is ``succeeded`` or ``processing``.
    """

    # repr=False: the secret must never reach a log line through a repr.
    secret_key: str = field(repr=False)
    api_base: str = STRIPE_API_BASE
    timeout: float = 10

    def create_customer(self, account_id: str, email: str, idempotency_key: str) -> str:
        answer = self._post("/customers", {"email": email, "metadata[account_id]": account_id}, idempotency_key)
        return _text(answer, "id")

    def attach(self, customer_id: str, method_type: MethodType, token: str, idempotency_key: str) -> str:
        # Cards and PayPal alike: the client's provider token is a payment method to attach.
        if method_type not in METHOD_TYPES:
            raise ValueError(f"method_type is one of {METHOD_TYPES}")
        if not token:
            raise InvalidField("token", "must be a payment provider token")
        path = f"/payment_methods/{urllib.parse.quote(token, safe='')}/attach"
        try:
            answer = self._post(path, {"customer": customer_id}, idempotency_key)
        except _StripeDeclined as exc:
            logger.info("payment method declined", extra={"customer_id": customer_id, "code": exc.code})
            raise PaymentDeclined("The payment method was declined") from None
        return _text(answer, "id")

    def charge(
        self, customer_id: str, method_ref: str, amount: Money, idempotency_key: str, description: str
    ) -> Charge:
        _check_amount(amount)
        form = {
            "amount": str(amount.amount),
            "currency": amount.currency.lower(),
            "customer": customer_id,
            "payment_method": method_ref,
            "confirm": "true",
            "off_session": "true",
            "description": description,
        }
        try:
            answer = self._post("/payment_intents", form, idempotency_key)
        except _StripeDeclined as exc:
            logger.info(
                "payment declined",
                extra={"customer_id": customer_id, "code": exc.code, "decline_code": exc.decline_code},
            )
            raise PaymentDeclined("The payment method was declined") from None
        status = answer.get("status")
        if status not in ("succeeded", "processing"):
            # requires_payment_method: declined; requires_action: the customer must act, off session.
            logger.info("payment declined", extra={"customer_id": customer_id, "intent_status": status})
            raise PaymentDeclined("The payment method was declined")
        return Charge(_text(answer, "id"), amount)

    def refund(self, charge_id: str, amount: Money, idempotency_key: str) -> Refund:
        _check_amount(amount)
        answer = self._post("/refunds", {"payment_intent": charge_id, "amount": str(amount.amount)}, idempotency_key)
        return Refund(_text(answer, "id"), charge_id, amount)

    def _post(self, path: str, form: dict[str, str], idempotency_key: str) -> dict[str, Any]:
        if not idempotency_key:
            raise ValueError("an idempotency key is required")
        # The operation, for logs: the path without a token (attach puts one in the path).
        operation = path.rsplit("/", 1)[-1] if path.endswith("/attach") else path.strip("/")
        request = urllib.request.Request(  # noqa: S310  # the base URL is configuration, https, never user input
            self.api_base.rstrip("/") + path,
            data=urllib.parse.urlencode(form).encode("ascii"),
            headers={
                "Authorization": f"Bearer {self.secret_key}",
                "Idempotency-Key": idempotency_key,
                "Content-Type": "application/x-www-form-urlencoded",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310  # as above
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            status, body = exc.code, _error_body(exc)
            exc.close()
            self._refused(operation, status, body)
        except (OSError, ValueError) as exc:
            # OSError covers URLError and timeouts; ValueError bad JSON. Only the type is logged.
            logger.warning("payment provider unavailable", extra={"operation": operation, "error": type(exc).__name__})
            raise ServiceUnavailable("The payment provider could not be reached; retry shortly") from exc
        if not isinstance(answer, dict):
            logger.warning("payment provider answered something else than an object", extra={"operation": operation})
            raise ServiceUnavailable("The payment provider could not be reached; retry shortly")
        return answer

    def _refused(self, operation: str, status: int, error: dict[str, Any]) -> NoReturn:
        """Map a Stripe error answer: decline, unavailable, bad token, or a bug (always raises)."""
        kind, code, param = error.get("type"), error.get("code"), error.get("param")
        extra = {"operation": operation, "status": status, "type": kind, "code": code}
        if kind == "card_error" or status == 402:
            raise _StripeDeclined(code if isinstance(code, str) else None, error.get("decline_code"))
        if status >= 500 or status in (401, 403, 409, 429) or kind == "api_error":
            # 401/403: our key is wrong or lacks a permission; nothing a client can fix, ops must.
            log = logger.error if status in (401, 403) else logger.warning
            log("payment provider refused or failed", extra=extra)
            raise ServiceUnavailable("The payment provider could not be reached; retry shortly")
        if operation == "attach" and code == "resource_missing" and param != "customer":
            logger.info("payment token not known to the provider", extra=extra)
            raise InvalidField("token", "not a payment method token of the provider")
        logger.error("payment provider refused the request", extra=extra)
        # Stripe's own message may quote the request (a token): only its type and code are kept.
        raise ValueError(f"payment provider refused {operation}: {status} {kind}/{code}")


def _error_body(exc: urllib.error.HTTPError) -> dict[str, Any]:
    """Stripe's ``{"error": {...}}``, or empty when the body is not that."""
    try:
        body = json.loads(exc.read())
    except (OSError, ValueError):
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _text(answer: dict[str, Any], name: str) -> str:
    value = answer.get(name)
    if not isinstance(value, str) or not value:
        logger.warning("payment provider answer lacks a field", extra={"field": name})
        raise ServiceUnavailable("The payment provider could not be reached; retry shortly")
    return value


# ---------------------------------------------------------------- choosing


_local_lock = threading.Lock()


@lru_cache(maxsize=8)
def _local_provider(path: str | None) -> LocalProvider:
    # One per journal path, so every handler in a process shares one (and, for None, one memory).
    return LocalProvider(path)


def provider_for(settings: Settings) -> PaymentProvider:
    """R-PAY-12: the provider ``payment_provider`` names; "stripe" needs ``payment_provider_secret``."""
    if settings.payment_provider == "stripe":
        key = secrets.payment_provider_secret(settings)
        if not key:
            raise ValueError("payment_provider 'stripe' needs payment_provider_secret")
        return StripeProvider(key)
    with _local_lock:  # lru_cache may call twice on a race; the in-memory state must be one
        return _local_provider(settings.local_payments_path)
