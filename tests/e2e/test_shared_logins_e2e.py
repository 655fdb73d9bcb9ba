"""Shared logins over HTTP through the local runtime (R-USE-1, R-USE-2): three days of one
login used on three devices at once mark the period's fee, which the owner sees, and the
owner's notice lands in the local outbox."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import Runtime
from tests.route_examples import registrant

pytestmark = pytest.mark.e2e

SIGNED_UP = datetime(2031, 3, 5, 10, 0, tzinfo=UTC)


def _at(runtime: Runtime, instant: datetime) -> None:
    runtime.put("/_local/clock", json={"now": instant.strftime("%Y-%m-%dT%H:%M:%SZ")}).raise_for_status()


@pytest.mark.usefixtures("real_time")
def test_r_use_2_three_days_of_shared_use_mark_a_pending_fee_and_notify_the_owner(runtime: Runtime) -> None:
    tag = uuid.uuid4().hex[:10]
    _at(runtime, SIGNED_UP)
    signup = runtime.post(
        "/signups",
        json=registrant(f"shared-{tag}", company_name=f"Shared {tag}", subdomain=f"shared-{tag}", plan="ticket"),
    )
    assert signup.status_code == 201, signup.text
    account = signup.json()
    owner = runtime.token(account["owner_id"], account["id"], "owner")

    for day in (1, 3, 5):
        for minutes, device in ((0, "laptop-maria"), (4, "laptop-ivan"), (8, "phone-petya")):
            _at(runtime, SIGNED_UP + timedelta(days=day, minutes=minutes))
            session = runtime.post(f"/accounts/{account['id']}/sessions", json={"device_id": device}, token=owner)
            assert session.status_code == 201, session.text

    listed = runtime.get(f"/accounts/{account['id']}/shared-logins", token=owner)
    assert listed.status_code == 200, listed.text
    (fee,) = listed.json()["fees"]
    assert (fee["period"], fee["status"], fee["amount"]) == (
        "2031-03-05",
        "pending",
        {"amount": 3900, "currency": "USD"},
    )
    assert [item["day"] for item in listed.json()["detections"]] == ["2031-03-10", "2031-03-08", "2031-03-06"]
    assert listed.json()["detections"][0]["devices"] == ["laptop-ivan", "laptop-maria", "phone-petya"]

    outbox = runtime.get("/_local/outbox").json()["items"]
    (notice,) = [
        item for item in outbox if item["account_id"] == account["id"] and item["type"] == "shared_login_detected"
    ]
    assert (notice["id"], notice["to"]) == (fee["notice_id"], f"shared-{tag}@example.com")
    assert "39.00 USD" in notice["body"]
    agent = runtime.token("usr_agent", account["id"], "agent")
    assert runtime.get(f"/accounts/{account['id']}/shared-logins", token=agent).status_code == 403
