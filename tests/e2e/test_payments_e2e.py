"""R-PAY-12 over HTTP: a card that needs the card holder's authentication (API.md "Payment tokens",
``tok_threeDSecure2Required``) is not paid: 402 ``authentication_required`` with ``next_action_url``,
the runtime's payment stand-in's page; once authenticated there, the owner's retry is charged once.
The same when the card settles a ``payment_required`` account: the owner's request is on session.
A renewal the billing run charges off session on such a card blocks the account at once, with one
``payment_action_required`` notice linking the web client's billing page.
PayPal pays as a card does, and the account and its invoice say so; a token of another type than
the owner said is refused."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Owned, Runtime, set_clock
from tests.route_examples import billing_details, registrant

pytestmark = pytest.mark.e2e

NEEDS_AUTHENTICATION = {"type": "card", "token": "tok_threeDSecure2Required"}


def _trial_with_details(runtime: Runtime) -> tuple[dict[str, Any], str]:
    tag = uuid.uuid4().hex[:10]
    signed_up = runtime.post("/signups", json=registrant(tag, plan="ticket", billing_period="monthly"))
    assert signed_up.status_code == 201, signed_up.text
    account = signed_up.json()
    owner = runtime.token(account["owner_id"], account["id"], "owner")
    given = runtime.put(f"/accounts/{account['id']}/billing-details", json=billing_details(tag), token=owner)
    assert given.status_code == 200, given.text
    return account, owner


def _intents_of(runtime: Runtime, account_id: str) -> list[dict[str, Any]]:
    """The payment intents the provider holds for the account's customer."""
    customers = [
        c for c in runtime.provider_objects("customers") if c.get("metadata", {}).get("account_id") == account_id
    ]
    intents = []
    for customer in customers:
        intents += runtime.provider_objects("payment_intents", customer=customer["id"])
    return intents


def test_r_pay_12_a_card_needing_authentication_is_402_authentication_required_with_next_action_url_over_http(
    runtime: Runtime,
) -> None:
    account, owner = _trial_with_details(runtime)
    method = f"/accounts/{account['id']}/payment-method"

    needs = runtime.put(method, json=NEEDS_AUTHENTICATION, token=owner)

    assert needs.status_code == 402, needs.text
    assert needs.headers["Content-Type"] == "application/problem+json"
    problem = needs.json()
    assert problem["code"] == "authentication_required"
    url = problem["next_action_url"]
    assert url.startswith(f"{runtime.payments_url}/authenticate/pi_")
    # Not paid: nothing saved, the trial goes on, no invoice.
    assert runtime.get(f"/accounts/{account['id']}", token=owner).json()["status"] == "trialing"
    assert runtime.get(f"/accounts/{account['id']}/invoices", token=owner).json()["items"] == []
    assert [intent["status"] for intent in _intents_of(runtime, account["id"])] == ["requires_action"]

    authenticated = requests.post(url, json={"outcome": "succeeded"}, timeout=30)
    assert authenticated.status_code == 200, authenticated.text

    paid = runtime.put(method, json=NEEDS_AUTHENTICATION, token=owner)
    assert paid.status_code == 200, paid.text
    body = paid.json()
    assert body["account"]["status"] == "active"
    # Charged once: the payment intent the card holder authenticated, for the invoice's total.
    (intent,) = _intents_of(runtime, account["id"])
    assert (intent["status"], intent["amount"]) == ("succeeded", body["invoice"]["total"]["amount"])


def _action_notices(runtime: Runtime, account_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = runtime.get("/_local/outbox").json()["items"]
    return [n for n in items if n["account_id"] == account_id and n["type"] == "payment_action_required"]


def test_r_pay_12_the_owner_gets_one_payment_action_required_notice_with_the_link_over_http(runtime: Runtime) -> None:
    account, owner = _trial_with_details(runtime)
    method = f"/accounts/{account['id']}/payment-method"

    needs = runtime.put(method, json=NEEDS_AUTHENTICATION, token=owner)
    again = runtime.put(method, json=NEEDS_AUTHENTICATION, token=owner)  # before authenticating

    assert (needs.status_code, again.status_code) == (402, 402), again.text
    url = needs.json()["next_action_url"]
    assert again.json()["next_action_url"] == url
    (notice,) = _action_notices(runtime, account["id"])
    assert url in notice["body"]
    assert notice["sent_at"] is not None
    assert "tok_threeDSecure2Required" not in notice["body"]
    listed = runtime.get(f"/accounts/{account['id']}/notifications", token=owner).json()["items"]
    assert [n["id"] for n in listed if n["type"] == "payment_action_required"] == [notice["id"]]


def test_r_pay_12_a_failed_authentication_leaves_the_trial_and_the_retry_is_declined_over_http(
    runtime: Runtime,
) -> None:
    account, owner = _trial_with_details(runtime)
    method = f"/accounts/{account['id']}/payment-method"
    needs = runtime.put(method, json=NEEDS_AUTHENTICATION, token=owner)
    assert needs.status_code == 402, needs.text

    failed = requests.post(needs.json()["next_action_url"], json={"outcome": "failed"}, timeout=30)
    assert failed.status_code == 200, failed.text

    again = runtime.put(method, json=NEEDS_AUTHENTICATION, token=owner)
    assert (again.status_code, again.json()["code"]) == (402, "payment_declined")
    assert runtime.get(f"/accounts/{account['id']}", token=owner).json()["status"] == "trialing"
    assert [intent["status"] for intent in _intents_of(runtime, account["id"])] == ["requires_payment_method"]
    # Another card then pays.
    assert runtime.put(method, json={"type": "card", "token": "tok_visa"}, token=owner).status_code == 200


@pytest.mark.usefixtures("real_time")
def test_r_pay_12_settling_a_payment_required_account_asks_for_authentication_then_the_retry_pays_once_over_http(
    runtime: Runtime, voucher_account: Callable[..., Owned]
) -> None:
    # Near real time, so the run has little else in the shared runtime to bill.
    start = datetime.now(UTC).replace(microsecond=0)
    set_clock(runtime, start)
    made = voucher_account("settle-auth")
    account, owner, tag = made.body, made.owner, made.tag
    for n in (1, 2):  # the second is an extra seat, billed in arrears
        user = {"full_name": "Ana Petrova", "email": f"{tag}-{n}@example.com", "role": "agent"}
        assert runtime.post(f"/accounts/{account['id']}/users", json=user, token=owner).status_code == 201
    set_clock(runtime, start + timedelta(days=32))
    assert runtime.post("/_local/schedules/billing-run", json={}).status_code == 200
    assert runtime.get(f"/accounts/{account['id']}", token=owner).json()["status"] == "payment_required"
    given = runtime.put(f"/accounts/{account['id']}/billing-details", json=billing_details(tag), token=owner)
    assert given.status_code == 200, given.text
    before = runtime.get(f"/accounts/{account['id']}", token=owner).json()
    method = f"/accounts/{account['id']}/payment-method"

    needs = runtime.put(method, json=NEEDS_AUTHENTICATION, token=owner)

    assert needs.status_code == 402, needs.text
    assert needs.headers["Content-Type"] == "application/problem+json"
    assert needs.json()["code"] == "authentication_required"
    url = needs.json()["next_action_url"]
    assert url.startswith(f"{runtime.payments_url}/authenticate/pi_")
    # Not paid: nothing saved, still blocked, no invoice.
    assert runtime.get(f"/accounts/{account['id']}", token=owner).json() == before
    assert before["status"] == "payment_required"
    assert runtime.get(f"/accounts/{account['id']}/invoices", token=owner).json()["items"] == []
    assert [intent["status"] for intent in _intents_of(runtime, account["id"])] == ["requires_action"]

    authenticated = requests.post(url, json={"outcome": "succeeded"}, timeout=30)
    assert authenticated.status_code == 200, authenticated.text

    paid = runtime.put(method, json=NEEDS_AUTHENTICATION, token=owner)

    assert paid.status_code == 200, paid.text
    body = paid.json()
    assert (body["account"]["status"], body["account"]["access"]) == ("active", "full")
    (invoice,) = runtime.get(f"/accounts/{account['id']}/invoices", token=owner).json()["items"]
    assert (invoice["id"], invoice["status"]) == (body["invoice"]["id"], "paid")
    # Charged once: the payment intent the card holder authenticated, for the invoice's total.
    (intent,) = _intents_of(runtime, account["id"])
    assert (intent["status"], intent["amount"]) == ("succeeded", invoice["total"]["amount"])


def _billing_run_twice_at_once(runtime: Runtime) -> list[requests.Response]:
    barrier = threading.Barrier(2)

    def fire(_: int) -> requests.Response:
        barrier.wait(timeout=60)
        return runtime.post("/_local/schedules/billing-run", json={})

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(fire, range(2)))


@pytest.mark.usefixtures("real_time")
def test_r_pay_12_a_renewal_needing_authentication_blocks_at_once_with_one_notice_linking_the_billing_page_over_http(
    runtime: Runtime, paying_account: Callable[..., Owned]
) -> None:
    # Near real time, so the run has little else in the shared runtime to bill.
    start = datetime.now(UTC).replace(microsecond=0)
    made = paying_account("renew-auth", at=start)
    method = made.path("/payment-method")
    # Replacing the method charges nothing, so nothing asks for authentication yet.
    assert runtime.put(method, json=NEEDS_AUTHENTICATION, token=made.owner).status_code == 200
    set_clock(runtime, start + timedelta(days=32))  # the monthly period has ended: its renewal is due

    # Two runs at once, then another: the renewal is charged off session, which the card refuses.
    assert [reply.status_code for reply in _billing_run_twice_at_once(runtime)] == [200, 200]
    assert runtime.post("/_local/schedules/billing-run", json={}).status_code == 200

    seen = runtime.get(made.path(), token=made.owner).json()
    assert (seen["status"], seen["access"]) == ("payment_required", "payment_required")
    (notice,) = _action_notices(runtime, made.id)
    # The runtime's own portal (PortalBaseUrl), where the billing page completes it on session.
    assert f"{runtime.portal_url}/accounts/{made.id}/billing" in notice["body"]
    assert notice["sent_at"] is not None
    outbox = runtime.get("/_local/outbox").json()["items"]
    told = [item["type"] for item in outbox if item["account_id"] == made.id]
    assert "payment_failed" not in told
    assert "payment_required" not in told
    (invoice,) = runtime.get(made.path("/invoices"), token=made.owner).json()["items"]
    assert made.invoice is not None
    assert invoice["id"] == made.invoice["id"]  # only the first period's: the renewal is not paid
    audit = runtime.get(made.path("/audit"), token=made.owner).json()["items"]
    blocked = [item for item in audit if item["type"] == "payment_required"]
    assert [item["details"]["reason"] for item in blocked] == ["authentication_required"]
    # One renewal charge at the provider (the two runs' one key), failed for want of authentication.
    renewal = [intent for intent in _intents_of(runtime, made.id) if intent["status"] != "succeeded"]
    assert [(intent["status"], intent["last_payment_error"]["code"]) for intent in renewal] == [
        ("requires_payment_method", "authentication_required")
    ]

    # On the billing page the owner gives the card again: charged on session, a new attempt.
    needs = runtime.put(method, json=NEEDS_AUTHENTICATION, token=made.owner)

    assert needs.status_code == 402, needs.text
    assert needs.headers["Content-Type"] == "application/problem+json"
    assert needs.json()["code"] == "authentication_required"
    url = needs.json()["next_action_url"]
    assert url.startswith(f"{runtime.payments_url}/authenticate/pi_")
    assert runtime.get(made.path(), token=made.owner).json()["status"] == "payment_required"

    assert requests.post(url, json={"outcome": "succeeded"}, timeout=30).status_code == 200
    paid = runtime.put(method, json=NEEDS_AUTHENTICATION, token=made.owner)

    assert paid.status_code == 200, paid.text
    assert (paid.json()["account"]["status"], paid.json()["account"]["access"]) == ("active", "full")
    assert len(runtime.get(made.path("/invoices"), token=made.owner).json()["items"]) == 2


def test_r_pay_12_paypal_pays_the_first_period_and_the_account_and_invoice_say_paypal_over_http(
    runtime: Runtime,
) -> None:
    account, owner = _trial_with_details(runtime)

    paid = runtime.put(
        f"/accounts/{account['id']}/payment-method", json={"type": "paypal", "token": "tok_paypal_buyer"}, token=owner
    )

    assert paid.status_code == 200, paid.text
    body = paid.json()
    assert (body["type"], body["account"]["status"]) == ("paypal", "active")
    assert body["account"]["payment_method"] == {"type": "paypal"}
    assert runtime.get(f"/accounts/{account['id']}", token=owner).json()["payment_method"] == {"type": "paypal"}
    (invoice,) = runtime.get(f"/accounts/{account['id']}/invoices", token=owner).json()["items"]
    assert (invoice["id"], invoice["status"], invoice["paid_with"]) == (
        body["invoice"]["id"],
        "paid",
        {"type": "paypal"},
    )
    one = runtime.get(f"/accounts/{account['id']}/invoices/{invoice['id']}", token=owner).json()
    assert one["paid_with"] == {"type": "paypal"}
    # The card's path: one confirmed payment intent for the invoice's total, and the receipt.
    (intent,) = _intents_of(runtime, account["id"])
    assert (intent["status"], intent["amount"]) == ("succeeded", invoice["total"]["amount"])
    items: list[dict[str, Any]] = runtime.get("/_local/outbox").json()["items"]
    receipts = [n for n in items if n["account_id"] == account["id"] and n["type"] == "receipt"]
    assert [invoice["number"] in n["body"] for n in receipts] == [True]


def test_r_pay_12_a_card_type_with_a_paypal_token_is_422_on_token_and_saves_nothing_over_http(
    runtime: Runtime,
) -> None:
    account, owner = _trial_with_details(runtime)
    before = runtime.get(f"/accounts/{account['id']}", token=owner).json()

    refused = runtime.put(
        f"/accounts/{account['id']}/payment-method", json={"type": "card", "token": "tok_paypal_buyer"}, token=owner
    )

    assert refused.status_code == 422, refused.text
    assert refused.headers["Content-Type"] == "application/problem+json"
    problem = refused.json()
    assert problem["code"] == "validation_error"
    assert [error["field"] for error in problem["errors"]] == ["token"]
    assert runtime.get(f"/accounts/{account['id']}", token=owner).json() == before
    assert before["payment_method"] is None
    assert runtime.get(f"/accounts/{account['id']}/invoices", token=owner).json()["items"] == []
    assert _intents_of(runtime, account["id"]) == []
