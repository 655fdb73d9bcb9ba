"""The payment provider's stand-in: the part of Stripe's REST API the service calls, over HTTP,
what staff do in Stripe's dashboard, and Stripe's signed webhooks.

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
off session the charge fails with ``authentication_required``), ``tok_processing`` leaves the
intent ``processing`` (on and off session) until the dashboard settles it, any other succeeds.
A token starting ``tok_paypal`` makes a PayPal method, decided the same way
(``tok_paypalDeclined`` declines).

The dashboard, as methods (``dashboard_refund``, ``dashboard_dispute``, ``dashboard_settle``,
``dashboard_card_expiring``, ``dashboard_card_updated``, ``resend``) and as ``POST /_dashboard/…``
under the account's key (JSON or form bodies): a refund or a dispute made at the provider, a
processing payment settled, a card about to expire or updated by its network, an event resent.

Every event Stripe would send is kept per account, signed with Stripe's scheme
(``Stripe-Signature: t=<unix time>,v1=<HMAC-SHA256 of "<t>.<payload>">``). Given an endpoint
(``webhook_url`` or ``deliver_to``), each new event is POSTed to it by one delivery thread, first
attempts in creation order, re-signed with the wall-clock time at each attempt; an answer other
than 2xx, or none within 5 s, is retried with backoff (0.25 s doubling, 8 attempts: Stripe's
three days of retries, compressed; a retry does not hold back later events, Stripe promises no
order). Each event keeps its attempts' statuses. State is kept in memory and, given a path, in a
JSON file rewritten after every change. ``Interruption`` makes the next matching API requests
fail as a network or the provider would (tests).
"""

from __future__ import annotations

import copy
import hashlib
import heapq
import hmac
import html
import http.client
import itertools
import json
import logging
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
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
PROCESSING_TOKEN = "tok_processing"  # noqa: S105
PAYPAL_PREFIX = "tok_paypal"
PAYPAL_DECLINED_TOKEN = "tok_paypalDeclined"  # noqa: S105
DECLINING_TOKENS = frozenset({DECLINED_TOKEN, PAYPAL_DECLINED_TOKEN})
TOKEN = re.compile(r"tok_[A-Za-z0-9_-]{1,250}")
AUTHENTICATE_PATH = "/authenticate/"
DASHBOARD_PATH = "/_dashboard/"
# Stripe's dispute reasons (API reference, "The Dispute object", reason).
DISPUTE_REASONS = frozenset(
    {
        "bank_cannot_process",
        "check_returned",
        "credit_not_processed",
        "customer_initiated",
        "debit_not_authorized",
        "duplicate",
        "fraudulent",
        "general",
        "incorrect_account_details",
        "insufficient_funds",
        "noncompliant",
        "product_not_received",
        "product_unacceptable",
        "subscription_canceled",
        "unrecognized",
    }
)
# The card network's deadline for evidence varies; a week is within every network's.
EVIDENCE_SECONDS = 7 * 86_400
# Webhook delivery as Stripe does it (its three days of retries compressed into ~32 s).
WEBHOOK_USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
DELIVERY_TIMEOUT = 5.0
# Stripe's own default page size and largest one.
PAGE_SIZE, PAGE_LIMIT = 10, 100
_GENERIC_DECLINE = ("card_declined", "generic_decline")

Object = dict[str, Any]


class Refusal(Exception):
    """An error answer in Stripe's shape (``status``, ``error``); dashboard methods raise it."""

    def __init__(self, status: int, error: Object) -> None:
        super().__init__(error.get("message"))
        self.status, self.error = status, error


def _invalid(message: str, *, param: str | None = None, code: str | None = None, status: int = 400) -> Refusal:
    error: Object = {"type": "invalid_request_error", "message": message}
    if param is not None:
        error["param"] = param
    if code is not None:
        error["code"] = code
    return Refusal(status, error)


def _missing(kind: str, object_id: str, param: str) -> Refusal:
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
    # The status of each delivery attempt, 0 where none came back.
    deliveries: list[int] = field(default_factory=list)


@dataclass
class Book:
    """One account's objects (one secret key), in Stripe's shapes, oldest first."""

    customers: dict[str, Object] = field(default_factory=dict)
    payment_methods: dict[str, Object] = field(default_factory=dict)
    payment_intents: dict[str, Object] = field(default_factory=dict)
    charges: dict[str, Object] = field(default_factory=dict)
    refunds: dict[str, Object] = field(default_factory=dict)
    disputes: dict[str, Object] = field(default_factory=dict)
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
        webhook_url: str | None = None,
    ) -> None:
        self.state_path = state_path
        self.webhook_secret = webhook_secret
        self.webhook_url = webhook_url
        self._now = now
        self._deliveries = _Deliveries(self)
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
        """Serve on a thread (and deliver webhooks again after a ``stop``); returns the base
        address (``http://host:port``)."""
        server = ThreadingHTTPServer((host, port), _Handler)
        server.daemon_threads = True
        server.standin = self  # type: ignore[attr-defined]
        self._server = server
        self.url = f"http://{host}:{server.server_address[1]}"
        self._thread = threading.Thread(target=server.serve_forever, name="payment-standin", daemon=True)
        self._thread.start()
        self._deliveries.resume()
        return self.url

    def stop(self) -> None:
        """Stop serving and delivering; an attempt under way is cut off, not counted."""
        self._deliveries.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    # ------------------------------------------------------------ webhook delivery

    def deliver_to(self, url: str | None) -> None:
        """Deliver the events made from now on to ``url``; None stops delivering (what is pending
        is dropped, as when an endpoint is disabled)."""
        with self._lock:
            self.webhook_url = url
            if url is None:
                self._deliveries.clear()

    def resend(self, event_id: str, api_key: str | None = None) -> SignedEvent:
        """Deliver the event again (of ``api_key``'s account, or any): the same payload, signed anew."""
        with self._lock:
            return copy.deepcopy(self._resend(event_id, api_key))

    def wait_delivered(self, timeout: float = 10.0) -> bool:
        """Wait until no delivery is pending or under way; False if ``timeout`` passed first."""
        return self._deliveries.drained(timeout)

    def _resend(self, event_id: str, api_key: str | None) -> SignedEvent:
        for key, book in self._books.items():
            signed = _signed(book, event_id) if api_key in (None, key) else None
            if signed is not None:
                if self.webhook_url is None:
                    raise _invalid("No webhook endpoint to resend to: none is set.")
                self._deliveries.push(key, event_id)
                return signed
        raise _missing("event", event_id, "id")

    def _signed_payload(self, api_key: str, event_id: str) -> str | None:
        """The kept payload of an event to deliver (None if the account was restored without it)."""
        with self._lock:
            book = self._books.get(api_key)
            signed = _signed(book, event_id) if book is not None else None
            return signed.payload if signed is not None else None

    def _delivered(self, api_key: str, event_id: str, status: int) -> None:
        with self._lock:
            book = self._books.get(api_key)
            signed = _signed(book, event_id) if book is not None else None
            if signed is not None:
                signed.deliveries.append(status)
                self._save()

    @contextmanager
    def _changing(self, api_key: str, save: bool = True) -> Iterator[Book]:
        """The account's book to change, the lock held; afterwards saved, and its new events sent."""
        book = self._books.setdefault(api_key, Book())
        before = len(book.webhooks)
        try:
            yield book
        finally:
            if save:
                self._save()
            if self.webhook_url is not None:
                for signed in book.webhooks[before:]:
                    self._deliveries.push(api_key, signed.event_id)

    # ------------------------------------------------------------ the dashboard

    def dashboard_refund(self, api_key: str, payment_intent: str, amount: int | None = None) -> Object:
        """A refund made in the dashboard (``POST /_dashboard/refunds``): the refund."""
        fields: Object = {"payment_intent": payment_intent}
        if amount is not None:
            fields["amount"] = amount
        return self._dashboard_call(api_key, "refunds", fields)

    def dashboard_dispute(
        self, api_key: str, payment_intent: str, reason: str = "fraudulent", amount: int | None = None
    ) -> Object:
        """The card holder disputes the payment (``POST /_dashboard/disputes``): the dispute."""
        fields: Object = {"payment_intent": payment_intent, "reason": reason}
        if amount is not None:
            fields["amount"] = amount
        return self._dashboard_call(api_key, "disputes", fields)

    def dashboard_settle(self, api_key: str, intent_id: str, outcome: str) -> Object:
        """A processing payment completes, ``succeeded`` or ``failed``: the payment intent."""
        return self._dashboard_call(api_key, f"payment_intents/{intent_id}/settle", {"outcome": outcome})

    def dashboard_card_expiring(self, api_key: str, method_id: str) -> Object:
        """The card expires this month (``customer.source.expiring``): the event."""
        return self._dashboard_call(api_key, f"payment_methods/{method_id}/expiring", {})

    def dashboard_card_updated(
        self, api_key: str, method_id: str, exp_month: int, exp_year: int, last4: str | None = None
    ) -> Object:
        """The card network updated the card (``payment_method.automatically_updated``): the method."""
        fields: Object = {"exp_month": exp_month, "exp_year": exp_year}
        if last4 is not None:
            fields["last4"] = last4
        return self._dashboard_call(api_key, f"payment_methods/{method_id}/update", fields)

    def _dashboard_call(self, api_key: str, path: str, fields: Object) -> Object:
        with self._lock:
            return self._dashboard(api_key, "POST", path, fields)

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
                    # A JSON body, or the page's form (a browser's card holder).
                    form = headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
                    outcome = json.dumps(_fields(headers, body)).encode() if form else body
                    answer = self._authenticate(method, path.removeprefix(AUTHENTICATE_PATH), outcome)
                elif path.startswith(DASHBOARD_PATH):
                    dashboard_key = _api_key(headers)
                    fields = _fields(headers, body)
                    answer = _Answer(
                        200, self._dashboard(dashboard_key, method, path.removeprefix(DASHBOARD_PATH), fields)
                    )
                else:
                    api_key = _api_key(headers)
                    interruption = self._interruption(method, path, api_key)
                    if interruption is not None and interruption.status is not None:
                        error = {"type": "api_error", "message": "The stand-in was told to fail this request."}
                        return _encoded(_Answer(interruption.status, {"error": error}), request_id, None)
                    if interruption is not None and not interruption.carried_out:
                        return None
                    with self._changing(api_key, save=method != "GET") as book:
                        answer = self._idempotent(book, api_key, method, path, query, body, key)
            except Refusal as refused:
                answer = _Answer(refused.status, {"error": refused.error})
        if interruption is not None:
            return None  # carried out; the answer is lost on the way back
        if path.startswith(AUTHENTICATE_PATH) and "text/html" in headers.get("accept", ""):
            return _authentication_page(answer, path)
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
                    raise Refusal(
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
        if token in DECLINING_TOKENS:
            return self._declined(book, intent, method, *_GENERIC_DECLINE, key)
        if token == PROCESSING_TOKEN:
            # The provider took the payment but has not confirmed it; the dashboard settles it.
            intent["status"] = "processing"
            self._event(book, "payment_intent.processing", intent, key)
            return _Answer(200, copy.deepcopy(intent))
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
        charge_id = _new_id("ch")
        method = book.payment_methods.get(intent["payment_method"] or "")
        charge = {
            "id": charge_id,
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": intent["amount"],
            "amount_refunded": 0,
            "currency": intent["currency"],
            "customer": intent["customer"],
            "payment_intent": intent["id"],
            "payment_method": intent["payment_method"],
            "payment_method_details": _method_details(method),
            "metadata": copy.deepcopy(intent["metadata"]),  # Stripe copies the intent's metadata
            "paid": True,
            "refunded": False,
            "disputed": False,
            "refunds": _refund_list(charge_id),
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
        with self._changing(self._intent_keys[intent_id]):
            if outcome == "succeeded":
                self._succeed(book, intent, None)
            else:
                method_object = book.payment_methods.get(intent["payment_method"] or "") or {}
                self._declined(book, intent, method_object, "payment_intent_authentication_failure", "", None)
                intent["last_payment_error"].pop("decline_code", None)
        return _Answer(200, copy.deepcopy(intent))

    def _create_refund(self, book: Book, form: dict[str, str], key: str | None) -> Object:
        _known(form, {"payment_intent", "amount", "reason"}, prefixes=("metadata[",))
        charge = self._paid_charge(book, _required(form, "payment_intent"), "refund")
        amount = _positive(form, "amount") if "amount" in form else None
        return self._refund(book, charge, amount, form.get("reason") or None, _metadata(form), key)

    def _paid_charge(self, book: Book, intent_id: str, to: str) -> Object:
        intent = book.payment_intents.get(intent_id)
        if intent is None:
            raise _missing("payment_intent", intent_id, "payment_intent")
        charge = book.charges.get(intent["latest_charge"] or "")
        if intent["status"] != "succeeded" or charge is None:
            raise _invalid(
                f"This PaymentIntent does not have a successful charge to {to}.",
                param="payment_intent",
                code="charge_not_refundable" if to == "refund" else "payment_intent_unexpected_state",
            )
        return charge

    def _refund(
        self, book: Book, charge: Object, amount: int | None, reason: str | None, metadata: Object, key: str | None
    ) -> Object:
        left = charge["amount"] - charge["amount_refunded"]
        amount = left if amount is None else amount
        if charge.get("disputed"):  # .get: charges kept before disputes existed
            raise _invalid(
                f"Charge {charge['id']} has been charged back; it cannot be refunded.", code="charge_disputed"
            )
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
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "status": "succeeded",
            "metadata": metadata,
            "created": self._created(),
        }
        book.refunds[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        refunds = charge.setdefault("refunds", _refund_list(charge["id"]))
        refunds["data"].insert(0, copy.deepcopy(refund))  # newest first, as Stripe lists
        self._event(book, "refund.created", refund, key)
        self._event(book, "charge.refunded", charge, key)
        return refund

    # ------------------------------------------------------------ the dashboard's actions

    def _dashboard(self, api_key: str, method: str, path: str, fields: Object) -> Object:
        """One dashboard action (the lock held): its object, a copy; its events sent."""
        parts = tuple(path.strip("/").split("/"))
        with self._changing(api_key) as book:
            match (method, *parts):
                case ("POST", "refunds"):
                    _known(fields, {"payment_intent", "amount"})
                    charge = self._paid_charge(book, _text_field(fields, "payment_intent"), "refund")
                    amount = _int_field(fields, "amount", 1) if "amount" in fields else None
                    made = self._refund(book, charge, amount, "requested_by_customer", {}, None)
                case ("POST", "disputes"):
                    made = self._dispute(book, fields)
                case ("POST", "payment_intents", intent_id, "settle"):
                    made = self._settle(book, intent_id, fields)
                case ("POST", "payment_methods", method_id, "expiring"):
                    made = self._card_expiring(book, method_id, fields)
                case ("POST", "payment_methods", method_id, "update"):
                    made = self._card_updated(book, method_id, fields)
                case ("POST", "events", event_id, "resend"):
                    _known(fields, set())
                    made = book.events[self._resend(event_id, api_key).event_id]
                case _:
                    raise _invalid(f"Unrecognized request URL ({method}: {DASHBOARD_PATH}{path}).", status=404)
            return copy.deepcopy(made)

    def _dispute(self, book: Book, fields: Object) -> Object:
        _known(fields, {"payment_intent", "reason", "amount"})
        charge = self._paid_charge(book, _text_field(fields, "payment_intent"), "dispute")
        reason = _text_field(fields, "reason") if "reason" in fields else "fraudulent"
        if reason not in DISPUTE_REASONS:
            raise _invalid(f"Invalid reason: must be one of {', '.join(sorted(DISPUTE_REASONS))}", param="reason")
        if charge.get("disputed"):
            raise _invalid(f"Charge {charge['id']} has already been disputed.", code="charge_disputed")
        amount = _int_field(fields, "amount", 1) if "amount" in fields else charge["amount"]
        if amount > charge["amount"]:
            raise _invalid(f"Dispute amount ({amount}) is greater than the charge ({charge['amount']})", param="amount")
        created = self._created()
        dispute = {
            "id": _new_id("dp"),
            "object": "dispute",
            "amount": amount,
            "currency": charge["currency"],
            "charge": charge["id"],
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "status": "needs_response",
            "is_charge_refundable": False,
            "created": created,
            "evidence_details": {
                "due_by": created + EVIDENCE_SECONDS,
                "has_evidence": False,
                "past_due": False,
                "submission_count": 0,
            },
            "metadata": {},
            "livemode": False,
        }
        book.disputes[dispute["id"]] = dispute
        charge["disputed"] = True
        self._event(book, "charge.dispute.created", dispute, None)
        return dispute

    def _settle(self, book: Book, intent_id: str, fields: Object) -> Object:
        _known(fields, {"outcome"})
        intent = book.payment_intents.get(intent_id)
        if intent is None:
            raise _missing("payment_intent", intent_id, "intent")
        outcome = fields.get("outcome")
        if outcome not in ("succeeded", "failed"):
            raise _invalid('Send {"outcome": "succeeded"} or {"outcome": "failed"}.', param="outcome")
        if intent["status"] != "processing":
            raise _invalid(
                f"This PaymentIntent's status is {intent['status']}; only a processing one settles.",
                code="payment_intent_unexpected_state",
            )
        if outcome == "succeeded":
            self._succeed(book, intent, None)
        else:
            self._declined(book, intent, book.payment_methods[intent["payment_method"]], *_GENERIC_DECLINE, None)
        return intent

    def _card_method(self, book: Book, method_id: str) -> Object:
        method = book.payment_methods.get(method_id)
        if method is None:
            raise _missing("PaymentMethod", method_id, "payment_method")
        if method["type"] != "card" or method["customer"] is None:
            raise _invalid(
                "Only a card attached to a customer expires or is updated by its network.",
                param="payment_method",
                code="payment_method_unexpected_state",
            )
        return method

    def _card_expiring(self, book: Book, method_id: str, fields: Object) -> Object:
        _known(fields, set())
        method = self._card_method(book, method_id)
        card = method["card"]
        source = {
            "id": method["id"],
            "object": "card",
            "customer": method["customer"],
            **{name: card[name] for name in ("brand", "last4", "exp_month", "exp_year", "country", "funding")},
        }
        return self._event(book, "customer.source.expiring", source, None)

    def _card_updated(self, book: Book, method_id: str, fields: Object) -> Object:
        _known(fields, {"exp_month", "exp_year", "last4"})
        method = self._card_method(book, method_id)
        exp_month = _int_field(fields, "exp_month", 1, 12)
        exp_year = _int_field(fields, "exp_year", 2000, 2099)
        last4 = _text_field(fields, "last4") if "last4" in fields else method["card"]["last4"]
        if not re.fullmatch(r"[0-9]{4}", last4):
            raise _invalid("Invalid last4: four digits.", param="last4")
        method["card"].update(exp_month=exp_month, exp_year=exp_year, last4=last4)
        self._event(book, "payment_method.automatically_updated", method, None)
        return method

    # ------------------------------------------------------------ webhooks and state

    def _event(self, book: Book, kind: str, obj: Object, key: str | None) -> Object:
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
        return event

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
        raise Refusal(401, {"type": "invalid_request_error", "message": "You did not provide an API key."})
    if not key.startswith("sk_test_"):
        # Only test keys: a live key must never reach a stand-in. Its value is not echoed.
        raise Refusal(401, {"type": "invalid_request_error", "message": "Invalid API Key provided."})
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


def _signed(book: Book, event_id: str) -> SignedEvent | None:
    return next((signed for signed in reversed(book.webhooks) if signed.event_id == event_id), None)


def _fields(headers: dict[str, str], body: bytes) -> Object:
    """A dashboard request's fields: a JSON object or a form."""
    text = body.decode("utf-8", errors="replace")
    if not headers.get("content-type", "").startswith("application/json"):
        return dict(parse_qsl(text, keep_blank_values=True))
    try:
        fields = json.loads(text or "{}")
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        raise _invalid("Invalid JSON: send an object of fields.")
    return fields


def _text_field(fields: Object, name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value:
        raise _invalid(f"Missing required param: {name}.", param=name, code="parameter_missing")
    return value


def _int_field(fields: Object, name: str, low: int, high: int | None = None) -> int:
    """An integer field, from JSON (a number) or a form (digits), within ``low``..``high``."""
    value = fields.get(name)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        within = f"{low}..{high}" if high is not None else f"at least {low}"
        raise _invalid(f"Invalid integer: {name} ({within}).", param=name, code="parameter_invalid_integer")
    return value


def _refund_list(charge_id: str) -> Object:
    return {"object": "list", "data": [], "has_more": False, "url": f"/v1/charges/{charge_id}/refunds"}


def _method_details(method: Object | None) -> Object | None:
    """A charge's ``payment_method_details``: what it was paid with, as Stripe records it."""
    if method is None:
        return None
    if method["type"] == "paypal":
        return {"type": "paypal", "paypal": {"payer_email": method["paypal"]["payer_email"]}}
    card = method["card"]
    return {"type": "card", "card": {name: card[name] for name in ("brand", "last4", "exp_month", "exp_year")}}


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


def _authentication_page(answer: _Answer, path: str) -> tuple[int, dict[str, str], bytes]:
    """The card holder's authentication page as a browser gets it (the bank's 3-D Secure page in
    Stripe's place): the payment and two buttons, or what the button did."""
    body = answer.body
    if "error" in body:
        text = f"<p>{html.escape(str(body['error'].get('message', '')))}</p>"
    elif body.get("object") == "payment_intent":
        done = "completed" if body["status"] == "succeeded" else "failed"
        text = f"<p id='outcome'>Authentication {done}. You can close this window and return to the portal.</p>"
    else:
        amount = f"{body['amount'] / 100:.2f} {str(body['currency']).upper()}"
        buttons = "".join(
            f"<form method='post' action='{html.escape(path)}'><input type='hidden' name='outcome' value='{outcome}'>"
            f"<button type='submit' name='do' value='{outcome}'>{label}</button></form>"
            for outcome, label in (("succeeded", "Complete authentication"), ("failed", "Fail authentication"))
        )
        text = (
            f"<p>Confirm the payment of <strong>{amount}</strong> ({html.escape(body['payment_intent'])}).</p>{buttons}"
        )
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Payment authentication (stand-in)"
        f"</title></head><body><main><h1>Payment authentication</h1>{text}</main></body></html>"
    )
    return answer.status, {"Content-Type": "text/html; charset=utf-8"}, page.encode()


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


class _Deliveries:
    """The webhook deliveries due and the one thread that makes them, soonest first (then in
    the order they were queued): each event POSTed to the stand-in's endpoint, retried on failure."""

    ATTEMPTS = 8
    FIRST_RETRY = 0.25  # seconds, doubling

    def __init__(self, standin: PaymentStandIn) -> None:
        self._standin = standin
        self._due: list[tuple[float, int, str, str, int]] = []  # (when, order, api key, event id, attempt)
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._busy = False
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._connection: http.client.HTTPConnection | None = None

    def push(self, api_key: str, event_id: str) -> None:
        """Deliver the event, first attempt now."""
        with self._changed:
            heapq.heappush(self._due, (time.monotonic(), next(self._order), api_key, event_id, 1))
            self._changed.notify_all()
            self._ensure_thread()

    def clear(self) -> None:
        with self._changed:
            self._due.clear()
            self._changed.notify_all()

    def drained(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: not self._due and not self._busy, timeout)

    def resume(self) -> None:
        with self._changed:
            self._stopped = False
            if self._due:
                self._ensure_thread()

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()
            connection, thread = self._connection, self._thread
            if connection is not None and connection.sock is not None:
                # Cuts off an attempt waiting for its answer, rather than waiting out its timeout.
                with suppress(OSError):
                    connection.sock.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join()
        self._thread = None

    def _ensure_thread(self) -> None:
        if self._stopped or (self._thread is not None and self._thread.is_alive()):
            return
        self._thread = threading.Thread(target=self._run, name="payment-standin-webhooks", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (due := self._next()) is not None:
            _, _, api_key, event_id, attempt = due
            url, payload = self._standin.webhook_url, self._standin._signed_payload(api_key, event_id)
            status = self._post(url, payload) if url is not None and payload is not None else None
            if status is not None and not self._stopped:
                self._standin._delivered(api_key, event_id, status)
            with self._changed:
                # Still busy until the retry is queued: ``drained`` never sees a gap.
                self._busy = False
                self._changed.notify_all()
                if self._stopped:
                    heapq.heappush(self._due, due)  # cut off: made again when delivering resumes
                    return
                if status is None or 200 <= status < 300:
                    continue  # delivered, or no endpoint any more, or the event is gone
                if attempt < self.ATTEMPTS:
                    delay = self.FIRST_RETRY * 2 ** (attempt - 1)
                    heapq.heappush(
                        self._due, (time.monotonic() + delay, next(self._order), api_key, event_id, attempt + 1)
                    )
                else:
                    log.warning("webhook %s not delivered after %d attempts", event_id, attempt)

    def _next(self) -> tuple[float, int, str, str, int] | None:
        """The next delivery once it is due (the busy flag set), or None once stopped."""
        with self._changed:
            while not self._stopped:
                wait = self._due[0][0] - time.monotonic() if self._due else None
                if wait is not None and wait <= 0:
                    self._busy = True
                    return heapq.heappop(self._due)
                self._changed.wait(wait)
            return None

    def _post(self, url: str, payload: str) -> int:
        """One attempt: the answer's status, 0 if none came (refused, cut off, timed out)."""
        target = urlsplit(url)
        kind = http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
        connection = kind(target.hostname or "", target.port, timeout=DELIVERY_TIMEOUT)
        body = payload.encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": WEBHOOK_USER_AGENT,
            # Signed now, by the wall clock: the receiver's replay window is real elapsed time.
            "Stripe-Signature": sign(body, self._standin.webhook_secret, int(time.time())),
        }
        with self._changed:
            if self._stopped:
                return 0  # stopped meanwhile: not attempted, not counted
            self._connection = connection
        try:
            connection.request("POST", target.path + (f"?{target.query}" if target.query else ""), body, headers)
            response = connection.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException):
            return 0
        finally:
            with self._changed:
                self._connection = None
            connection.close()


def iter_pages(fetch: Callable[[str | None], Object]) -> Iterator[Object]:
    """Every object of a Stripe list, following ``starting_after`` (for HTTP clients of the stand-in)."""
    after: str | None = None
    while True:
        page = fetch(after)
        yield from page["data"]
        if not page["has_more"] or not page["data"]:
            return
        after = page["data"][-1]["id"]
