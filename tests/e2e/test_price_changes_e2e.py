"""A price change over HTTP through the local runtime (R-PAY-9): staff schedule it and get the
answer at once; the Prices stream's PriceFanoutFunction then records every affected owner's
notice, and the owner reads the coming change."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import Runtime
from tests.route_examples import registrant

pytestmark = pytest.mark.e2e

# The stream is polled four times a second; a fan-out of a few owners takes well under this.
FANOUT_DEADLINE_SECONDS = 30.0


def price_notices(runtime: Runtime, account: dict[str, Any], token: str) -> list[dict[str, Any]]:
    reply = runtime.get(f"/accounts/{account['id']}/notifications", token=token)
    assert reply.status_code == 200, reply.text
    return [item for item in reply.json()["items"] if item["type"] == "price_change_notice"]


def fanned_out(runtime: Runtime, change_id: str, token: str) -> dict[str, Any]:
    """The change as staff list it, once its fan-out is complete (polled until the deadline)."""
    deadline = time.monotonic() + FANOUT_DEADLINE_SECONDS
    while True:
        (listed,) = [
            item for item in runtime.get("/admin/prices", token=token).json()["items"] if item["id"] == change_id
        ]
        if listed["fanout"] == "complete":
            return dict(listed)
        assert time.monotonic() < deadline, f"fan-out not complete after {FANOUT_DEADLINE_SECONDS} s: {listed}"
        time.sleep(0.2)


def test_r_pay_9_a_price_change_answers_at_once_then_every_owner_s_notice_is_recorded(runtime: Runtime) -> None:
    tag = uuid.uuid4().hex[:10]
    # A plan and billing period, and an instant so far ahead, that no other test's prices move.
    affected = runtime.post("/signups", json=registrant(f"price-{tag}", plan="all-inclusive", billing_period="annual"))
    assert affected.status_code == 201, affected.text
    second = runtime.post("/signups", json=registrant(f"second-{tag}", plan="all-inclusive", billing_period="annual"))
    assert second.status_code == 201, second.text
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
    started = time.monotonic()
    scheduled = runtime.post("/admin/prices", json=change, token=staff, headers={"Idempotency-Key": f"{tag}-price"})
    answered_in = time.monotonic() - started
    assert scheduled.status_code == 201, scheduled.text
    body = scheduled.json()
    assert body["previous_price"] == {"amount": 39_000, "currency": "USD"}
    assert (body["notified_accounts"], body["fanout"], body["fanout_completed_at"]) == (0, "pending", None)
    assert answered_in < 5, f"POST /admin/prices took {answered_in:.2f} s"

    listed = fanned_out(runtime, body["id"], staff)
    assert listed["notified_accounts"] >= 2  # other tests' all-inclusive annual owners count too
    assert listed["fanout_completed_at"] is not None
    second_owner = runtime.token(second.json()["owner_id"], second.json()["id"], "owner")
    other_owner = runtime.token(other.json()["owner_id"], other.json()["id"], "owner")
    (notice,) = price_notices(runtime, affected.json(), owner)
    assert [item["to"] for item in price_notices(runtime, second.json(), second_owner)] == [f"second-{tag}@example.com"]
    assert price_notices(runtime, other.json(), other_owner) == []
    assert notice["to"] == f"price-{tag}@example.com"
    assert "420.00 USD per seat a year instead of 390.00 USD per seat a year" in notice["body"]

    # The owner's own effective time: the change's, this far ahead of the notice (sent or not).
    coming = runtime.get(f"/accounts/{affected.json()['id']}/price-changes", token=owner)
    assert coming.status_code == 200, coming.text
    (item,) = [item for item in coming.json()["items"] if item["price"]["amount"] == 42_000]
    assert item["effective_at"] == change["effective_at"]
    assert "notice_sent_at" in item
