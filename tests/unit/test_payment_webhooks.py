"""``POST /webhooks/payments`` over moto with the payment stand-in: signatures (valid, tampered,
another secret, outside the replay window), a payment the card holder authenticated after the
owner's 402 finished by its webhook (R-PAY-12), duplicates and the owner's retry in either order,
a failed authentication, a late payment for an account that ended (refunded), a late credit
purchase. The stand-in's events are delivered here by the test, as the provider would send them.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from lifecycle.billing import payments, webhooks
from lifecycle.core import clock
from lifecycle.core.money import Money
from lifecycle.core.settings import get_settings
from lifecycle.storage import Account, Claim, Invoice
from local_runtime.payment_standin import LOCAL_WEBHOOK_SECRET, SignedEvent, sign
from tests.conftest import ledger, payment_standin, point_service_at
from tests.support import STAFF, Reply, call, outbox_items, owner_of, pay, run_schedule
from tests.unit.test_signup import TRIAL

pytestmark = pytest.mark.usefixtures("world", "provider_ledger", "outbox")

WEBHOOK = "/webhooks/payments"


@pytest.fixture
def account() -> dict[str, Any]:
    reply = call("POST", "/signups", body=TRIAL)  # the ticket plan, monthly
    assert reply.status == 201, reply.body
    return dict(reply.body)


def deliver(event: SignedEvent, *, payload: str | None = None, signature: str | None = None) -> Reply:
    """The event as the provider sends it: its body, signed now (each delivery is signed anew)."""
    body = payload if payload is not None else event.payload
    header = signature if signature is not None else sign(body.encode(), LOCAL_WEBHOOK_SECRET, int(time.time()))
    return call("POST", WEBHOOK, raw_body=body.encode(), headers={"stripe-signature": header})


def events(kind: str) -> list[SignedEvent]:
    return [event for event in ledger().book().webhooks if event.type == kind]


AUTHENTICATION = "tok_threeDSecure2Required"  # API.md's public test token


def authenticated(account: dict[str, Any], outcome: str = "succeeded") -> str:
    """The owner's card asks for authentication (402), and the card holder gives it at the link."""
    reply = pay(account, token=AUTHENTICATION)
    assert (reply.status, reply.code) == (402, "authentication_required"), reply.body
    url = reply.body["next_action_url"]
    assert requests.post(url, json={"outcome": outcome}, timeout=10).status_code == 200
    return url.rsplit("/", 1)[-1]  # the payment intent's id


def invoices_of(account: dict[str, Any]) -> list[Invoice]:
    return list(Invoice.query(account["id"]))


def receipts(outbox: Path) -> list[dict[str, Any]]:
    return [item for item in outbox_items(outbox) if item["type"] == "receipt"]


# ---------------------------------------------------------------- signatures


@pytest.mark.parametrize(
    "forgery",
    ["unsigned", "tampered", "other secret", "stale", "garbage header"],
)
def test_r_pay_12_an_unsigned_badly_signed_or_stale_event_is_400_and_changes_nothing(
    account: dict[str, Any], forgery: str
) -> None:
    intent = authenticated(account)
    (event,) = events("payment_intent.succeeded")
    now = int(time.time())
    if forgery == "unsigned":
        reply = call("POST", WEBHOOK, raw_body=event.payload.encode())
    elif forgery == "tampered":
        # A valid signature over the original, sent with a changed amount.
        signature = sign(event.payload.encode(), LOCAL_WEBHOOK_SECRET, now)
        reply = deliver(event, payload=event.payload.replace('"amount":1900', '"amount":1'), signature=signature)
    elif forgery == "other secret":
        reply = deliver(event, signature=sign(event.payload.encode(), "whsec_someone_else", now))
    elif forgery == "stale":
        # Signed 301 s ago: outside the 300 s window, a replay of a captured delivery.
        reply = deliver(event, signature=sign(event.payload.encode(), LOCAL_WEBHOOK_SECRET, now - 301))
    else:
        reply = deliver(event, signature="v1=abc")

    assert (reply.status, reply.code) == (400, "invalid_signature")
    assert reply.headers["content-type"].startswith("application/problem+json")
    stored = Account.get(account["id"])
    assert (stored.status, stored.has_payment_method) == ("trialing", False)
    assert invoices_of(account) == []
    assert [c.claim for c in Claim.scan() if c.claim.startswith("payment-event#")] == []
    assert intent.startswith("pi_")


def test_r_pay_12_a_signed_body_that_is_no_event_is_400() -> None:
    body = '{"hello": "world"}'
    reply = call(
        "POST",
        WEBHOOK,
        raw_body=body.encode(),
        headers={"stripe-signature": sign(body.encode(), LOCAL_WEBHOOK_SECRET, int(time.time()))},
    )
    assert (reply.status, reply.code) == (400, "invalid_signature")


def test_r_pay_12_an_event_of_a_type_the_service_does_not_use_is_acknowledged_and_ignored(
    account: dict[str, Any],
) -> None:
    pay(account)
    (created,) = events("customer.created")

    reply = deliver(created)

    assert (reply.status, reply.body) == (200, {"received": True, "outcome": "ignored"})


# ---------------------------------------------------------------- a payment confirmed late


def test_r_pay_12_a_card_authenticated_after_the_402_is_settled_by_its_webhook(
    account: dict[str, Any], outbox: Path
) -> None:
    intent = authenticated(account)
    assert Account.get(account["id"]).status == "trialing"  # not paid until the provider says so
    (event,) = events("payment_intent.succeeded")

    reply = deliver(event)

    assert (reply.status, reply.body) == (200, {"received": True, "outcome": "applied"})
    stored = Account.get(account["id"])
    assert (stored.status, stored.has_payment_method, stored.access_blocked_reason) == ("active", True, None)
    (invoice,) = invoices_of(account)
    assert (invoice.status, invoice.charge_id, invoice.total) == ("paid", intent, 1900)
    assert stored.last_invoice_id == invoice.invoice_id
    # The method it was paid with is the account's now, shown as the request would have stored it.
    shown = {"type": "card", "brand": "visa", "last4": "3220", "exp_month": 12, "exp_year": 2034}
    assert (stored.payment_method_display, invoice.paid_with) == (shown, shown)
    assert [r["to"] for r in receipts(outbox)] == [stored.owner_email]
    assert [charge.id for charge in ledger().charges()] == [intent]  # paid once: no second charge
    assert Claim.get("payment-event#" + event.event_id).account_id == account["id"]


def test_r_pay_12_the_same_event_delivered_again_changes_nothing(account: dict[str, Any], outbox: Path) -> None:
    authenticated(account)
    (event,) = events("payment_intent.succeeded")

    outcomes = [deliver(event).body["outcome"] for _ in range(3)]

    assert outcomes == ["applied", "duplicate", "duplicate"]
    assert len(invoices_of(account)) == 1
    assert len(receipts(outbox)) == 1
    assert len(ledger().charges()) == 1


def test_r_pay_12_the_owners_retry_then_the_webhook_pay_and_invoice_once(account: dict[str, Any], outbox: Path) -> None:
    authenticated(account)
    retried = pay(account, token=AUTHENTICATION)
    assert retried.status == 200, retried.body
    (event,) = events("payment_intent.succeeded")

    reply = deliver(event)

    assert (reply.status, reply.body["outcome"]) == (200, "applied")  # recorded; its effect was made already
    assert len(invoices_of(account)) == 1
    assert len(receipts(outbox)) == 1
    assert len(ledger().charges()) == 1


def test_r_pay_12_the_webhook_then_the_owners_retry_pay_and_invoice_once(account: dict[str, Any], outbox: Path) -> None:
    authenticated(account)
    (event,) = events("payment_intent.succeeded")
    assert deliver(event).body["outcome"] == "applied"

    retried = pay(account, token=AUTHENTICATION)

    # The account is active with the card now: the same card again replaces nothing.
    assert retried.status == 200, retried.body
    assert len(invoices_of(account)) == 1
    assert len(receipts(outbox)) == 1
    assert len(ledger().charges()) == 1


def test_r_pay_12_events_in_any_order_apply_once(account: dict[str, Any]) -> None:
    """The success before the waiting-for-action and created events it follows, then those."""
    authenticated(account)
    kept = ledger().book().webhooks
    succeeded = [e for e in kept if e.type == "payment_intent.succeeded"]
    earlier = [e for e in kept if e.type.startswith("payment_intent.") and e not in succeeded]

    outcomes = [deliver(event).body["outcome"] for event in succeeded + earlier + succeeded]

    assert outcomes[0] == "applied"
    assert outcomes[-1] == "duplicate"
    assert Account.get(account["id"]).status == "active"
    assert len(invoices_of(account)) == 1


def test_r_pay_12_a_failed_authentication_changes_nothing(account: dict[str, Any], outbox: Path) -> None:
    authenticated(account, outcome="failed")
    (event,) = events("payment_intent.payment_failed")

    reply = deliver(event)

    assert (reply.status, reply.body["outcome"]) == (200, "applied")
    stored = Account.get(account["id"])
    assert (stored.status, stored.has_payment_method) == ("trialing", False)
    assert invoices_of(account) == []
    assert receipts(outbox) == []
    assert ledger().charges() == []


def test_r_pay_12_a_late_payment_for_an_account_that_ended_meanwhile_is_refunded_once_its_request_is_over(
    account: dict[str, Any],
) -> None:
    intent = authenticated(account)
    assert call("POST", f"/accounts/{account['id']}/cancel", claims=owner_of(account)).status == 200
    (event,) = events("payment_intent.succeeded")

    # Within the time its request could still be running, the payment is left to it: 503, and
    # the provider delivers the event again later.
    early = deliver(event)
    assert (early.status, early.code) == (503, "service_unavailable")
    assert ledger().refunds() == []
    clock.set_now(clock.now() + timedelta(seconds=webhooks.IN_FLIGHT_SECONDS + 1))
    reply = deliver(event)

    assert (reply.status, reply.body["outcome"]) == (200, "applied")
    assert invoices_of(account) == []
    assert Account.get(account["id"]).status == "cancelled"
    assert [(refund.charge_id, refund.amount.amount) for refund in ledger().refunds()] == [(intent, 1900)]
    assert deliver(event).body["outcome"] == "duplicate"
    assert len(ledger().refunds()) == 1


def test_r_pay_12_r_credit_1_credit_bought_with_a_card_needing_authentication_is_topped_up_by_the_webhook(
    account: dict[str, Any],
) -> None:
    authenticated(account)
    (trial_paid,) = events("payment_intent.succeeded")
    assert deliver(trial_paid).body["outcome"] == "applied"
    bought = call(
        "POST",
        f"/accounts/{account['id']}/credit",
        body={"amount": {"amount": 5000, "currency": "USD"}},
        claims=owner_of(account),
        headers={"idempotency-key": "credit-1"},
    )
    assert (bought.status, bought.code) == (402, "authentication_required"), bought.body
    assert requests.post(bought.body["next_action_url"], json={"outcome": "succeeded"}, timeout=10).status_code == 200
    assert int(Account.get(account["id"]).credit_balance or 0) == 0
    (_, credit_paid) = events("payment_intent.succeeded")

    reply = deliver(credit_paid)

    assert reply.body["outcome"] == "applied"
    assert int(Account.get(account["id"]).credit_balance or 0) == 5000
    credit_invoices = [i for i in invoices_of(account) if i.purpose.startswith("prepaid-credit#")]
    assert [(i.status, i.subtotal) for i in credit_invoices] == [("paid", 5000)]
    assert deliver(credit_paid).body["outcome"] == "duplicate"
    assert int(Account.get(account["id"]).credit_balance or 0) == 5000


def test_r_pay_12_r_pay_5_an_upgrade_authenticated_after_the_402_is_applied_as_priced_by_the_webhook() -> None:
    annual = call("POST", "/signups", body={**TRIAL, "billing_period": "annual"})
    assert annual.status == 201, annual.body
    account = dict(annual.body)
    authenticated(account)
    (trial_paid,) = events("payment_intent.succeeded")
    assert deliver(trial_paid).body["outcome"] == "applied"
    clock.set_now(clock.now() + timedelta(days=10))
    upgrade = call(
        "PUT", f"/accounts/{account['id']}/subscription", body={"plan": "ticket-chat"}, claims=owner_of(account)
    )
    assert (upgrade.status, upgrade.code) == (402, "authentication_required"), upgrade.body
    assert Account.get(account["id"]).plan == "ticket"
    assert requests.post(upgrade.body["next_action_url"], json={"outcome": "succeeded"}, timeout=10).status_code == 200
    (_, upgrade_paid) = events("payment_intent.succeeded")
    clock.set_now(clock.now() + timedelta(minutes=3))  # the card holder took a while

    reply = deliver(upgrade_paid)

    assert reply.body["outcome"] == "applied"
    assert Account.get(account["id"]).plan == "ticket-chat"
    (proration,) = [i for i in invoices_of(account) if i.purpose.startswith("change#")]
    paid_intent = upgrade_paid.payload.split('"id":"', 2)[2].split('"', 1)[0]
    assert (proration.status, proration.charge_id) == ("paid", paid_intent)
    assert len(ledger().charges()) == 2


# ---------------------------------------------------------------- processing, refunds, disputes, cards


def paid(account: dict[str, Any], token: str = "tok_visa") -> str:  # noqa: S107
    """The trial ended by a card that is charged at once; the first period's payment intent."""
    reply = pay(account, token=token)
    assert reply.status == 200, reply.body
    (invoice,) = invoices_of(account)
    return str(invoice.charge_id)


def test_r_pay_12_a_payment_still_processing_is_not_paid_until_its_webhook_says_it_succeeded(
    account: dict[str, Any], outbox: Path
) -> None:
    reply = pay(account, token="tok_processing")
    assert (reply.status, reply.code) == (503, "payment_processing")
    (processing,) = events("payment_intent.processing")
    assert deliver(processing).body["outcome"] == "applied"
    assert Account.get(account["id"]).status == "trialing"  # still pending: nothing paid
    assert invoices_of(account) == []
    intent = json.loads(processing.payload)["data"]["object"]["id"]

    payment_standin().dashboard_settle(ledger().api_key, intent, "succeeded")
    (succeeded,) = events("payment_intent.succeeded")
    reply = deliver(succeeded)

    assert reply.body["outcome"] == "applied"
    assert Account.get(account["id"]).status == "active"
    (invoice,) = invoices_of(account)
    assert (invoice.status, invoice.charge_id) == ("paid", intent)
    assert len(receipts(outbox)) == 1


def test_r_pay_12_a_payment_processing_that_fails_leaves_the_trial_as_it_was(account: dict[str, Any]) -> None:
    assert pay(account, token="tok_processing").code == "payment_processing"
    intent = json.loads(events("payment_intent.processing")[0].payload)["data"]["object"]["id"]

    payment_standin().dashboard_settle(ledger().api_key, intent, "failed")
    (failed,) = events("payment_intent.payment_failed")

    assert deliver(failed).body["outcome"] == "applied"
    assert Account.get(account["id"]).status == "trialing"
    assert invoices_of(account) == []


def test_r_pay_12_r_pay_13_a_refund_made_at_the_provider_gets_a_credit_note_for_its_amount(
    account: dict[str, Any],
) -> None:
    intent = paid(account)
    (invoice,) = invoices_of(account)
    payment_standin().dashboard_refund(ledger().api_key, intent, amount=500)
    (refunded,) = events("charge.refunded")

    reply = deliver(refunded)

    assert reply.body["outcome"] == "applied"
    (note,) = [i for i in invoices_of(account) if i.kind == "credit_note"]
    assert (note.total, note.corrects, note.number.startswith("CN-")) == (-500, invoice.invoice_id, True)
    assert note.subtotal + note.tax == -500
    assert note.billing_details == invoice.billing_details
    assert deliver(refunded).body["outcome"] == "duplicate"
    assert len([i for i in invoices_of(account) if i.kind == "credit_note"]) == 1


def test_r_pay_12_a_credit_note_splits_a_refund_into_net_and_vat_as_its_invoice_did(
    account: dict[str, Any],
) -> None:
    intent = paid(account)
    (invoice,) = invoices_of(account)
    payment_standin().dashboard_refund(ledger().api_key, intent)  # all of it
    (refunded,) = events("charge.refunded")

    deliver(refunded)

    (note,) = [i for i in invoices_of(account) if i.kind == "credit_note"]
    assert (note.subtotal, note.tax, note.total) == (-invoice.subtotal, -invoice.tax, -invoice.total)
    assert note.tax_rate_basis_points == invoice.tax_rate_basis_points


def test_r_pay_12_a_refund_the_service_made_itself_gets_no_second_credit_note(account: dict[str, Any]) -> None:
    intent = paid(account)

    payments.provider_for(get_settings()).refund(intent, Money(amount=300), idempotency_key="refund:test")
    (refunded,) = events("charge.refunded")

    assert deliver(refunded).body["outcome"] == "applied"
    assert [i for i in invoices_of(account) if i.kind == "credit_note"] == []


def test_r_pay_12_a_dispute_flags_the_account_for_staff_and_tells_staff_and_the_owner(
    account: dict[str, Any], outbox: Path
) -> None:
    intent = paid(account)
    payment_standin().dashboard_dispute(ledger().api_key, intent)
    (disputed,) = events("charge.dispute.created")

    reply = deliver(disputed)

    assert reply.body["outcome"] == "applied"
    stored = Account.get(account["id"])
    assert stored.status == "active"  # the default policy flags only
    seen = call("GET", f"/accounts/{account['id']}", claims=STAFF).body["payment_dispute"]
    assert (seen["payment_intent"], seen["amount"]["amount"], seen["reason"]) == (intent, 1900, "fraudulent")
    told = {n["type"]: n["to"] for n in outbox_items(outbox) if n["type"] in ("dispute_opened", "payment_disputed")}
    assert told == {"dispute_opened": get_settings().staff_email, "payment_disputed": stored.owner_email}
    assert deliver(disputed).body["outcome"] == "duplicate"
    assert len([n for n in outbox_items(outbox) if n["type"] == "dispute_opened"]) == 1


def test_r_pay_12_with_the_suspend_policy_a_dispute_suspends_the_account_until_staff_decide(
    account: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    intent = paid(account)
    point_service_at({"DISPUTE_POLICY": "suspend"}, monkeypatch)
    payment_standin().dashboard_dispute(ledger().api_key, intent)
    (disputed,) = events("charge.dispute.created")

    deliver(disputed)

    stored = Account.get(account["id"])
    assert (stored.status, stored.access_blocked_reason, stored.status_reason) == (
        "suspended",
        "suspended",
        "payment_disputed",
    )
    reinstated = call(
        "POST",
        f"/admin/accounts/{account['id']}/reinstate",
        body={"reason": "resolved", "details": "The dispute was decided in our favour."},
        claims=STAFF,
    )
    assert reinstated.status == 200, reinstated.body
    assert Account.get(account["id"]).status == "active"


def test_r_pay_12_a_card_expiring_asks_the_owner_for_a_new_card(account: dict[str, Any], outbox: Path) -> None:
    paid(account)
    method = Account.get(account["id"]).payment_method_ref
    payment_standin().dashboard_card_expiring(ledger().api_key, str(method))
    (expiring,) = events("customer.source.expiring")

    assert deliver(expiring).body["outcome"] == "applied"

    (notice,) = [n for n in outbox_items(outbox) if n["type"] == "card_expiring"]
    assert notice["to"] == Account.get(account["id"]).owner_email
    assert "4242" in notice["body"]
    assert deliver(expiring).body["outcome"] == "duplicate"


def test_r_pay_12_a_card_the_network_updated_is_told_to_the_owner(account: dict[str, Any], outbox: Path) -> None:
    paid(account)
    method = Account.get(account["id"]).payment_method_ref
    payment_standin().dashboard_card_updated(ledger().api_key, str(method), 8, 2031, last4="1881")
    (updated,) = events("payment_method.automatically_updated")

    assert deliver(updated).body["outcome"] == "applied"

    (notice,) = [n for n in outbox_items(outbox) if n["type"] == "card_updated"]
    assert "1881" in notice["body"]
    assert "08/2031" in notice["body"]


def test_r_pay_12_a_card_event_for_a_method_the_account_no_longer_charges_is_ignored(
    account: dict[str, Any], outbox: Path
) -> None:
    paid(account)
    old = Account.get(account["id"]).payment_method_ref
    replaced = call(
        "PUT",
        f"/accounts/{account['id']}/payment-method",
        body={"type": "card", "token": "tok_mastercard"},
        claims=owner_of(account),
    )
    assert replaced.status == 200, replaced.body
    payment_standin().dashboard_card_expiring(ledger().api_key, str(old))
    (expiring,) = events("customer.source.expiring")

    assert deliver(expiring).body["outcome"] == "ignored"
    assert [n for n in outbox_items(outbox) if n["type"] == "card_expiring"] == []


def test_r_pay_12_a_renewal_decline_the_run_recorded_is_not_charged_or_counted_again_by_its_webhook(
    account: dict[str, Any], outbox: Path
) -> None:
    paid(account)
    replaced = call(
        "PUT",
        f"/accounts/{account['id']}/payment-method",
        body={"type": "card", "token": "tok_chargeDeclined"},
        claims=owner_of(account),
    )
    assert replaced.status == 200, replaced.body
    clock.set_now(Account.get(account["id"]).period_end + timedelta(minutes=1))
    run_schedule("billing-run")
    assert int(Account.get(account["id"]).charge_attempts) == 1
    intents = len(ledger().book().payment_intents)
    (failed,) = events("payment_intent.payment_failed")

    assert deliver(failed).body["outcome"] == "applied"

    assert int(Account.get(account["id"]).charge_attempts) == 1
    assert len(ledger().book().payment_intents) == intents
    assert len([n for n in outbox_items(outbox) if n["type"] == "payment_failed"]) == 1
