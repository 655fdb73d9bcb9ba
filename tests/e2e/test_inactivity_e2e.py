"""Inactivity over HTTP through the local runtime, travelling in time (R-TERM-6): after 4
weeks without activity every user of an account is warned once, an account used on day 20
is not, and after 8 weeks the unused account is terminated."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import Runtime
from tests.route_examples import registrant

pytestmark = pytest.mark.e2e

SIGNED_UP = datetime(2041, 2, 1, 8, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _at(runtime: Runtime, instant: datetime) -> None:
    runtime.put("/_local/clock", json={"now": instant.strftime("%Y-%m-%dT%H:%M:%SZ")}).raise_for_status()


def _sweep(runtime: Runtime, **detail: Any) -> dict[str, Any]:
    ran = runtime.post("/_local/schedules/inactivity-sweep", json=detail)
    assert ran.status_code == 200, ran.text
    summary: dict[str, Any] = ran.json()
    assert summary["errors"] == 0
    return summary


def _warnings(runtime: Runtime, account_id: str) -> list[dict[str, Any]]:
    items = runtime.get("/_local/outbox").json()["items"]
    return [item for item in items if item["account_id"] == account_id and item["type"] == "inactivity_warning"]


def _sign_up(runtime: Runtime, tag: str) -> tuple[dict[str, Any], str]:
    signed_up = runtime.post("/signups", json=registrant(tag, plan="ticket", billing_period="monthly"))
    assert signed_up.status_code == 201, signed_up.text
    account = signed_up.json()
    return account, runtime.token(account["owner_id"], account["id"], "owner")


@pytest.mark.usefixtures("real_time")
def test_r_term_6_unused_accounts_are_warned_after_4_weeks_and_terminated_after_8(runtime: Runtime) -> None:
    tag = uuid.uuid4().hex[:10]
    _at(runtime, SIGNED_UP)
    quiet, quiet_owner = _sign_up(runtime, f"quiet-{tag}")
    agent = {"full_name": "Petar Georgiev", "email": f"quiet-{tag}-agent@example.com", "role": "agent"}
    assert runtime.post(f"/accounts/{quiet['id']}/users", json=agent, token=quiet_owner).status_code == 201
    busy, busy_owner = _sign_up(runtime, f"busy-{tag}")
    _at(runtime, SIGNED_UP + 20 * DAY)
    used = runtime.post(f"/accounts/{busy['id']}/sessions", json={"device_id": "laptop"}, token=busy_owner)
    assert used.status_code == 201, used.text

    _at(runtime, SIGNED_UP + 28 * DAY + timedelta(seconds=1))
    preview = _sweep(runtime, dry_run=True)
    assert {"account_id": quiet["id"], "action": "warn"}.items() <= next(
        item for item in preview["would"] if item["account_id"] == quiet["id"]
    ).items()
    assert _warnings(runtime, quiet["id"]) == []
    assert _sweep(runtime)["changed"] >= 1

    warned = _warnings(runtime, quiet["id"])
    assert sorted(item["to"] for item in warned) == sorted([f"quiet-{tag}@example.com", agent["email"]])
    assert "sign in or use the help desk before then" in warned[0]["body"]
    _sweep(runtime)  # a rerun sends no second notice
    assert len(_warnings(runtime, quiet["id"])) == 2

    _at(runtime, SIGNED_UP + 29 * DAY)
    _sweep(runtime)
    assert _warnings(runtime, busy["id"]) == []  # used on day 20: not 4 weeks yet
    assert runtime.get(f"/accounts/{quiet['id']}", token=quiet_owner).json()["status"] == "trialing"

    _at(runtime, SIGNED_UP + 56 * DAY + timedelta(seconds=2))
    _sweep(runtime)
    seen = runtime.get(f"/accounts/{quiet['id']}", token=quiet_owner)
    assert seen.status_code == 200, seen.text
    assert (seen.json()["status"], seen.json()["access"]) == ("terminated", "terminated")
    assert len(_warnings(runtime, quiet["id"])) == 2  # no further notice: the warning said so
    assert runtime.get(f"/accounts/{busy['id']}", token=busy_owner).json()["status"] == "trialing"
