"""The payment stand-in delivers its webhook events as Stripe does (signed at each attempt with the
wall clock, verified here with the SDK's own verifier; retried with backoff; resent on demand), and
does what staff do in Stripe's dashboard: refunds, disputes, settling a processing payment, cards
expiring or updated by their network. Event types and dispute reasons are checked against the
stripe SDK's published lists."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import typing
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from local_runtime.payment_standin import (
    DISPUTE_REASONS,
    LOCAL_WEBHOOK_SECRET,
    PaymentStandIn,
    Refusal,
    _Deliveries,
)
from tests.unit.test_payment_standin import Client

NOW = 1_764_072_000.0  # the stand-in's own clock, far from the wall clock the signatures use
WEBHOOK_PATH = "/webhooks/payments"


class Receiver:
    """A webhook endpoint on a free port: keeps what arrives, answers ``answers`` in turn, then 200."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.answers = list(answers or [])
        self.received: list[tuple[str, dict[str, str], str]] = []  # (path, headers, body)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                receiver.received.append((self.path, dict(self.headers.items()), body))
                self.send_response(receiver.answers.pop(0) if receiver.answers else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{WEBHOOK_PATH}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, _, body in self.received]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver()
    yield started
    started.stop()


@pytest.fixture
def standin(tmp_path: Path, receiver: Receiver) -> Iterator[PaymentStandIn]:
    started = PaymentStandIn(tmp_path / "payments.json", now=lambda: NOW, webhook_url=receiver.url)
    started.start()
    yield started
    started.stop()


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"] for event in events]


def _paid(client: Client, token: str = "tok_visa", **metadata: str) -> dict[str, Any]:  # noqa: S107 - a test token
    customer = client.post("/v1/customers", {"email": "owner@example.com"}).json()
    method = client.post(f"/v1/payment_methods/{token}/attach", {"customer": customer["id"]}).json()
    form = {
        "amount": "3900",
        "currency": "eur",
        "customer": customer["id"],
        "payment_method": method["id"],
        "confirm": "true",
        **{f"metadata[{name}]": value for name, value in metadata.items()},
    }
    answer: dict[str, Any] = client.post("/v1/payment_intents", form, f"charge-{uuid.uuid4()}").json()
    return answer


def _dashboard(client: Client, path: str, body: dict[str, Any] | None = None) -> requests.Response:
    return requests.post(
        f"{client.base}/_dashboard/{path}",
        json=body or {},
        headers={"Authorization": f"Bearer {client.key}"},
        timeout=10,
    )


# ---------------------------------------------------------------- delivery


def test_r_pay_12_events_arrive_in_order_signed_with_the_wall_clock(
    standin: PaymentStandIn, receiver: Receiver
) -> None:
    import stripe

    client = Client(standin)
    _paid(client)
    assert standin.wait_delivered(10)

    book = standin.book(client.key)
    assert [event["id"] for event in receiver.events()] == [signed.event_id for signed in book.webhooks]
    assert _types(receiver.events()) == [
        "customer.created",
        "payment_method.attached",
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
    ]
    for (path, headers, body), signed in zip(receiver.received, book.webhooks, strict=True):
        assert path == WEBHOOK_PATH
        assert body == signed.payload  # the event exactly as kept
        assert headers["Content-Type"] == "application/json; charset=utf-8"
        assert headers["User-Agent"] == "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
        # Within 5 minutes of the wall clock, though the stand-in's clock says 2025-11-25.
        assert stripe.WebhookSignature.verify_header(body, headers["Stripe-Signature"], LOCAL_WEBHOOK_SECRET, 300)
        assert signed.deliveries == [200]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(
            receiver.received[0][2], receiver.received[0][1]["Stripe-Signature"], "whsec_other", 300
        )


def test_r_pay_12_a_failed_delivery_is_retried_signed_anew(
    standin: PaymentStandIn, receiver: Receiver, tmp_path: Path
) -> None:
    import stripe

    receiver.answers = [500]
    client = Client(standin)
    client.post("/v1/customers", {"email": "owner@example.com"})
    assert standin.wait_delivered(10)

    (signed,) = standin.book(client.key).webhooks
    assert signed.deliveries == [500, 200]
    assert [body for _, _, body in receiver.received] == [signed.payload, signed.payload]
    for _, headers, body in receiver.received:
        assert stripe.WebhookSignature.verify_header(body, headers["Stripe-Signature"], LOCAL_WEBHOOK_SECRET, 300)
    # Kept with the state, as the rest.
    assert PaymentStandIn(tmp_path / "payments.json").book(client.key).webhooks[0].deliveries == [500, 200]


def test_r_pay_12_an_endpoint_that_never_answers_2xx_is_given_up_after_8_attempts(
    standin: PaymentStandIn, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_Deliveries, "FIRST_RETRY", 0.001)  # Stripe's three days, compressed further
    receiver.answers = [404] * 20
    client = Client(standin)
    client.post("/v1/customers", {"email": "owner@example.com"})
    assert standin.wait_delivered(10)

    assert standin.book(client.key).webhooks[0].deliveries == [404] * 8
    assert len(receiver.received) == 8


def test_r_pay_12_a_refused_connection_counts_as_no_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_Deliveries, "FIRST_RETRY", 0.001)
    standin = PaymentStandIn(tmp_path / "payments.json", webhook_url=f"http://127.0.0.1:{_closed_port()}/hook")
    standin.start()
    try:
        client = Client(standin)
        client.post("/v1/customers", {"email": "owner@example.com"})
        assert standin.wait_delivered(10)
        assert standin.book(client.key).webhooks[0].deliveries == [0] * 8
    finally:
        standin.stop()


def test_r_pay_12_events_before_an_endpoint_was_set_are_not_sent(tmp_path: Path, receiver: Receiver) -> None:
    standin = PaymentStandIn(now=lambda: NOW)
    standin.start()
    try:
        client = Client(standin)
        client.post("/v1/customers", {"email": "before@example.com"})
        standin.deliver_to(receiver.url)
        client.post("/v1/customers", {"email": "after@example.com"})
        assert standin.wait_delivered(10)

        assert [event["data"]["object"]["email"] for event in receiver.events()] == ["after@example.com"]
        before, after = standin.book(client.key).webhooks
        assert (before.deliveries, after.deliveries) == ([], [200])

        standin.deliver_to(None)
        client.post("/v1/customers", {"email": "off@example.com"})
        assert standin.wait_delivered(10)
        assert len(receiver.received) == 1
        with pytest.raises(Refusal) as refused:
            standin.resend(after.event_id)
        assert refused.value.status == 400
    finally:
        standin.stop()


def test_r_pay_12_an_event_is_resent_with_the_same_payload_and_a_fresh_signature(
    standin: PaymentStandIn, receiver: Receiver
) -> None:
    import stripe

    client = Client(standin)
    client.post("/v1/customers", {"email": "owner@example.com"})
    assert standin.wait_delivered(10)
    (signed,) = standin.book(client.key).webhooks

    again = standin.resend(signed.event_id)
    assert again.event_id == signed.event_id
    assert standin.wait_delivered(10)
    over_http = _dashboard(client, f"events/{signed.event_id}/resend")
    assert standin.wait_delivered(10)

    assert (over_http.status_code, over_http.json()["id"]) == (200, signed.event_id)
    assert [body for _, _, body in receiver.received] == [signed.payload] * 3
    for _, headers, body in receiver.received:
        assert stripe.WebhookSignature.verify_header(body, headers["Stripe-Signature"], LOCAL_WEBHOOK_SECRET, 300)
    assert standin.book(client.key).webhooks[0].deliveries == [200, 200, 200]
    missing = _dashboard(client, "events/evt_unknown/resend")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "resource_missing")
    other_account = _dashboard(Client(standin), f"events/{signed.event_id}/resend")
    assert other_account.status_code == 404


def test_r_pay_12_stop_returns_promptly_while_a_receiver_never_answers(tmp_path: Path) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # takes the connection, never answers
    try:
        standin = PaymentStandIn(webhook_url=f"http://127.0.0.1:{silent.getsockname()[1]}/hook")
        standin.start()
        Client(standin).post("/v1/customers", {"email": "owner@example.com"})
        time.sleep(0.2)  # the attempt is waiting for its answer

        started = time.monotonic()
        standin.stop()

        assert time.monotonic() - started < 2.0  # far under the 5 s an answer is waited for
        assert not standin.wait_delivered(0.1)  # the cut-off attempt stays due, not counted
        assert next(iter(standin._books.values())).webhooks[0].deliveries == []
    finally:
        silent.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# ---------------------------------------------------------------- tokens and shapes


def test_r_pay_12_tok_processing_stays_processing_until_the_dashboard_settles_it(standin: PaymentStandIn) -> None:
    client = Client(standin)
    customer = client.post("/v1/customers", {"email": "owner@example.com"}).json()
    method = client.post("/v1/payment_methods/tok_processing/attach", {"customer": customer["id"]}).json()
    form = {"amount": "3900", "currency": "eur", "customer": customer["id"], "payment_method": method["id"]}

    on_session = client.post("/v1/payment_intents", {**form, "confirm": "true"}, "on").json()
    off_session = client.post("/v1/payment_intents", {**form, "confirm": "true", "off_session": "true"}, "off").json()
    assert (on_session["status"], off_session["status"]) == ("processing", "processing")
    assert client.get(f"/v1/payment_intents/{on_session['id']}").json()["status"] == "processing"

    settled = _dashboard(client, f"payment_intents/{on_session['id']}/settle", {"outcome": "succeeded"})
    failed = standin.dashboard_settle(client.key, off_session["id"], "failed")

    assert (settled.status_code, settled.json()["status"]) == (200, "succeeded")
    assert (failed["status"], failed["last_payment_error"]["code"]) == ("requires_payment_method", "card_declined")
    assert standin.wait_delivered(10)
    types = _types([json.loads(signed.payload) for signed in standin.book(client.key).webhooks])
    assert types[2:] == [
        "payment_intent.created",
        "payment_intent.processing",
        "payment_intent.created",
        "payment_intent.processing",
        "charge.succeeded",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
    ]
    again = _dashboard(client, f"payment_intents/{on_session['id']}/settle", {"outcome": "succeeded"})
    assert (again.status_code, again.json()["error"]["code"]) == (400, "payment_intent_unexpected_state")
    maybe = _dashboard(client, f"payment_intents/{off_session['id']}/settle", {"outcome": "maybe"})
    assert (maybe.status_code, maybe.json()["error"]["param"]) == (400, "outcome")


def test_r_pay_12_tok_paypal_declined_declines_a_paypal_method(standin: PaymentStandIn) -> None:
    client = Client(standin)
    customer = client.post("/v1/customers", {"email": "owner@example.com"}).json()
    method = client.post("/v1/payment_methods/tok_paypalDeclined/attach", {"customer": customer["id"]}).json()
    form = {"amount": "3900", "currency": "eur", "customer": customer["id"], "payment_method": method["id"]}

    declined = client.post("/v1/payment_intents", {**form, "confirm": "true"}, "paypal-1")

    error = declined.json()["error"]
    assert (declined.status_code, error["code"], error["decline_code"]) == (402, "card_declined", "generic_decline")
    assert error["payment_intent"]["last_payment_error"]["payment_method"]["type"] == "paypal"
    assert method["type"] == "paypal"


def test_r_pay_12_charges_carry_the_intents_metadata_and_what_paid_them(standin: PaymentStandIn) -> None:
    client = Client(standin)
    card = _paid(client, account_id="acc_1", invoice_id="inv_1")
    paypal = _paid(Client(standin, client.key + "p"), "tok_paypal", account_id="acc_2")
    assert standin.wait_delivered(10)

    charge = standin.book(client.key).charges[card["latest_charge"]]
    paypal_charge = standin.book(client.key + "p").charges[paypal["latest_charge"]]
    assert charge["metadata"] == {"account_id": "acc_1", "invoice_id": "inv_1"}
    assert charge["payment_method_details"] == {
        "type": "card",
        "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2034},
    }
    assert paypal_charge["metadata"] == {"account_id": "acc_2"}
    assert paypal_charge["payment_method_details"] == {"type": "paypal", "paypal": {"payer_email": None}}
    events = [json.loads(signed.payload) for signed in standin.book(client.key).webhooks]
    succeeded = next(event for event in events if event["type"] == "payment_intent.succeeded")
    assert succeeded["data"]["object"]["metadata"] == {"account_id": "acc_1", "invoice_id": "inv_1"}


# ---------------------------------------------------------------- the dashboard


def test_r_pay_12_a_dashboard_refund_sends_refund_created_then_charge_refunded(
    standin: PaymentStandIn, receiver: Receiver
) -> None:
    client = Client(standin)
    intent = _paid(client)

    first = _dashboard(client, "refunds", {"payment_intent": intent["id"], "amount": 900})
    form = requests.post(
        f"{client.base}/_dashboard/refunds",
        data={"payment_intent": intent["id"]},
        headers={"Authorization": f"Bearer {client.key}"},
        timeout=10,
    )
    assert standin.wait_delivered(10)

    assert (first.status_code, form.status_code) == (200, 200)
    refund = first.json()
    assert (refund["object"], refund["amount"], refund["reason"], refund["metadata"]) == (
        "refund",
        900,
        "requested_by_customer",
        {},
    )
    assert form.json()["amount"] == 3000  # what was left
    events = receiver.events()[5:]
    assert _types(events) == ["refund.created", "charge.refunded", "refund.created", "charge.refunded"]
    assert all(event["request"] == {"id": None, "idempotency_key": None} for event in events)
    charge = events[-1]["data"]["object"]
    assert (charge["amount_refunded"], charge["refunded"]) == (3900, True)
    assert charge["refunds"]["object"] == "list"
    assert [item["id"] for item in charge["refunds"]["data"]] == [form.json()["id"], refund["id"]]  # newest first

    too_much = _dashboard(client, "refunds", {"payment_intent": intent["id"], "amount": 1})
    unknown = _dashboard(client, "refunds", {"payment_intent": "pi_unknown"})
    no_key = requests.post(f"{client.base}/_dashboard/refunds", json={}, timeout=10)
    assert (too_much.status_code, too_much.json()["error"]["code"]) == (400, "charge_already_refunded")
    assert (unknown.status_code, unknown.json()["error"]["type"]) == (404, "invalid_request_error")
    assert no_key.status_code == 401


def test_r_pay_12_a_dashboard_refund_is_a_python_method_too(standin: PaymentStandIn) -> None:
    client = Client(standin)
    intent = _paid(client)

    refund = standin.dashboard_refund(client.key, intent["id"], 100)

    assert (refund["amount"], refund["reason"]) == (100, "requested_by_customer")
    with pytest.raises(Refusal) as refused:
        standin.dashboard_refund(client.key, intent["id"], 5000)
    assert (refused.value.status, refused.value.error["param"]) == (400, "amount")


def test_r_pay_12_a_dispute_marks_the_charge_and_sends_charge_dispute_created(
    standin: PaymentStandIn, receiver: Receiver
) -> None:
    client = Client(standin)
    intent = _paid(client)

    answer = _dashboard(client, "disputes", {"payment_intent": intent["id"]})
    assert standin.wait_delivered(10)

    dispute = answer.json()
    assert answer.status_code == 200
    assert dispute["id"].startswith("dp_")
    assert {name: dispute[name] for name in ("object", "amount", "currency", "charge", "payment_intent")} == {
        "object": "dispute",
        "amount": 3900,
        "currency": "eur",
        "charge": intent["latest_charge"],
        "payment_intent": intent["id"],
    }
    assert (dispute["reason"], dispute["status"], dispute["metadata"]) == ("fraudulent", "needs_response", {})
    assert dispute["evidence_details"]["due_by"] > dispute["created"] == int(NOW)
    assert standin.book(client.key).charges[intent["latest_charge"]]["disputed"] is True
    (event,) = receiver.events()[5:]
    assert (event["type"], event["data"]["object"]) == ("charge.dispute.created", dispute)

    twice = _dashboard(client, "disputes", {"payment_intent": intent["id"], "reason": "duplicate"})
    assert (twice.status_code, twice.json()["error"]["code"]) == (400, "charge_disputed")
    refund = client.post("/v1/refunds", {"payment_intent": intent["id"]}, "refund-1")
    assert (refund.status_code, refund.json()["error"]["code"]) == (400, "charge_disputed")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"reason": "bored"}, "reason"),
        ({"amount": 0}, "amount"),
        ({"amount": 3901}, "amount"),
        ({"amount": "many"}, "amount"),
        ({"evidence": "x"}, "evidence"),
    ],
)
def test_r_pay_12_a_bad_dispute_is_stripes_400_and_changes_nothing(
    standin: PaymentStandIn, body: dict[str, Any], param: str
) -> None:
    client = Client(standin)
    intent = _paid(client)
    assert standin.wait_delivered(10)
    before = standin.book(client.key)

    answer = _dashboard(client, "disputes", {"payment_intent": intent["id"], **body})

    assert (answer.status_code, answer.json()["error"]["param"]) == (400, param)
    assert standin.book(client.key) == before


def test_r_pay_12_a_card_about_to_expire_sends_customer_source_expiring(standin: PaymentStandIn) -> None:
    client = Client(standin)
    intent = _paid(client)

    event = standin.dashboard_card_expiring(client.key, intent["payment_method"])
    over_http = _dashboard(client, f"payment_methods/{intent['payment_method']}/expiring")

    assert over_http.status_code == 200
    for made in (event, over_http.json()):
        assert made["type"] == "customer.source.expiring"
        card = made["data"]["object"]
        assert {name: card[name] for name in ("id", "object", "customer", "brand", "last4")} == {
            "id": intent["payment_method"],
            "object": "card",
            "customer": intent["customer"],
            "brand": "visa",
            "last4": "4242",
        }
        assert (card["exp_month"], card["exp_year"]) == (12, 2034)
    paypal = _paid(client, "tok_paypal")
    refused = _dashboard(client, f"payment_methods/{paypal['payment_method']}/expiring")
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "payment_method_unexpected_state")
    unknown = _dashboard(client, "payment_methods/pm_unknown/expiring")
    assert unknown.status_code == 404


def test_r_pay_12_a_card_updated_by_its_network_sends_payment_method_automatically_updated(
    standin: PaymentStandIn,
) -> None:
    client = Client(standin)
    intent = _paid(client)
    method_id = intent["payment_method"]

    answer = _dashboard(client, f"payment_methods/{method_id}/update", {"exp_month": 3, "exp_year": 2031})
    standin.dashboard_card_updated(client.key, method_id, 4, 2032, last4="1881")
    assert standin.wait_delivered(10)

    assert (answer.status_code, answer.json()["card"]["exp_month"], answer.json()["card"]["last4"]) == (200, 3, "4242")
    book = standin.book(client.key)
    assert {k: book.payment_methods[method_id]["card"][k] for k in ("exp_month", "exp_year", "last4")} == {
        "exp_month": 4,
        "exp_year": 2032,
        "last4": "1881",
    }
    updated = [json.loads(s.payload) for s in book.webhooks if s.type == "payment_method.automatically_updated"]
    assert [event["data"]["object"]["card"]["exp_year"] for event in updated] == [2031, 2032]
    for bad in (
        {"exp_month": 13, "exp_year": 2031},
        {"exp_month": 3},
        {"exp_month": 3, "exp_year": 2031, "last4": "12"},
    ):
        refused = _dashboard(client, f"payment_methods/{method_id}/update", bad)
        assert refused.status_code == 400
    assert standin.book(client.key) == book


# ---------------------------------------------------------------- against the SDK's published lists


def test_every_event_type_the_stand_in_sends_is_one_of_stripes() -> None:
    from stripe._event import Event

    published = set(typing.get_args(Event.__annotations__["type"]))
    source = (Path(__file__).parents[2] / "local_runtime" / "payment_standin.py").read_text(encoding="utf-8")
    sent = set(re.findall(r'_event\(\s*book,\s*"([a-z_.]+)"', source))

    assert "customer.source.expiring" in sent
    assert sent <= published


def test_the_dispute_reasons_are_stripes() -> None:
    import inspect

    from stripe import _dispute

    documented = re.search(
        r"Reason given by cardholder for dispute\. Possible values are ([^.]+)\.", inspect.getsource(_dispute)
    )
    assert documented is not None
    assert set(re.findall(r"`([a-z_]+)`", documented.group(1))) == DISPUTE_REASONS
