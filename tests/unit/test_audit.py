"""The audit log over moto (``GET /accounts/{id}/audit``): lifecycle events and support
staff's accesses to account data, for the owner (R-USE-4)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from lifecycle.accounts import audit
from lifecycle.core import clock
from lifecycle.storage import AuditEvent
from tests.support import STAFF, call, member, owner_of
from tests.unit.test_signup import NOW, TRIAL

pytestmark = pytest.mark.usefixtures("world")


@pytest.fixture
def account() -> dict[str, Any]:
    reply = call("POST", "/signups", body=TRIAL)
    assert reply.status == 201, reply.body
    return dict(reply.body)


def audit_of(account: dict[str, Any], claims: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    reply = call("GET", f"/accounts/{account['id']}/audit", claims=claims or owner_of(account))
    assert reply.status == 200, reply.body
    return list(reply.body["items"])


def staff_accesses(account: dict[str, Any]) -> list[AuditEvent]:
    return [event for event in AuditEvent.query(account["id"]) if event.type == audit.STAFF_ACCESS]


def test_r_use_4_a_staff_read_of_the_account_is_in_the_owners_audit_log(account: dict[str, Any]) -> None:
    clock.set_now(NOW + timedelta(hours=1))
    read = call("GET", f"/accounts/{account['id']}", claims=STAFF)
    assert read.status == 200, read.body

    items = audit_of(account)
    assert items[0] == {
        "type": "staff_access",
        "actor": STAFF["sub"],
        "at": "2026-11-25T13:00:00Z",
        "details": {"resource": "account"},
    }
    assert items[-1]["type"] == "account_created"  # newest first, lifecycle events too
    assert items[-1]["actor"] == account["owner_id"]


def test_r_use_4_members_own_reads_are_not_recorded(account: dict[str, Any]) -> None:
    call("GET", f"/accounts/{account['id']}", claims=owner_of(account))
    call("GET", f"/accounts/{account['id']}", claims=member(account["id"], "agent", sub="usr_agent"))
    call("GET", f"/accounts/{account['id']}/users", claims=owner_of(account))
    audit_of(account)
    assert staff_accesses(account) == []


def test_r_use_4_staff_reads_of_users_notifications_and_the_audit_itself_are_recorded(account: dict[str, Any]) -> None:
    for path in ("users", "notifications", "audit"):
        assert call("GET", f"/accounts/{account['id']}/{path}", claims=STAFF).status == 200
    assert sorted(event.details.as_dict()["resource"] for event in staff_accesses(account)) == [
        "audit",
        "notifications",
        "users",
    ]


def test_r_use_4_staff_reading_an_account_that_does_not_exist_records_nothing() -> None:
    assert call("GET", "/accounts/acc_gone", claims=STAFF).status == 404
    assert call("GET", "/accounts/acc_gone/audit", claims=STAFF).status == 404
    assert list(AuditEvent.query("acc_gone")) == []


def test_the_audit_log_is_the_owners_agents_get_403_other_accounts_404(account: dict[str, Any]) -> None:
    agent = call("GET", f"/accounts/{account['id']}/audit", claims=member(account["id"], "agent"))
    assert (agent.status, agent.code) == (403, "forbidden")
    admin = call("GET", f"/accounts/{account['id']}/audit", claims=member(account["id"], "admin"))
    assert (admin.status, admin.code) == (403, "forbidden")
    other = call("GET", f"/accounts/{account['id']}/audit", claims=member("acc_other", "owner"))
    assert (other.status, other.code) == (404, "not_found")


def test_staff_only_details_such_as_revocation_evidence_are_left_out_for_the_owner(account: dict[str, Any]) -> None:
    audit.event(account["id"], "voucher_revoked", "staff-1", NOW, reason="abuse", evidence="shared on a forum").save()
    (revoked,) = [item for item in audit_of(account) if item["type"] == "voucher_revoked"]
    assert revoked["details"] == {"reason": "abuse"}
    (seen_by_staff,) = [item for item in audit_of(account, STAFF) if item["type"] == "voucher_revoked"]
    assert seen_by_staff["details"] == {"reason": "abuse", "evidence": "shared on a forum"}


def test_the_list_is_newest_first_and_at_most_the_limit(account: dict[str, Any]) -> None:
    for n in range(5):
        audit.event(account["id"], "test_event", "x", NOW + timedelta(minutes=n), n=n).save()
    items = audit.list_for(account["id"], limit=3)
    assert [item.details["n"] for item in items] == [4, 3, 2]
