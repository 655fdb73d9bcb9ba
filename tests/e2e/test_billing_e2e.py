"""Billing details over HTTP through the local runtime: a trial owner gives them (R-VOUCH-8),
with an EU VAT ID that is normalised and applies from now (R-PAY-14), and reads them back."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.conftest import Runtime
from tests.route_examples import registrant

pytestmark = pytest.mark.e2e


def test_r_vouch_8_r_pay_14_an_owner_gives_billing_details_and_reads_them(runtime: Runtime) -> None:
    tag = uuid.uuid4().hex[:10]
    signed_up = runtime.post("/signups", json=registrant(tag, plan="ticket", billing_period="monthly"))
    assert signed_up.status_code == 201, signed_up.text
    account = signed_up.json()
    owner = runtime.token(account["owner_id"], account["id"], "owner")
    path = f"/accounts/{account['id']}/billing-details"
    assert runtime.get(path, token=owner).status_code == 404

    body = {
        "first_name": "Maria",
        "last_name": "Ivanova",
        "email": f"{tag}-billing@example.com",
        "company": f"Company {tag}",
        "address": {"street": "10 Main St", "city": "Athens", "postal_code": "10557", "country": "GR"},
        "vat_id": "el 094.259.216",
    }
    wrong = runtime.put(path, json={**body, "vat_id": "GR094259216"}, token=owner)
    assert (wrong.status_code, wrong.json()["code"]) == (422, "invalid_vat_id")

    stored = runtime.put(path, json=body, token=owner, headers={"Idempotency-Key": f"{tag}-details"})
    assert stored.status_code == 200, stored.text
    assert stored.json()["vat_id"] == "EL094259216"
    assert stored.json()["applies_from"].endswith("Z")
    read = runtime.get(path, token=owner)
    assert (read.status_code, read.json()) == (200, stored.json())


def _details(tag: str) -> dict[str, object]:
    return {
        "first_name": "Petar",
        "last_name": "Petrov",
        "email": f"{tag}-billing@example.com",
        "company": f"Company {tag}",
        "address": {"street": "1 Vitosha Blvd", "city": "Sofia", "postal_code": "1000", "country": "BG"},
        "company_registration": "175074752",
    }


def test_r_pay_4_r_pay_11_a_card_ends_the_trial_with_a_charge_an_invoice_and_a_receipt(runtime: Runtime) -> None:
    tag = uuid.uuid4().hex[:10]
    signed_up = runtime.post("/signups", json=registrant(tag, plan="ticket-chat", billing_period="monthly"))
    assert signed_up.status_code == 201, signed_up.text
    account = signed_up.json()
    owner = runtime.token(account["owner_id"], account["id"], "owner")
    method = f"/accounts/{account['id']}/payment-method"

    early = runtime.put(method, json={"type": "card", "token": "tok_visa"}, token=owner)
    assert (early.status_code, early.json()["code"]) == (409, "billing_details_required")
    assert runtime.put(f"/accounts/{account['id']}/billing-details", json=_details(tag), token=owner).status_code == 200

    declined = runtime.put(method, json={"type": "card", "token": "tok_chargeDeclined"}, token=owner)
    assert (declined.status_code, declined.json()["code"]) == (402, "payment_declined")
    assert runtime.get(f"/accounts/{account['id']}", token=owner).json()["status"] == "trialing"

    paid = runtime.put(method, json={"type": "card", "token": "tok_visa"}, token=owner)
    assert paid.status_code == 200, paid.text
    body = paid.json()
    assert body["account"]["status"] == "active"
    invoice = body["invoice"]
    # A Bulgarian consumer of a Slovak vendor without a VAT ID: Bulgaria's 20 % on 29.00.
    assert (invoice["subtotal"]["amount"], invoice["tax"]["amount"], invoice["total"]["amount"]) == (2900, 580, 3480)
    assert invoice["lines"][0]["rule"] == "R-PAY-4"

    listed = runtime.get(f"/accounts/{account['id']}/invoices", token=owner).json()["items"]
    assert [item["number"] for item in listed] == [invoice["number"]]
    receipts = [
        notice
        for notice in runtime.get("/_local/outbox").json()["items"]
        if notice["account_id"] == account["id"] and notice["type"] == "receipt"
    ]
    assert len(receipts) == 1
    assert invoice["number"] in receipts[0]["body"]
    assert "34.80 USD" in receipts[0]["body"]
