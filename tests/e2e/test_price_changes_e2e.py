"""A price change over HTTP through the local runtime (R-PAY-9): staff schedule it, every
affected owner's notice lands in the local outbox, and the owner reads the coming change."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import Runtime
from tests.route_examples import registrant

pytestmark = pytest.mark.e2e


def test_r_pay_9_a_price_change_notifies_the_owners_of_the_plan(runtime: Runtime) -> None:
    tag = uuid.uuid4().hex[:10]
    # A plan and billing period, and an instant so far ahead, that no other test's prices move.
    affected = runtime.post("/signups", json=registrant(f"price-{tag}", plan="all-inclusive", billing_period="annual"))
    assert affected.status_code == 201, affected.text
    other = runtime.post("/signups", json=registrant(f"other-{tag}", plan="all-inclusive", billing_period="monthly"))
    assert other.status_code == 201, other.text
    effective_at = datetime(2090, 1, 1, tzinfo=UTC) + timedelta(seconds=int(tag[:6], 16))
    staff = runtime.token("staff-1", None, "staff")
    change = {
        "plan": "all-inclusive",
        "billing_period": "annual",
        "price": {"amount": 42_000, "currency": "USD"},
        "effective_at": effective_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }

    owner = runtime.token(affected.json()["owner_id"], affected.json()["id"], "owner")
    assert runtime.post("/admin/prices", json=change, token=owner).status_code == 403
    scheduled = runtime.post("/admin/prices", json=change, token=staff, headers={"Idempotency-Key": f"{tag}-price"})
    assert scheduled.status_code == 201, scheduled.text
    body = scheduled.json()
    assert body["previous_price"] == {"amount": 39_000, "currency": "USD"}
    assert body["notified_accounts"] >= 1

    notices = [
        item
        for item in runtime.get("/_local/outbox").json()["items"]
        if item["type"] == "price_change_notice" and item["account_id"] in (affected.json()["id"], other.json()["id"])
    ]
    assert [item["account_id"] for item in notices] == [affected.json()["id"]]
    assert notices[0]["to"] == f"price-{tag}@example.com"
    assert "420.00 USD per seat a year instead of 390.00 USD per seat a year" in notices[0]["body"]

    coming = runtime.get(f"/accounts/{affected.json()['id']}/price-changes", token=owner)
    assert coming.status_code == 200, coming.text
    assert change["effective_at"] in [item["effective_at"] for item in coming.json()["items"]]
    listed = runtime.get("/admin/prices", token=staff).json()["items"]
    assert body["id"] in [item["id"] for item in listed]
