"""Activity over moto (API.md "Activity", ``POST /accounts/{id}/sessions``): sessions,
``last_active_at`` at most once per interval, blocked accounts and membership.

Acceptance of new terms by continued use (R-TERMS-3) is proven in test_terms.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifecycle.core import clock
from lifecycle.core.settings import Settings
from lifecycle.storage import Account, Session, User
from tests.faults import CANCELLED, THROTTLES, Fault, FaultInjector
from tests.support import STAFF, Reply, call, member, owner_of
from tests.unit.test_signup import TRIAL

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


pytestmark = pytest.mark.usefixtures("world")


@pytest.fixture
def account() -> dict[str, Any]:
    reply = call("POST", "/signups", body=TRIAL)
    assert reply.status == 201, reply.body
    return dict(reply.body)


def post_session(account_id: str, claims: dict[str, Any] | None, device_id: str = "laptop-1", **headers: str) -> Reply:
    return call(
        "POST", f"/accounts/{account_id}/sessions", body={"device_id": device_id}, claims=claims, headers=headers
    )


def last_active(account: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    user = User.get(account["id"], account["owner_id"], consistent_read=True)
    return user.last_active_at, Account.get(account["id"], consistent_read=True).last_active_at


def test_an_activity_is_201_and_stores_a_session_that_expires_after_the_retention(
    account: dict[str, Any], tables: Settings
) -> None:
    reply = post_session(account["id"], owner_of(account), "phone-7", **{"user-agent": "A" * 600})
    assert reply.status == 201, reply.body
    assert reply.body == {
        "user_id": account["owner_id"],
        "device_id": "phone-7",
        "at": "2026-11-25T12:00:00Z",
        "terms_version": tables.terms_version,
    }
    (session,) = Session.query(account["id"])
    assert session.session_key.startswith(f"{account['owner_id']}#2026-11-25T12:00:00.000000Z#")
    assert (session.user_id, session.device_id, session.ip, session.at) == (
        account["owner_id"],
        "phone-7",
        "127.0.0.1",
        NOW,
    )
    assert session.user_agent == "A" * 512
    assert session.expires_at == NOW + timedelta(days=tables.session_retention_days)


def test_last_active_at_is_written_once_per_interval(account: dict[str, Any], tables: Settings) -> None:
    interval = timedelta(seconds=tables.activity_write_interval_seconds)
    post_session(account["id"], owner_of(account))
    assert last_active(account) == (NOW, NOW)

    clock.set_now(NOW + interval - timedelta(seconds=1))
    assert post_session(account["id"], owner_of(account)).status == 201
    assert last_active(account) == (NOW, NOW)

    later = NOW + interval
    clock.set_now(later)
    post_session(account["id"], owner_of(account))
    assert last_active(account) == (later, later)
    assert len(list(Session.query(account["id"]))) == 3  # every activity is a session


@pytest.mark.parametrize(
    ("status", "reason"),
    [("trial_expired", "trial_expired"), ("suspended", "voucher_revoked"), ("cancelled", None)],
)
def test_a_blocked_account_answers_403_account_blocked(
    account: dict[str, Any], status: str, reason: str | None
) -> None:
    Account(account["id"]).update(actions=[Account.status.set(status), Account.access_blocked_reason.set(reason)])
    reply = post_session(account["id"], owner_of(account))
    assert (reply.status, reply.code) == (403, "account_blocked")
    assert reply.body["access"] == (reason or status)
    assert list(Session.query(account["id"])) == []
    assert last_active(account) == (None, None)


def test_another_accounts_member_gets_404_and_staff_access_is_not_activity(account: dict[str, Any]) -> None:
    other = post_session(account["id"], member("acc_other", "owner", sub=account["owner_id"]))
    assert (other.status, other.code) == (404, "not_found")
    staff = post_session(account["id"], STAFF)
    assert (staff.status, staff.code) == (403, "forbidden")
    anonymous = post_session(account["id"], None)
    assert (anonymous.status, anonymous.code) == (401, "unauthorized")
    assert list(Session.query(account["id"])) == []


def test_an_account_that_does_not_exist_is_404_to_its_own_token() -> None:
    reply = post_session("acc_gone", member("acc_gone", "agent"))
    assert (reply.status, reply.code) == (404, "not_found")


def test_every_member_role_records_its_own_activity_and_no_half_user_is_made(account: dict[str, Any]) -> None:
    """An agent unknown to the Users table gets its session; its user item is not invented."""
    reply = post_session(account["id"], member(account["id"], "agent", sub="usr_agent"))
    assert (reply.status, reply.body["user_id"]) == (201, "usr_agent")
    assert [session.user_id for session in Session.query(account["id"])] == ["usr_agent"]
    assert User.count(account["id"], User.user_id == "usr_agent") == 0


@pytest.mark.parametrize("device_id", ["", "   ", "d" * 201])
def test_a_device_id_of_1_to_200_characters_is_required(account: dict[str, Any], device_id: str) -> None:
    reply = post_session(account["id"], owner_of(account), device_id)
    assert (reply.status, reply.code) == (422, "validation_error")
    assert [error["field"] for error in reply.body["errors"]] == ["device_id"]


def test_r_term_6_an_activity_read_meeting_a_transaction_is_tried_again_then_503_with_retry_after(
    account: dict[str, Any],
) -> None:
    """The account and the member are one TransactGetItems: one that meets a transaction in
    flight on either is tried again; a conflict that outlasts the retries, or a throttle, is a
    503 with Retry-After, and nothing is stored."""
    conflict = Fault(CANCELLED, operation="TransactGetItems", times=1)
    with FaultInjector(conflict) as once:
        assert post_session(account["id"], owner_of(account)).status == 201
    assert [c.operation for c in once.calls][:2] == ["TransactGetItems", "TransactGetItems"]
    stored = len(list(Session.query(account["id"])))

    for fault in (Fault(CANCELLED, operation="TransactGetItems"), Fault(THROTTLES[0], operation="TransactGetItems")):
        with FaultInjector(fault):
            refused = post_session(account["id"], owner_of(account), "phone-2")
        assert (refused.status, refused.code) == (503, "service_unavailable"), refused.body
        assert refused.headers.get("retry-after") == "1"
    assert len(list(Session.query(account["id"]))) == stored
