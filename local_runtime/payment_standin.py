"""The payment provider's stand-in: the part of Stripe's REST API the service calls, over HTTP.

The service's adapter (``lifecycle.billing.payments``) talks to it with the official SDK as it
talks to Stripe: form-encoded requests under ``/v1``, a secret key (``sk_test_…``; each key
is an account of its own, so tests keep their books apart), ``Idempotency-Key`` honoured (a
repeated key answers the first answer again with ``Idempotent-Replayed: true``; another request
under it is a 400 ``idempotency_error``), JSON answers in Stripe's shapes and errors as
``{"error": {"type", "code", "decline_code", "message", ...}}`` with Stripe's statuses, so the
SDK raises its typed errors.

API.md "Payment tokens": the client's ``tok_…`` token is attached as a payment method (as Stripe
takes its ``pm_card_…`` test methods) and decides its charges: ``tok_chargeDeclined`` declines,
``tok_threeDSecure2Required`` needs the card holder's authentication (on session the payment
intent waits in ``requires_action`` with ``next_action.redirect_to_url.url`` here, under
``/authenticate/<id>``, where a ``POST {"outcome": "succeeded"}`` or ``"failed"`` completes it;
off session the charge fails with ``authentication_required``), any other succeeds. A token
starting ``tok_paypal`` makes a PayPal method, decided the same way.

The webhook events Stripe would send are kept per account, each signed with Stripe's scheme
(``Stripe-Signature: t=<unix time>,v1=<HMAC-SHA256 of "<t>.<payload>">``). State is kept in
memory and, given a path, in a JSON file rewritten after every change. ``Interruption`` makes
the next matching requests fail as a network or the provider would (tests).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger("local_runtime.payments")

# The local runtime's secret key and webhook signing secret: local values, not secrets.
LOCAL_SECRET_KEY = "sk_test_local_runtime"  # noqa: S105
LOCAL_WEBHOOK_SECRET = "whsec_local_stand_in"  # noqa: S105
DECLINED_TOKEN = "tok_chargeDeclined"  # noqa: S105  # API.md's public test tokens
AUTHENTICATION_TOKEN = "tok_threeDSecure2Required"  # noqa: S105
PAYPAL_PREFIX = "tok_paypal"
TOKEN = re.compile(r"tok_[A-Za-z0-9_-]{1,250}")
AUTHENTICATE_PATH = "/authenticate/"
# Stripe's own default page size and largest one.
PAGE_SIZE, PAGE_LIMIT = 10, 100

Object = dict[str, Any]


class _Refusal(Exception):
    """An error answer in Stripe's shape."""

    def __init__(self, status: int, error: Object) -> None:
        super().__init__(error.get("message"))
        self.status, self.error = status, error


def _invalid(message: str, *, param: str | None = None, code: str | None = None, status: int = 400) -> _Refusal:
    error: Object = {"type": "invalid_request_error", "message": message}
    if param is not None:
        error["param"] = param
    if code is not None:
        error["code"] = code
    return _Refusal(status, error)


def _missing(kind: str, object_id: str, param: str) -> _Refusal:
    return _invalid(f"No such {kind}: '{object_id}'", param=param, code="resource_missing", status=404)


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """Stripe's ``Stripe-Signature`` header for ``payload`` sent at ``timestamp``."""
    signed = f"{timestamp}.".encode() + payload
    return f"t={timestamp},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


@dataclass
class SignedEvent:
    """A webhook event as it would be sent: its body and its ``Stripe-Signature`` header."""

    event_id: str
    type: str
    payload: str
    signature: str


@dataclass
class Book:
    """One account's objects (one secret key), in Stripe's shapes, oldest first."""

    customers: dict[str, Object] = field(default_factory=dict)
    payment_methods: dict[str, Object] = field(default_factory=dict)
    payment_intents: dict[str, Object] = field(default_factory=dict)
    charges: dict[str, Object] = field(default_factory=dict)
    refunds: dict[str, Object] = field(default_factory=dict)
    events: dict[str, Object] = field(default_factory=dict)
    webhooks: list[SignedEvent] = field(default_factory=list)
    # Idempotency-Key -> the request it was first used with and the answer given.
    answers: dict[str, Object] = field(default_factory=dict)
    # Payment method id -> the token it was attached from (it decides the charges).
    tokens: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, data: Object) -> Book:
        book = cls(**{name: value for name, value in data.items() if name != "webhooks"})
        book.webhooks = [SignedEvent(**item) for item in data.get("webhooks", [])]
        return book


@dataclass
class Interruption:
    """The next ``times`` requests matching ``method`` and a path starting with ``path`` (of
    ``api_key``'s account, or any) fail: with ``status`` and an ``api_error``, or, without a
    status, the connection closes unanswered (a network failure or timeout), after the request
    was carried out when ``carried_out`` (the provider took it; only its answer was lost)."""

    method: str
    path: str
    times: int = 1
    status: int | None = None
    carried_out: bool = False
    api_key: str | None = None


@dataclass
class _Answer:
    status: int
    body: Object
    replayed: bool = False


class PaymentStandIn:
    """The stand-in's state and its HTTP server (``start``/``stop``); thread-safe."""

    def __init__(
        self,
        state_path: Path | None = None,
        webhook_secret: str = LOCAL_WEBHOOK_SECRET,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.state_path = state_path
        self.webhook_secret = webhook_secret
        self._now = now
        self._lock = threading.Lock()
        self._books: dict[str, Book] = {}
        self._intent_keys: dict[str, str] = {}  # payment intent id -> its account's key
        self._interruptions: list[Interruption] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        if state_path is not None and state_path.is_file():
            self._load(state_path)

    # ------------------------------------------------------------ serving

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on a thread; returns the base address (``http://host:port``)."""
        server = ThreadingHTTPServer((host, port), _Handler)
        server.daemon_threads = True
        server.standin = self  # type: ignore[attr-defined]
        self._server = server
        self.url = f"http://{host}:{server.server_address[1]}"
        self._thread = threading.Thread(target=server.serve_forever, name="payment-standin", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    # ------------------------------------------------------------ for tests and the local runtime

    def book(self, api_key: str) -> Book:
        """A copy of the account's objects."""
        with self._lock:
            return copy.deepcopy(self._books.get(api_key) or Book())

    def restore(self, api_key: str, book: Book) -> None:
        """Put the account back as ``book`` (a copy ``book`` gave)."""
        with self._lock:
            self._books[api_key] = copy.deepcopy(book)
            for intent_id in book.payment_intents:
                self._intent_keys[intent_id] = api_key
            self._save()

    def interrupt(self, interruption: Interruption) -> None:
        with self._lock:
            self._interruptions.append(interruption)

    def clear_interruptions(self) -> None:
        with self._lock:
            self._interruptions.clear()

    # ------------------------------------------------------------ one request

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes] | None:
        """The answer to one request (status, headers, body), or None to close unanswered."""
        path, _, query = target.partition("?")
        request_id = "req_" + secrets.token_hex(7)
        key = headers.get("idempotency-key") if method == "POST" else None
        interruption: Interruption | None = None
        with self._lock:
            try:
                if path.startswith(AUTHENTICATE_PATH):
                    answer = self._authenticate(method, path.removeprefix(AUTHENTICATE_PATH), body)
                else:
                    api_key = _api_key(headers)
                    interruption = self._interruption(method, path, api_key)
                    if interruption is not None and interruption.status is not None:
                        error = {"type": "api_error", "message": "The stand-in was told to fail this request."}
                        return _encoded(_Answer(interruption.status, {"error": error}), request_id, None)
                    if interruption is not None and not interruption.carried_out:
                        return None
                    book = self._books.setdefault(api_key, Book())
                    answer = self._idempotent(book, api_key, method, path, query, body, key)
                    if method != "GET":
                        self._save()
            except _Refusal as refused:
                answer = _Answer(refused.status, {"error": refused.error})
        if interruption is not None:
            return None  # carried out; the answer is lost on the way back
        return _encoded(answer, request_id, key, headers.get("stripe-version"))

    def _interruption(self, method: str, path: str, api_key: str) -> Interruption | None:
        for interruption in self._interruptions:
            if (
                interruption.method == method
                and path.startswith(interruption.path)
                and interruption.api_key in (None, api_key)
            ):
                interruption.times -= 1
                if interruption.times <= 0:
                    self._interruptions.remove(interruption)
                return interruption
        return None

    def _idempotent(
        self, book: Book, api_key: str, method: str, path: str, query: str, body: bytes, key: str | None
    ) -> _Answer:
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        request = {"method": method, "path": path, "form": form}
        if key:
            seen = book.answers.get(key)
            if seen is not None:
                if seen["request"] != request:
                    raise _Refusal(
                        400,
                        {
                            "type": "idempotency_error",
                            "message": "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with.",
                        },
                    )
                return _Answer(seen["status"], seen["body"], replayed=True)
        answer = self._route(book, api_key, method, path, dict(parse_qsl(query)), form, key)
        if key and answer.status in (200, 402):
            # Stripe keeps the answer of a request its endpoint carried out, declines included;
            # a request refused by validation is not kept and may be sent again.
            book.answers[key] = {"request": request, "status": answer.status, "body": answer.body}
        return answer

    def _route(
        self,
        book: Book,
        api_key: str,
        method: str,
        path: str,
        query: dict[str, str],
        form: dict[str, str],
        key: str | None,
    ) -> _Answer:
        parts = path.strip("/").split("/")
        if parts[:1] != ["v1"]:
            raise _invalid(f"Unrecognized request URL ({method}: {path}).", status=404)
        route = (method, *parts[1:])
        match route:
            case ("POST", "customers"):
                return _Answer(200, self._create_customer(book, form, key))
            case ("GET", "customers", customer_id):
                return _Answer(200, self._customer(book, customer_id, deleted_too=True))
            case ("DELETE", "customers", customer_id):
                return _Answer(200, self._delete_customer(book, customer_id))
            case ("GET", "customers"):
                return _Answer(200, _page(path, list(book.customers.values()), query))
            case ("POST", "payment_methods", method_id, "attach"):
                return _Answer(200, self._attach(book, method_id, form, key))
            case ("POST", "payment_intents"):
                return self._create_intent(book, api_key, form, key)
            case ("GET", "payment_intents", intent_id):
                return _Answer(200, self._intent(book, intent_id))
            case ("GET", "payment_intents"):
                intents = [i for i in book.payment_intents.values() if query.get("customer") in (None, i["customer"])]
                return _Answer(200, _page(path, intents, query))
            case ("POST", "refunds"):
                return _Answer(200, self._create_refund(book, form, key))
            case ("GET", "refunds"):
                wanted = query.get("payment_intent")
                refunds = [r for r in book.refunds.values() if wanted in (None, r["payment_intent"])]
                return _Answer(200, _page(path, refunds, query))
            case ("GET", "events"):
                return _Answer(200, _page(path, list(book.events.values()), query))
        raise _invalid(f"Unrecognized request URL ({method}: {path}).", status=404)

    # ------------------------------------------------------------ customers and payment methods

    def _created(self) -> int:
        return int(self._now())

    def _create_customer(self, book: Book, form: dict[str, str], key: str | None) -> Object:
        _known(form, {"email", "name", "description"}, prefixes=("metadata[",))
        customer: Object = {
            "id": _new_id("cus"),
            "object": "customer",
            "created": self._created(),
            "email": form.get("email") or None,
            "name": form.get("name") or None,
            "description": form.get("description") or None,
            "metadata": _metadata(form),
            "livemode": False,
        }
        book.customers[customer["id"]] = customer
        self._event(book, "customer.created", customer, key)
        return customer

    def _customer(self, book: Book, customer_id: str, deleted_too: bool = False) -> Object:
        customer = book.customers.get(customer_id)
        if customer is None or (customer.get("deleted") and not deleted_too):
            raise _missing("customer", customer_id, "customer")
        return customer

    def _delete_customer(self, book: Book, customer_id: str) -> Object:
        customer = self._customer(book, customer_id)
        deleted = {"id": customer_id, "object": "customer", "deleted": True}
        book.customers[customer_id] = deleted
        for method in book.payment_methods.values():
            if method["customer"] == customer_id:
                method["customer"] = None  # Stripe detaches a deleted customer's payment methods
        self._event(book, "customer.deleted", {**customer, "deleted": True}, None)
        return deleted

    def _attach(self, book: Book, method_id: str, form: dict[str, str], key: str | None) -> Object:
        _known(form, {"customer"})
        customer = self._customer(book, _required(form, "customer"))
        method = book.payment_methods.get(method_id)
        if method is None:
            if not TOKEN.fullmatch(method_id):
                raise _missing("PaymentMethod", method_id, "payment_method")
            # A test token becomes a payment method of its own, as Stripe's pm_card_… test methods do.
            paypal = method_id.startswith(PAYPAL_PREFIX)
            method = {
                "id": _new_id("pm"),
                "object": "payment_method",
                "type": "paypal" if paypal else "card",
                "created": self._created(),
                "customer": None,
                "livemode": False,
                "metadata": {},
                **({"paypal": {"payer_email": None}} if paypal else {"card": _card(method_id)}),
            }
            book.payment_methods[method["id"]] = method
            book.tokens[method["id"]] = method_id
        elif method["customer"] not in (None, customer["id"]):
            raise _invalid(
                "The payment method you provided has already been attached to a customer.",
                param="payment_method",
                code="payment_method_unexpected_state",
            )
        method["customer"] = customer["id"]
        self._event(book, "payment_method.attached", method, key)
        return method

    # ------------------------------------------------------------ charges

    def _create_intent(self, book: Book, api_key: str, form: dict[str, str], key: str | None) -> _Answer:
        _known(
            form,
            {"amount", "currency", "customer", "payment_method", "confirm", "off_session", "description", "return_url"},
            prefixes=("metadata[",),
        )
        amount = _positive(form, "amount")
        currency = _required(form, "currency")
        if not re.fullmatch(r"[a-z]{3}", currency):
            raise _invalid(f"Invalid currency: {currency}.", param="currency")
        customer_id = form.get("customer")
        if customer_id:
            self._customer(book, customer_id)
        method_id = form.get("payment_method")
        method = book.payment_methods.get(method_id or "")
        if method_id and method is None:
            raise _missing("PaymentMethod", method_id, "payment_method")
        if method is not None and method["customer"] != customer_id:
            raise _invalid(
                "The provided PaymentMethod belongs to another Customer or to none; attach it first.",
                param="payment_method",
            )
        off_session = form.get("off_session") == "true"
        intent: Object = {
            "id": _new_id("pi"),
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "currency": currency,
            "customer": customer_id,
            "payment_method": method_id,
            "description": form.get("description") or None,
            "metadata": _metadata(form),
            "created": self._created(),
            "capture_method": "automatic",
            "confirmation_method": "automatic",
            "livemode": False,
            "status": "requires_payment_method" if method is None else "requires_confirmation",
            "next_action": None,
            "last_payment_error": None,
            "latest_charge": None,
        }
        intent["client_secret"] = f"{intent['id']}_secret_{secrets.token_hex(12)}"
        book.payment_intents[intent["id"]] = intent
        self._intent_keys[intent["id"]] = api_key
        self._event(book, "payment_intent.created", intent, key)
        if form.get("confirm") != "true" or method is None:
            return _Answer(200, copy.deepcopy(intent))
        token = book.tokens.get(method["id"], "")
        if token == DECLINED_TOKEN:
            return self._declined(book, intent, method, "card_declined", "generic_decline", key)
        if token == AUTHENTICATION_TOKEN and off_session:
            # Off session nobody can authenticate: Stripe fails the charge and tells why.
            return self._declined(book, intent, method, "authentication_required", "authentication_required", key)
        if token == AUTHENTICATION_TOKEN:
            intent["status"] = "requires_action"
            intent["next_action"] = {
                "type": "redirect_to_url",
                "redirect_to_url": {
                    "url": f"{self.url}{AUTHENTICATE_PATH}{intent['id']}",
                    "return_url": form.get("return_url") or None,
                },
            }
            self._event(book, "payment_intent.requires_action", intent, key)
            return _Answer(200, copy.deepcopy(intent))
        self._succeed(book, intent, key)
        return _Answer(200, copy.deepcopy(intent))

    def _declined(
        self, book: Book, intent: Object, method: Object, code: str, decline_code: str, key: str | None
    ) -> _Answer:
        message = {
            "card_declined": "Your card was declined.",
            "authentication_required": "Your card was declined. This transaction requires authentication.",
            "payment_intent_authentication_failure": "The provided PaymentMethod has failed authentication.",
        }[code]
        error = {"type": "card_error", "code": code, "decline_code": decline_code, "message": message}
        intent.update(
            status="requires_payment_method",
            next_action=None,
            last_payment_error={**error, "payment_method": copy.deepcopy(method)},
        )
        self._event(book, "payment_intent.payment_failed", intent, key)
        return _Answer(402, {"error": {**error, "payment_intent": copy.deepcopy(intent)}})

    def _succeed(self, book: Book, intent: Object, key: str | None) -> None:
        charge = {
            "id": _new_id("ch"),
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": intent["amount"],
            "amount_refunded": 0,
            "currency": intent["currency"],
            "customer": intent["customer"],
            "payment_intent": intent["id"],
            "payment_method": intent["payment_method"],
            "paid": True,
            "refunded": False,
            "status": "succeeded",
            "created": self._created(),
            "livemode": False,
        }
        book.charges[charge["id"]] = charge
        intent.update(
            status="succeeded",
            amount_received=intent["amount"],
            latest_charge=charge["id"],
            next_action=None,
            last_payment_error=None,
        )
        self._event(book, "charge.succeeded", charge, key)
        self._event(book, "payment_intent.succeeded", intent, key)

    def _intent(self, book: Book, intent_id: str) -> Object:
        intent = book.payment_intents.get(intent_id)
        if intent is None:
            raise _missing("payment_intent", intent_id, "intent")
        return copy.deepcopy(intent)

    def _authenticate(self, method: str, intent_id: str, body: bytes) -> _Answer:
        """The card holder's authentication page: GET shows the payment, POST completes it."""
        api_key = self._intent_keys.get(intent_id)
        book = self._books.get(api_key) if api_key is not None else None
        intent = book.payment_intents.get(intent_id) if book is not None else None
        if book is None or intent is None:
            raise _missing("payment_intent", intent_id, "intent")
        if method == "GET":
            return _Answer(
                200,
                {
                    "payment_intent": intent_id,
                    "status": intent["status"],
                    "amount": intent["amount"],
                    "currency": intent["currency"],
                    "complete_with": {"outcome": ["succeeded", "failed"]},
                },
            )
        if method != "POST":
            raise _invalid(f"Unrecognized request URL ({method}: {AUTHENTICATE_PATH}{intent_id}).", status=404)
        try:
            outcome = json.loads(body or b"{}").get("outcome")
        except (ValueError, AttributeError):
            outcome = None
        if outcome not in ("succeeded", "failed"):
            raise _invalid('Send {"outcome": "succeeded"} or {"outcome": "failed"}.', param="outcome")
        if intent["status"] != "requires_action":
            raise _invalid(
                f"This PaymentIntent's status is {intent['status']}; it needs no authentication.",
                code="payment_intent_unexpected_state",
            )
        if outcome == "succeeded":
            self._succeed(book, intent, None)
        else:
            method_object = book.payment_methods.get(intent["payment_method"] or "") or {}
            self._declined(book, intent, method_object, "payment_intent_authentication_failure", "", None)
            intent["last_payment_error"].pop("decline_code", None)
        self._save()
        return _Answer(200, copy.deepcopy(intent))

    def _create_refund(self, book: Book, form: dict[str, str], key: str | None) -> Object:
        _known(form, {"payment_intent", "amount", "reason"}, prefixes=("metadata[",))
        intent = book.payment_intents.get(_required(form, "payment_intent"))
        if intent is None:
            raise _missing("payment_intent", form["payment_intent"], "payment_intent")
        charge = book.charges.get(intent["latest_charge"] or "")
        if intent["status"] != "succeeded" or charge is None:
            raise _invalid(
                "This PaymentIntent does not have a successful charge to refund.",
                param="payment_intent",
                code="charge_not_refundable",
            )
        left = charge["amount"] - charge["amount_refunded"]
        amount = _positive(form, "amount") if "amount" in form else left
        if left == 0:
            raise _invalid(f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded")
        if amount > left:
            raise _invalid(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})", param="amount"
            )
        refund = {
            "id": _new_id("re"),
            "object": "refund",
            "amount": amount,
            "currency": charge["currency"],
            "charge": charge["id"],
            "payment_intent": intent["id"],
            "reason": form.get("reason") or None,
            "status": "succeeded",
            "metadata": _metadata(form),
            "created": self._created(),
        }
        book.refunds[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        self._event(book, "refund.created", refund, key)
        self._event(book, "charge.refunded", charge, key)
        return refund

    # ------------------------------------------------------------ webhooks and state

    def _event(self, book: Book, kind: str, obj: Object, key: str | None) -> None:
        event: Object = {
            "id": _new_id("evt"),
            "object": "event",
            "type": kind,
            "created": self._created(),
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": key},
            "data": {"object": copy.deepcopy(obj)},
        }
        book.events[event["id"]] = event
        payload = json.dumps(event, separators=(",", ":"))
        signature = sign(payload.encode(), self.webhook_secret, int(time.time()))
        book.webhooks.append(SignedEvent(event["id"], kind, payload, signature))

    def _save(self) -> None:
        if self.state_path is None:
            return
        data = {
            "books": {key: asdict(book) for key, book in self._books.items()},
        }
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data), encoding="utf-8")
        os.replace(temporary, self.state_path)

    def _load(self, path: Path) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        self._books = {key: Book.of(book) for key, book in data.get("books", {}).items()}
        for api_key, book in self._books.items():
            for intent_id in book.payment_intents:
                self._intent_keys[intent_id] = api_key


# ---------------------------------------------------------------- helpers


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _api_key(headers: dict[str, str]) -> str:
    scheme, _, key = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise _Refusal(401, {"type": "invalid_request_error", "message": "You did not provide an API key."})
    if not key.startswith("sk_test_"):
        # Only test keys: a live key must never reach a stand-in. Its value is not echoed.
        raise _Refusal(401, {"type": "invalid_request_error", "message": "Invalid API Key provided."})
    return key


def _known(form: dict[str, str], names: set[str], prefixes: tuple[str, ...] = ()) -> None:
    for name in form:
        if name not in names and not name.startswith(prefixes):
            raise _invalid(f"Received unknown parameter: {name}", param=name, code="parameter_unknown")


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise _invalid(f"Missing required param: {name}.", param=name, code="parameter_missing")
    return value


def _positive(form: dict[str, str], name: str) -> int:
    value = _required(form, name)
    if not value.isdigit() or int(value) < 1:
        raise _invalid(f"Invalid positive integer: {name}", param=name, code="parameter_invalid_integer")
    return int(value)


def _metadata(form: dict[str, str]) -> dict[str, str]:
    return {name[len("metadata[") : -1]: value for name, value in form.items() if name.startswith("metadata[")}


def _card(token: str) -> Object:
    """The card a test token stands for (Stripe's test cards of the same names)."""
    last4 = {DECLINED_TOKEN: "0002", AUTHENTICATION_TOKEN: "3220"}.get(token, "4242")
    return {"brand": "visa", "last4": last4, "exp_month": 12, "exp_year": 2034, "country": "US", "funding": "credit"}


def _page(path: str, objects: list[Object], query: dict[str, str]) -> Object:
    """A Stripe list: newest first, ``limit`` (1..100) items after ``starting_after``."""
    newest_first = list(reversed(objects))
    after = query.get("starting_after")
    if after:
        ids = [item["id"] for item in newest_first]
        if after not in ids:
            raise _missing("object", after, "starting_after")
        newest_first = newest_first[ids.index(after) + 1 :]
    limit_text = query.get("limit", str(PAGE_SIZE))
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= PAGE_LIMIT:
        raise _invalid("Invalid limit: must be between 1 and 100.", param="limit")
    limit = int(limit_text)
    return {
        "object": "list",
        "url": path,
        "has_more": len(newest_first) > limit,
        "data": copy.deepcopy(newest_first[:limit]),
    }


def _encoded(
    answer: _Answer, request_id: str, key: str | None, version: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json", "Request-Id": request_id}
    if version:
        headers["Stripe-Version"] = version  # the API version the answer is shaped by, as Stripe says it
    if key:
        headers["Idempotency-Key"] = key
    if answer.replayed:
        headers["Idempotent-Replayed"] = "true"
    return answer.status, headers, json.dumps(answer.body).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's session expects
    # Headers and body go out in two writes: without this, Nagle's algorithm holds the body
    # until the client's delayed ACK of the headers, ~40 ms on every keep-alive request.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        standin: PaymentStandIn = self.server.standin  # type: ignore[attr-defined]
        answer = standin.handle(
            self.command, urlsplit(self.path)._replace(scheme="", netloc="").geturl(), headers, body
        )
        if answer is None:
            self.close_connection = True
            return
        status, answer_headers, payload = answer
        self.send_response(status)
        for name, value in answer_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        # Paths may carry a payment token (``/v1/payment_methods/tok_…/attach``): never logged.
        pass


def iter_pages(fetch: Callable[[str | None], Object]) -> Iterator[Object]:
    """Every object of a Stripe list, following ``starting_after`` (for HTTP clients of the stand-in)."""
    after: str | None = None
    while True:
        page = fetch(after)
        yield from page["data"]
        if not page["has_more"] or not page["data"]:
            return
        after = page["data"][-1]["id"]
