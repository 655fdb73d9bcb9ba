"""Cancellation asked by email over HTTP through the local runtime (R-TERM-2, R-TERM-1):
recorded pending, confirmed by staff, the account cancelled and its owner told."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.conftest import Runtime
from tests.route_examples import registrant

pytestmark = pytest.mark.e2e


def test_r_term_2_r_term_1_an_emailed_cancellation_confirmed_by_staff_cancels_the_account(runtime: Runtime) -> None:
    tag = uuid.uuid4().hex[:10]
    signed_up = runtime.post("/signups", json=registrant(tag, plan="ticket", billing_period="monthly"))
    assert signed_up.status_code == 201, signed_up.text
    account = signed_up.json()
    owner = runtime.token(account["owner_id"], account["id"], "owner")
    staff = runtime.token("staff-1", None, "staff")

    asked = runtime.post(f"/accounts/{account['id']}/cancellation-requests", token=owner)
    assert asked.status_code == 202, asked.text
    assert asked.json()["status"] == "pending"
    assert asked.json()["due_by"].endswith(":59:59Z")  # a Bratislava day's end (test_calendar_e2e.py)

    confirmed = runtime.post(f"/admin/cancellation-requests/{asked.json()['request_id']}/confirm", token=staff)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "confirmed"

    seen = runtime.get(f"/accounts/{account['id']}", token=owner).json()
    assert (seen["status"], seen["access"]) == ("cancelled", "cancelled")
    outbox = runtime.get("/_local/outbox").json()["items"]
    told = [item["type"] for item in outbox if item["account_id"] == account["id"]]
    assert "cancellation_confirmed" in told
