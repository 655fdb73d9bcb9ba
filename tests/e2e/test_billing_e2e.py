"""Billing details over HTTP through the local runtime: a trial owner gives them (R-VOUCH-8),
with an EU VAT ID that is normalised and applies from now (R-PAY-14), and reads them back."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.conftest import Runtime, registrant

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
        "vat_id": "el 123.456.789",
    }
    wrong = runtime.put(path, json={**body, "vat_id": "GR123456789"}, token=owner)
    assert (wrong.status_code, wrong.json()["code"]) == (422, "invalid_vat_id")

    stored = runtime.put(path, json=body, token=owner, headers={"Idempotency-Key": f"{tag}-details"})
    assert stored.status_code == 200, stored.text
    assert stored.json()["vat_id"] == "EL123456789"
    assert stored.json()["applies_from"].endswith("Z")
    read = runtime.get(path, token=owner)
    assert (read.status_code, read.json()) == (200, stored.json())
