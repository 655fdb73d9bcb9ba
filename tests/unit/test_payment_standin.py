"""The payment provider's stand-in (local_runtime/payment_standin.py) speaks Stripe's API as the
SDK expects it: idempotency keys replayed with ``Idempotent-Replayed``, Stripe's error shapes and
statuses, its list API, webhook events signed as Stripe signs them (checked with the SDK's own
verifier), and its state kept in a file across restarts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local_runtime.payment_standin import (
    AUTHENTICATION_TOKEN,
    LOCAL_WEBHOOK_SECRET,
    PaymentStandIn,
    iter_pages,
    sign,
)
from tests.conftest import new_payment_key


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[PaymentStandIn]:
    started = PaymentStandIn(tmp_path / "payments.json", now=lambda: 1_764_072_000.0)
    started.start()
    yield started
    started.stop()


class Client:
    """Raw HTTP as the SDK sends it: form-encoded, a bearer key, optionally an idempotency key."""

    def __init__(self, standin: PaymentStandIn, key: str | None = None) -> None:
        self.base, self.key = standin.url, key or new_payment_key()

    def post(
        self, path: str, form: dict[str, str] | None = None, idempotency_key: str | None = None
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.key}"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return requests.post(self.base + path, data=form or {}, headers=headers, timeout=10)

    def get(self, path: str, **params: str) -> requests.Response:
        return requests.get(
            self.base + path, params=params, headers={"Authorization": f"Bearer {self.key}"}, timeout=10
        )

    def paying(self) -> tuple[str, str]:
        customer = self.post("/v1/customers", {"email": "owner@example.com", "metadata[account_id]": "acc_1"}).json()
        method = self.post("/v1/payment_methods/tok_visa/attach", {"customer": customer["id"]}).json()
        return customer["id"], method["id"]

    def charge(
        self, customer: str, method: str, amount: str = "3900", key: str | None = "charge-1"
    ) -> requests.Response:
        form = {"amount": amount, "currency": "usd", "customer": customer, "payment_method": method, "confirm": "true"}
        return self.post("/v1/payment_intents", form, key)


def test_r_pay_12_a_repeated_idempotency_key_replays_the_first_answer(standin: PaymentStandIn) -> None:
    client = Client(standin)
    customer, method = client.paying()

    first = client.charge(customer, method)
    again = client.charge(customer, method)

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(standin.book(client.key).charges) == 1


def test_r_pay_12_a_replayed_decline_is_the_same_402(standin: PaymentStandIn) -> None:
    client = Client(standin)
    customer, _ = client.paying()
    declined_method = client.post("/v1/payment_methods/tok_chargeDeclined/attach", {"customer": customer}).json()

    first = client.charge(customer, declined_method["id"])
    again = client.charge(customer, declined_method["id"])

    assert (first.status_code, again.status_code) == (402, 402)
    error = first.json()["error"]
    assert (error["type"], error["code"], error["decline_code"]) == ("card_error", "card_declined", "generic_decline")
    assert error["payment_intent"]["status"] == "requires_payment_method"
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"


def test_r_pay_12_a_key_reused_for_another_request_is_an_idempotency_error(standin: PaymentStandIn) -> None:
    client = Client(standin)
    customer, method = client.paying()
    client.charge(customer, method)

    reused = client.charge(customer, method, amount="4000")

    assert reused.status_code == 400
    assert reused.json()["error"]["type"] == "idempotency_error"
    assert len(standin.book(client.key).payment_intents) == 1


def test_a_refused_request_is_not_kept_under_its_key(standin: PaymentStandIn) -> None:
    """Stripe keeps answers of requests its endpoint carried out: a validation error may be sent again."""
    client = Client(standin)
    customer, method = client.paying()

    missing = client.charge(customer, "pm_unknown")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "resource_missing")
    assert client.charge(customer, method).status_code == 200


@pytest.mark.parametrize(
    ("form", "param", "code"),
    [
        ({"currency": "usd"}, "amount", "parameter_missing"),
        ({"amount": "-5", "currency": "usd"}, "amount", "parameter_invalid_integer"),
        ({"amount": "100", "currency": "usd", "card[number]": "4242424242424242"}, "card[number]", "parameter_unknown"),
    ],
)
def test_invalid_parameters_are_stripes_400(
    standin: PaymentStandIn, form: dict[str, str], param: str, code: str
) -> None:
    answer = Client(standin).post("/v1/payment_intents", form)
    error = answer.json()["error"]
    assert (answer.status_code, error["type"], error["param"], error["code"]) == (
        400,
        "invalid_request_error",
        param,
        code,
    )


@pytest.mark.parametrize("authorization", [None, "Bearer sk_live_123", "Basic abc"])
def test_only_a_test_secret_key_is_taken(standin: PaymentStandIn, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = requests.post(standin.url + "/v1/customers", headers=headers, timeout=10)
    assert answer.status_code == 401
    assert "sk_live_123" not in answer.text


def test_each_secret_key_is_an_account_of_its_own(standin: PaymentStandIn) -> None:
    one, two = Client(standin), Client(standin)
    customer, _ = one.paying()
    assert two.get(f"/v1/customers/{customer}").status_code == 404
    assert one.get(f"/v1/customers/{customer}").json()["email"] == "owner@example.com"


def test_r_pay_12_authentication_is_completed_at_the_next_action_url(standin: PaymentStandIn) -> None:
    client = Client(standin)
    customer, _ = client.paying()
    method = client.post(f"/v1/payment_methods/{AUTHENTICATION_TOKEN}/attach", {"customer": customer}).json()

    waiting = client.charge(customer, method["id"]).json()
    assert waiting["status"] == "requires_action"
    url = waiting["next_action"]["redirect_to_url"]["url"]
    assert url == f"{standin.url}/authenticate/{waiting['id']}"
    assert requests.get(url, timeout=10).json()["status"] == "requires_action"
    refused = requests.post(url, json={"outcome": "maybe"}, timeout=10)
    assert (refused.status_code, refused.json()["error"]["param"]) == (400, "outcome")

    done = requests.post(url, json={"outcome": "succeeded"}, timeout=10)

    assert (done.status_code, done.json()["status"]) == (200, "succeeded")
    assert client.get(f"/v1/payment_intents/{waiting['id']}").json()["status"] == "succeeded"
    assert requests.post(url, json={"outcome": "failed"}, timeout=10).status_code == 400  # done already
    assert requests.post(f"{standin.url}/authenticate/pi_unknown", json={}, timeout=10).status_code == 404


def test_r_pay_12_off_session_authentication_is_a_card_error_at_once(standin: PaymentStandIn) -> None:
    client = Client(standin)
    customer, _ = client.paying()
    method = client.post(f"/v1/payment_methods/{AUTHENTICATION_TOKEN}/attach", {"customer": customer}).json()
    form = {
        "amount": "100",
        "currency": "usd",
        "customer": customer,
        "payment_method": method["id"],
        "confirm": "true",
        "off_session": "true",
    }
    answer = client.post("/v1/payment_intents", form, "renewal-1")
    assert (answer.status_code, answer.json()["error"]["code"]) == (402, "authentication_required")


def test_refunds_are_limited_to_what_is_left_of_the_charge(standin: PaymentStandIn) -> None:
    client = Client(standin)
    intent = client.charge(*client.paying()).json()

    part = client.post("/v1/refunds", {"payment_intent": intent["id"], "amount": "1000"}, "r1")
    too_much = client.post("/v1/refunds", {"payment_intent": intent["id"], "amount": "2901"}, "r2")
    rest = client.post("/v1/refunds", {"payment_intent": intent["id"]}, "r3")
    none_left = client.post("/v1/refunds", {"payment_intent": intent["id"], "amount": "1"}, "r4")

    assert (part.status_code, part.json()["amount"]) == (200, 1000)
    assert (too_much.status_code, too_much.json()["error"]["param"]) == (400, "amount")
    assert (rest.status_code, rest.json()["amount"]) == (200, 2900)
    assert none_left.json()["error"]["code"] == "charge_already_refunded"
    charge = standin.book(client.key).charges[intent["latest_charge"]]
    assert (charge["amount_refunded"], charge["refunded"]) == (3900, True)


def test_lists_are_newest_first_and_page_with_starting_after(standin: PaymentStandIn) -> None:
    client = Client(standin)
    customer, method = client.paying()
    made = [client.charge(customer, method, key=f"charge-{n}").json()["id"] for n in range(5)]

    def page(after: str | None) -> dict[str, Any]:
        params = {"limit": "2", "customer": customer, **({"starting_after": after} if after else {})}
        listed: dict[str, Any] = client.get("/v1/payment_intents", **params).json()
        return listed

    assert [intent["id"] for intent in iter_pages(page)] == list(reversed(made))
    assert client.get("/v1/payment_intents", limit="101").status_code == 400


def test_webhook_events_are_signed_as_stripe_signs_them(standin: PaymentStandIn) -> None:
    """Each event the stand-in would send verifies with the SDK's own ``Webhook.construct_event``."""
    import stripe

    client = Client(standin)
    intent = client.charge(*client.paying()).json()

    book = standin.book(client.key)
    assert [signed.type for signed in book.webhooks] == [
        "customer.created",
        "payment_method.attached",
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
    ]
    for signed in book.webhooks:
        event = stripe.Webhook.construct_event(signed.payload, signed.signature, LOCAL_WEBHOOK_SECRET)
        assert event.id == signed.event_id
    succeeded = stripe.Webhook.construct_event(
        book.webhooks[-1].payload, book.webhooks[-1].signature, LOCAL_WEBHOOK_SECRET
    )
    assert succeeded.data.object.id == intent["id"]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(book.webhooks[-1].payload, book.webhooks[-1].signature, "whsec_other")
    listed = client.get("/v1/events").json()["data"]
    assert [event["type"] for event in listed][:1] == ["payment_intent.succeeded"]


def test_the_signature_scheme_is_hmac_sha256_of_time_dot_payload() -> None:
    import stripe

    header = sign(b'{"id":"evt_1"}', "whsec_x", 1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert stripe.WebhookSignature.verify_header('{"id":"evt_1"}', header, "whsec_x", tolerance=None)


def test_the_state_is_kept_in_its_file_across_restarts(standin: PaymentStandIn, tmp_path: Path) -> None:
    client = Client(standin)
    customer, method = client.paying()
    client.charge(customer, method)
    standin.stop()

    again = PaymentStandIn(tmp_path / "payments.json")
    again.start()
    try:
        client.base = again.url
        assert again.book(client.key) == standin.book(client.key)
        replayed = client.charge(customer, method)  # the idempotency keys survived too
        assert replayed.headers["Idempotent-Replayed"] == "true"
    finally:
        again.stop()
    standin.start()  # for the fixture's stop
