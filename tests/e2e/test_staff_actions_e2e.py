"""Staff suspend, reinstate and terminate over HTTP through the local runtime (R-TERM-4,
R-TERM-5): the owner is warned first and blocked, reinstated and told, and a suspected fraud
is terminated without a warning, its evidence shown to staff only."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.conftest import Runtime
from tests.route_examples import registrant

pytestmark = pytest.mark.e2e

EVIDENCE = [{"kind": "chargeback", "description": "Card reported stolen", "reference": "ch_e2e_1"}]


def _notices(runtime: Runtime, account_id: str) -> list[str]:
    items = runtime.get("/_local/outbox").json()["items"]
    return [item["type"] for item in items if item["account_id"] == account_id]


def _audit(runtime: Runtime, account_id: str, token: str) -> dict[str, Any]:
    log = runtime.get(f"/accounts/{account_id}/audit", token=token)
    assert log.status_code == 200, log.text
    return {item["type"]: item for item in log.json()["items"]}


def test_r_term_4_r_term_5_staff_suspend_reinstate_and_terminate_an_account(runtime: Runtime) -> None:
    tag = uuid.uuid4().hex[:10]
    signed_up = runtime.post("/signups", json=registrant(tag, plan="ticket", billing_period="monthly"))
    assert signed_up.status_code == 201, signed_up.text
    account = signed_up.json()
    owner = runtime.token(account["owner_id"], account["id"], "owner")
    staff = runtime.token("staff-1", None, "staff")
    admin = f"/admin/accounts/{account['id']}"

    suspended = runtime.post(
        f"{admin}/suspend", json={"reason": "terms_violation", "details": "SUP-1: spam"}, token=staff
    )
    assert suspended.status_code == 200, suspended.text
    assert "suspension_warning" in _notices(runtime, account["id"])
    seen = runtime.get(f"/accounts/{account['id']}", token=owner).json()
    assert (seen["status"], seen["access"]) == ("suspended", "suspended")
    used = runtime.post(f"/accounts/{account['id']}/sessions", json={"device_id": "laptop"}, token=owner)
    assert (used.status_code, used.json()["code"]) == (403, "account_blocked")

    reinstated = runtime.post(f"{admin}/reinstate", json={"reason": "resolved", "details": "SUP-1 closed"}, token=staff)
    assert reinstated.status_code == 200, reinstated.text
    seen = runtime.get(f"/accounts/{account['id']}", token=owner).json()
    assert (seen["status"], seen["access"]) == ("trialing", "full")
    assert "account_reinstated" in _notices(runtime, account["id"])

    unproven = runtime.post(f"{admin}/terminate", json={"reason": "fraud", "details": "stolen card"}, token=staff)
    assert (unproven.status_code, unproven.json()["code"]) == (422, "validation_error")
    terminated = runtime.post(
        f"{admin}/terminate", json={"reason": "fraud", "details": "stolen card", "evidence": EVIDENCE}, token=staff
    )
    assert terminated.status_code == 200, terminated.text
    assert terminated.json()["notice"] is None
    assert "termination_warning" not in _notices(runtime, account["id"])  # fraud: no warning
    seen = runtime.get(f"/accounts/{account['id']}", token=owner).json()
    assert (seen["status"], seen["access"]) == ("terminated", "terminated")
    again = runtime.post(
        f"{admin}/terminate", json={"reason": "fraud", "details": "stolen card", "evidence": EVIDENCE}, token=staff
    )
    assert (again.status_code, again.json()["code"]) == (409, "conflict")

    owners_view = _audit(runtime, account["id"], owner)["account_terminated"]
    assert owners_view["details"]["warning_skipped"] == "fraud"
    assert "evidence" not in owners_view["details"]
    staff_view = _audit(runtime, account["id"], staff)["account_terminated"]
    assert staff_view["details"]["evidence"]["items"] == EVIDENCE
