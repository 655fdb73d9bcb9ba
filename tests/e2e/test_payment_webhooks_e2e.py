"""R-PAY-12 over HTTP: the payment provider's signed webhooks, delivered by the local runtime's
payment stand-in to the runtime's own ``POST /webhooks/payments`` as the provider would.

A card authenticated after the owner's 402, and a payment that was still processing, are settled
by their ``payment_intent.succeeded`` without the owner retrying; a refund made in the provider's
dashboard becomes a credit note; a dispute reaches staff and the owner; a card about to expire
asks the owner for a new one; a resent event changes nothing; an unsigned or forged event is 400.
The tests act only through HTTP (the service, the stand-in's API and dashboard) and wait for the
asynchronous delivery's effect with a deadline.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

from lifecycle.core.settings import Settings
from local_runtime.payment_standin import LOCAL_SECRET_KEY, LOCAL_WEBHOOK_SECRET, sign
from local_runtime.template import Resolver, function_environment, load
from tests.e2e.conftest import Owned, Runtime
from tests.route_examples import billing_details, registrant

pytestmark = pytest.mark.e2e

WEBHOOK = "/webhooks/payments"
NEEDS_AUTHENTICATION = {"type": "card", "token": "tok_threeDSecure2Required"}
PROCESSING = {"type": "card", "token": "tok_processing"}
# Deliveries are asynchronous and retried with backoff: the effect is awaited up to this long.
DEADLINE_SECONDS = 20.0


def _eventually[T](probe: Callable[[], T | None], what: str) -> T:
    """``probe``'s first truthy answer, polled until the deadline (then the test fails)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"not within {DEADLINE_SECONDS:.0f} s: {what}")
        time.sleep(0.1)


# ---------------------------------------------------------------- the service, over HTTP


def _trial_with_details(runtime: Runtime) -> Owned:
    tag = f"hook-{uuid.uuid4().hex[:10]}"
    signed_up = runtime.post("/signups", json=registrant(tag, plan="ticket", billing_period="monthly"))
    assert signed_up.status_code == 201, signed_up.text
    body = signed_up.json()
    account = Owned(body["id"], runtime.token(body["owner_id"], body["id"], "owner"), tag, body)
    given = runtime.put(account.path("/billing-details"), json=billing_details(tag), token=account.owner)
    assert given.status_code == 200, given.text
    return account


def _seen(runtime: Runtime, account: Owned) -> dict[str, Any]:
    seen = runtime.get(account.path(), token=account.owner)
    assert seen.status_code == 200, seen.text
    body: dict[str, Any] = seen.json()
    return body


def _invoices(runtime: Runtime, account: Owned) -> list[dict[str, Any]]:
    listed = runtime.get(account.path("/invoices"), token=account.owner)
    assert listed.status_code == 200, listed.text
    items: list[dict[str, Any]] = listed.json()["items"]
    return items


def _credit_notes(runtime: Runtime, account: Owned) -> list[dict[str, Any]]:
    return [item for item in _invoices(runtime, account) if item["kind"] == "credit_note"]


def _notices(runtime: Runtime, account: Owned, kind: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = runtime.get("/_local/outbox").json()["items"]
    return [n for n in items if n["account_id"] == account.id and n["type"] == kind]


def _audit(runtime: Runtime, account: Owned, kind: str) -> list[dict[str, Any]]:
    listed = runtime.get(account.path("/audit"), token=account.owner)
    assert listed.status_code == 200, listed.text
    return [item for item in listed.json()["items"] if item["type"] == kind]


def _staff_email() -> str:
    """Where the local runtime sends notices to staff: the template's setting, as its functions get it."""
    template = load()
    return Settings.from_env(function_environment(template, Resolver(template))).staff_email


# ---------------------------------------------------------------- the provider, over HTTP


def _intents(runtime: Runtime, account: Owned) -> list[dict[str, Any]]:
    """The payment intents the provider holds for the account's customer."""
    return runtime.provider_objects("payment_intents", customer=runtime.provider_customer_of(account.id)["id"])


def _the_intent(runtime: Runtime, account: Owned, status: str) -> dict[str, Any]:
    (intent,) = [intent for intent in _intents(runtime, account) if intent["status"] == status]
    return intent


def _events(runtime: Runtime, kind: str, object_id: str) -> list[dict[str, Any]]:
    """The provider's events of ``kind`` about the object ``object_id`` (a payment intent, a charge)."""
    return [
        event
        for event in runtime.provider_objects("events")
        if event["type"] == kind and event["data"]["object"]["id"] == object_id
    ]


def _dashboard(runtime: Runtime, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """What staff do in the provider's dashboard (the stand-in's ``/_dashboard``, the runtime's key)."""
    answer = requests.post(
        f"{runtime.payments_url}/_dashboard/{path}",
        json=body,
        headers={"Authorization": f"Bearer {LOCAL_SECRET_KEY}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    made: dict[str, Any] = answer.json()
    return made


def _resend(runtime: Runtime, event_id: str) -> None:
    assert _dashboard(runtime, f"events/{event_id}/resend", {})["id"] == event_id


def _after_deliveries_so_far(runtime: Runtime, account: Owned) -> None:
    """Returns once every event made so far has had its first delivery attempt answered.

    The stand-in makes first attempts one at a time, in the order the events were made: a card
    expiring, made now, is delivered after them, so its notice reaching the outbox means they
    were. (Each delivery's own outcome is not visible over HTTP.)
    """
    before = len(_notices(runtime, account, "card_expiring"))
    _dashboard(runtime, f"payment_methods/{_seen_method_id(runtime, account)}/expiring", {})
    _eventually(lambda: len(_notices(runtime, account, "card_expiring")) > before, "the card_expiring notice")


def _seen_method_id(runtime: Runtime, account: Owned) -> str:
    """The provider's id of the method the account's charges went to."""
    (method_id,) = {
        intent["payment_method"] for intent in _intents(runtime, account) if intent["status"] == "succeeded"
    }
    return str(method_id)


# ---------------------------------------------------------------- a payment confirmed late


def test_r_pay_12_a_trial_card_needing_authentication_is_settled_by_the_webhook_over_http(runtime: Runtime) -> None:
    account = _trial_with_details(runtime)

    needs = runtime.put(account.path("/payment-method"), json=NEEDS_AUTHENTICATION, token=account.owner)

    assert needs.status_code == 402, needs.text
    assert needs.json()["code"] == "authentication_required"
    url = needs.json()["next_action_url"]
    (asked,) = _notices(runtime, account, "payment_action_required")
    assert url in asked["body"]
    assert _seen(runtime, account)["status"] == "trialing"

    assert requests.post(url, json={"outcome": "succeeded"}, timeout=30).status_code == 200

    # The owner does not retry: the provider's payment_intent.succeeded finishes the request.
    _eventually(lambda: _seen(runtime, account)["status"] == "active", "the account active")
    seen = _seen(runtime, account)
    assert (seen["status"], seen["access"]) == ("active", "full")
    (invoice,) = _invoices(runtime, account)
    assert (invoice["kind"], invoice["status"]) == ("invoice", "paid")
    assert re.fullmatch(r"INV-\d+", invoice["number"]), invoice["number"]
    (receipt,) = _eventually(lambda: _notices(runtime, account, "receipt"), "the receipt")
    assert invoice["number"] in receipt["body"]
    # Charged once: the payment intent the card holder authenticated, for the invoice's total.
    intent_id = url.rsplit("/", 1)[-1]
    (intent,) = _intents(runtime, account)
    assert (intent["id"], intent["status"], intent["amount"]) == (intent_id, "succeeded", invoice["total"]["amount"])

    (event,) = _events(runtime, "payment_intent.succeeded", intent_id)
    _resend(runtime, event["id"])
    _after_deliveries_so_far(runtime, account)

    assert [item["id"] for item in _invoices(runtime, account)] == [invoice["id"]]
    assert [n["id"] for n in _notices(runtime, account, "receipt")] == [receipt["id"]]
    assert _seen(runtime, account)["status"] == "active"


def test_r_pay_12_a_payment_still_processing_stays_pending_then_its_webhook_activates_over_http(
    runtime: Runtime,
) -> None:
    account = _trial_with_details(runtime)

    pending = runtime.put(account.path("/payment-method"), json=PROCESSING, token=account.owner)

    assert pending.status_code == 503, pending.text
    assert pending.headers["Content-Type"] == "application/problem+json"
    assert pending.json()["code"] == "payment_processing"
    assert _seen(runtime, account)["status"] == "trialing"
    assert _invoices(runtime, account) == []
    intent = _the_intent(runtime, account, "processing")

    _dashboard(runtime, f"payment_intents/{intent['id']}/settle", {"outcome": "succeeded"})

    _eventually(lambda: _seen(runtime, account)["status"] == "active", "the account active")
    seen = _seen(runtime, account)
    assert (seen["status"], seen["access"]) == ("active", "full")
    (invoice,) = _invoices(runtime, account)
    assert (invoice["kind"], invoice["status"], invoice["total"]["amount"]) == ("invoice", "paid", intent["amount"])
    assert [i["status"] for i in _intents(runtime, account)] == ["succeeded"]  # no second charge


# ---------------------------------------------------------------- refunds at the provider


def test_r_pay_12_a_refund_made_at_the_provider_becomes_a_credit_note_over_http(
    runtime: Runtime, paying_account: Callable[..., Owned]
) -> None:
    account = paying_account("hook-refund")
    assert account.invoice is not None
    invoice = account.invoice
    intent = _the_intent(runtime, account, "succeeded")
    total = invoice["total"]["amount"]
    assert intent["amount"] == total
    part = 500

    _dashboard(runtime, "refunds", {"payment_intent": intent["id"], "amount": part})

    (first,) = _eventually(lambda: _credit_notes(runtime, account), "the first credit note")
    assert (first["total"], first["corrects"]) == (
        {"amount": -part, "currency": invoice["total"]["currency"]},
        invoice["id"],
    )

    rest = _dashboard(runtime, "refunds", {"payment_intent": intent["id"]})  # no amount: all that is left
    assert rest["amount"] == total - part

    notes = _eventually(
        lambda: notes if len(notes := _credit_notes(runtime, account)) == 2 else None, "the second credit note"
    )
    second = next(note for note in notes if note["id"] != first["id"])
    assert (second["total"]["amount"], second["corrects"]) == (-(total - part), invoice["id"])
    assert sum(note["total"]["amount"] for note in notes) == -total

    charge_events = _events(runtime, "charge.refunded", intent["latest_charge"])
    assert len(charge_events) == 2
    for event in charge_events:
        _resend(runtime, event["id"])
    _after_deliveries_so_far(runtime, account)

    assert sorted(note["id"] for note in _credit_notes(runtime, account)) == sorted(note["id"] for note in notes)


# ---------------------------------------------------------------- disputes


def test_r_pay_12_a_dispute_reaches_staff_over_http(runtime: Runtime, paying_account: Callable[..., Owned]) -> None:
    account = paying_account("hook-dispute")
    intent = _the_intent(runtime, account, "succeeded")

    dispute = _dashboard(runtime, "disputes", {"payment_intent": intent["id"], "reason": "fraudulent"})

    (to_staff,) = _eventually(lambda: _notices(runtime, account, "dispute_opened"), "the dispute_opened notice")
    assert to_staff["to"] == _staff_email()
    assert account.id in to_staff["body"]
    assert "fraudulent" in to_staff["body"]
    (to_owner,) = _eventually(lambda: _notices(runtime, account, "payment_disputed"), "the payment_disputed notice")
    assert to_owner["to"] == f"{account.tag}@example.com"
    (audited,) = _audit(runtime, account, "payment_disputed")  # written with the notices
    assert audited["details"]["amount"] == dispute["amount"] == intent["amount"]
    # Staff see the dispute on the account; the default dispute policy flags it, not blocks it.
    staff = runtime.token("staff-1", None, "staff")
    seen = runtime.get(account.path(), token=staff)
    assert seen.status_code == 200, seen.text
    flagged = seen.json()
    assert (flagged["status"], flagged["access"]) == ("active", "full")
    shown = flagged["payment_dispute"]
    assert (shown["id"], shown["payment_intent"], shown["reason"]) == (dispute["id"], intent["id"], "fraudulent")
    assert shown["amount"] == {"amount": dispute["amount"], "currency": dispute["currency"].upper()}


# ---------------------------------------------------------------- cards


def test_r_pay_12_a_card_expiring_asks_the_owner_for_a_new_card_over_http(
    runtime: Runtime, paying_account: Callable[..., Owned]
) -> None:
    account = paying_account("hook-expiring")
    shown = _seen(runtime, account)["payment_method"]
    assert shown["type"] == "card"

    _dashboard(runtime, f"payment_methods/{_seen_method_id(runtime, account)}/expiring", {})

    (notice,) = _eventually(lambda: _notices(runtime, account, "card_expiring"), "the card_expiring notice")
    assert notice["to"] == f"{account.tag}@example.com"
    assert f"ending in {shown['last4']}" in notice["body"]
    assert f"{shown['exp_month']:02d}/{shown['exp_year']}" in notice["body"]


# ---------------------------------------------------------------- signatures


@pytest.mark.parametrize("forgery", ["unsigned", "other secret", "stale", "garbage header"])
def test_r_pay_12_an_unsigned_or_forged_webhook_is_400_over_http(
    runtime: Runtime, paying_account: Callable[..., Owned], forgery: str
) -> None:
    account = paying_account("hook-forged")
    intent = _the_intent(runtime, account, "succeeded")
    # A dispute of the account's payment, as the provider would send it, but not signed by it.
    event = {
        "id": f"evt_forged{uuid.uuid4().hex[:16]}",
        "object": "event",
        "type": "charge.dispute.created",
        "created": int(time.time()),
        "livemode": False,
        "data": {
            "object": {
                "id": f"dp_forged{uuid.uuid4().hex[:12]}",
                "object": "dispute",
                "amount": intent["amount"],
                "currency": intent["currency"],
                "charge": intent["latest_charge"],
                "payment_intent": intent["id"],
                "reason": "fraudulent",
                "status": "needs_response",
                "metadata": {"account_id": account.id},
            }
        },
    }
    payload = json.dumps(event).encode()
    now = int(time.time())
    headers = {"Content-Type": "application/json"}
    if forgery == "other secret":
        headers["Stripe-Signature"] = sign(payload, "whsec_someone_else", now)
    elif forgery == "stale":  # the provider's own signature, 301 s old: outside the 300 s window
        headers["Stripe-Signature"] = sign(payload, LOCAL_WEBHOOK_SECRET, now - 301)
    elif forgery == "garbage header":
        headers["Stripe-Signature"] = "v1=abc"

    refused = runtime.request("POST", WEBHOOK, data=payload, headers=headers)

    assert refused.status_code == 400, refused.text
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "invalid_signature"
    # Nothing happened: no notices, no audit event, the account as it was.
    assert _notices(runtime, account, "dispute_opened") == []
    assert _notices(runtime, account, "payment_disputed") == []
    assert _audit(runtime, account, "payment_disputed") == []
    assert _seen(runtime, account)["status"] == "active"
