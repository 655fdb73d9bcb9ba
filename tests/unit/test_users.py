"""Users and seats over moto (``/accounts/{id}/users``): the plan's seat limit (R-USE-3), the
voucher's included seats (R-VOUCH-5), extra seats' intervals (R-VOUCH-6), the owner's
warning (R-VOUCH-7) and roles. Each test goes through the function the template routes to.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from lifecycle.core import clock
from lifecycle.core.settings import Settings, get_settings
from lifecycle.storage import Account, AuditEvent, Claim, Notification, SeatInterval, User
from lifecycle.subscriptions.users import seat_limit
from tests.support import (
    STAFF,
    Reply,
    call,
    deliver_notices,
    except_invitations,
    except_welcome,
    member,
    outbox_items,
    owner_of,
)
from tests.unit.test_signup import NOW, TRIAL, add_voucher, person

pytestmark = pytest.mark.usefixtures("world")


@pytest.fixture
def trial() -> dict[str, Any]:
    reply = call("POST", "/signups", body=TRIAL)
    assert reply.status == 201, reply.body
    return dict(reply.body)


@pytest.fixture
def lifetime() -> dict[str, Any]:
    add_voucher("SEAT-DEAL-0001")
    reply = call("POST", "/redemptions", body=person(code="SEAT-DEAL-0001", email="owner@example.com"))
    assert reply.status == 201, reply.body
    assert reply.body["seats"] == {"included": 2, "used": 1, "extra": 0}
    deliver_notices()  # the welcome goes to the outbox of its time (before a test's own)
    return dict(reply.body)


def new_user(n: int, role: str = "agent") -> dict[str, str]:
    return {"full_name": "Petar Georgiev", "email": f"agent{n}@example.com", "role": role}


def add(account: dict[str, Any], n: int, claims: dict[str, Any] | None = None, role: str = "agent") -> Reply:
    return call("POST", f"/accounts/{account['id']}/users", body=new_user(n, role), claims=claims or owner_of(account))


def remove(account: dict[str, Any], user_id: str, claims: dict[str, Any] | None = None) -> Reply:
    return call("DELETE", f"/accounts/{account['id']}/users/{user_id}", claims=claims or owner_of(account))


def seats(account: dict[str, Any]) -> dict[str, int]:
    reply = call("GET", f"/accounts/{account['id']}", claims=owner_of(account))
    return dict(reply.body["seats"])


def intervals(account: dict[str, Any]) -> list[SeatInterval]:
    return list(SeatInterval.query(account["id"], consistent_read=True))


# ---------------------------------------------------------------- R-USE-3


def test_r_use_3_users_up_to_the_plans_seat_limit_then_409_seat_limit_reached(trial: dict[str, Any]) -> None:
    limit = get_settings().seat_limits["ticket"]
    for n in range(limit - 1):  # the owner holds the first seat
        reply = add(trial, n)
        assert reply.status == 201, reply.body
    beyond = add(trial, 99)
    assert (beyond.status, beyond.code) == (409, "seat_limit_reached")
    assert seats(trial)["used"] == limit
    assert len(list(User.query(trial["id"]))) == limit


def test_r_use_3_an_accounts_own_seat_limit_overrides_the_plans(trial: dict[str, Any]) -> None:
    Account(trial["id"]).update(actions=[Account.seat_limit.set(2)])
    assert add(trial, 1).status == 201
    assert (add(trial, 2).status, add(trial, 2).code) == (409, "seat_limit_reached")
    Account(trial["id"]).update(actions=[Account.seat_limit.remove()])
    assert seat_limit(Account.get(trial["id"]), get_settings()) == get_settings().seat_limits["ticket"]
    assert add(trial, 2).status == 201


def test_r_use_3_the_seat_limits_setting_is_json_merged_over_the_defaults() -> None:
    settings = Settings.from_env({"SEAT_LIMITS": '{"ticket": 12}'})
    assert settings.seat_limits == {"free": 1, "ticket": 12, "ticket-chat": 25, "all-inclusive": 100}
    with pytest.raises(ValueError, match="at least 1"):
        Settings.from_env({"SEAT_LIMITS": '{"ticket": 0}'})


def test_an_added_user_is_201_with_its_view_and_the_users_list_shows_it(trial: dict[str, Any]) -> None:
    reply = add(trial, 1, role="admin")
    assert reply.status == 201, reply.body
    body = reply.body
    assert body["user_id"].startswith("usr_")
    assert {k: body[k] for k in ("full_name", "email", "role", "created_at")} == {
        "full_name": "Petar Georgiev",
        "email": "agent1@example.com",
        "role": "admin",
        "created_at": "2026-11-25T12:00:00Z",
    }
    listed = call("GET", f"/accounts/{trial['id']}/users", claims=member(trial["id"], "agent", sub="usr_x"))
    assert listed.status == 200, listed.body
    assert [item["role"] for item in listed.body["items"]] == ["owner", "admin"]
    assert listed.body["items"][1] == body
    (event,) = [e for e in AuditEvent.query(trial["id"]) if e.type == "user_added"]
    assert event.actor == trial["owner_id"]
    assert event.details.as_dict() == {"user_id": body["user_id"], "role": "admin", "billable": body["billable"]}


def test_an_email_already_a_user_of_the_account_is_409_user_exists(trial: dict[str, Any]) -> None:
    assert add(trial, 1).status == 201
    again = call(
        "POST",
        f"/accounts/{trial['id']}/users",
        body={**new_user(1), "email": " AGENT1@Example.com "},
        claims=owner_of(trial),
    )
    assert (again.status, again.code) == (409, "user_exists")
    owner = call(
        "POST", f"/accounts/{trial['id']}/users", body={**new_user(2), "email": TRIAL["email"]}, claims=owner_of(trial)
    )
    assert (owner.status, owner.code) == (409, "user_exists")
    assert seats(trial)["used"] == 2


def test_a_removed_users_email_may_be_added_again(trial: dict[str, Any]) -> None:
    first = add(trial, 1)
    assert remove(trial, first.body["user_id"]).status == 204
    assert add(trial, 1).status == 201
    assert seats(trial)["used"] == 2


@pytest.mark.parametrize(
    ("field", "value"), [("full_name", "Prince"), ("email", "not-an-email"), ("role", "owner"), ("role", "staff")]
)
def test_a_new_user_needs_a_legal_name_a_valid_email_and_the_role_agent_or_admin(
    trial: dict[str, Any], field: str, value: str
) -> None:
    reply = call("POST", f"/accounts/{trial['id']}/users", body={**new_user(1), field: value}, claims=owner_of(trial))
    assert (reply.status, reply.code) == (422, "validation_error")
    assert [error["field"] for error in reply.body["errors"]] == [field]


# ---------------------------------------------------------------- R-VOUCH-5..7, R-VOUCH-9


def test_r_vouch_5_a_voucher_accounts_owner_and_one_more_user_cost_nothing(
    lifetime: dict[str, Any], outbox: Path
) -> None:
    reply = add(lifetime, 1)
    assert (reply.status, reply.body["billable"]) == (201, False)
    assert seats(lifetime) == {"included": 2, "used": 2, "extra": 0}
    assert intervals(lifetime) == []
    assert except_invitations(outbox_items(outbox)) == []


def test_r_vouch_9_a_voucher_account_without_extra_users_has_nothing_billable(lifetime: dict[str, Any]) -> None:
    """Seat side of R-VOUCH-9: no extra users, so no billable interval for billing to ask about."""
    assert add(lifetime, 1).status == 201
    listed = call("GET", f"/accounts/{lifetime['id']}/users", claims=owner_of(lifetime)).body["items"]
    assert [user["billable"] for user in listed] == [False, False]
    assert [interval for interval in intervals(lifetime) if interval.billable] == []


def test_r_vouch_6_the_third_user_opens_a_billable_seat_interval_that_removal_closes(
    lifetime: dict[str, Any], outbox: Path
) -> None:
    assert add(lifetime, 1).status == 201
    third = add(lifetime, 2)
    assert (third.status, third.body["billable"]) == (201, True)
    assert seats(lifetime) == {"included": 2, "used": 3, "extra": 1}
    (interval,) = intervals(lifetime)
    assert (interval.user_id, interval.start, interval.end, interval.billable) == (
        third.body["user_id"],
        NOW,
        None,
        True,
    )
    assert interval.interval_key == f"{third.body['user_id']}#2026-11-25T12:00:00.000000Z"

    later = NOW + timedelta(days=3, seconds=7)
    clock.set_now(later)
    assert remove(lifetime, third.body["user_id"]).status == 204
    (closed,) = intervals(lifetime)
    assert (closed.start, closed.end) == (NOW, later)
    assert seats(lifetime) == {"included": 2, "used": 2, "extra": 0}
    assert User.count(lifetime["id"], User.user_id == third.body["user_id"]) == 0


def test_r_vouch_6_removing_an_included_user_does_not_move_an_extra_users_interval(lifetime: dict[str, Any]) -> None:
    """Intervals belong to the user added beyond the included seats; the freed included
    seat goes to the next user added, who is not billable."""
    included = add(lifetime, 1).body
    extra = add(lifetime, 2).body
    assert remove(lifetime, included["user_id"]).status == 204
    (interval,) = intervals(lifetime)
    assert (interval.user_id, interval.end) == (extra["user_id"], None)
    assert seats(lifetime) == {"included": 2, "used": 2, "extra": 1}
    assert add(lifetime, 3).body["billable"] is False
    assert seats(lifetime) == {"included": 2, "used": 3, "extra": 1}
    assert len(intervals(lifetime)) == 1


def test_r_vouch_7_the_owner_is_warned_that_the_packages_seats_are_exceeded(
    lifetime: dict[str, Any], outbox: Path
) -> None:
    add(lifetime, 1)
    add(lifetime, 2)
    (notice,) = except_invitations(outbox_items(outbox))
    assert (notice["type"], notice["to"], notice["account_id"]) == (
        "extra_seat_warning",
        "owner@example.com",
        lifetime["id"],
    )
    assert "seats are exceeded" in notice["subject"] + notice["body"]
    assert "3 users" in notice["body"]
    assert "includes 2" in notice["body"]
    assert "39.00 USD a month" in notice["body"]
    assert "all-inclusive price" in notice["body"]
    (stored,) = except_invitations(except_welcome(Notification.query(lifetime["id"])))
    assert (stored.id, stored.sent_at, stored.unsent_shard) == (notice["id"], NOW, None)
    # Each further extra user is a further warning.
    add(lifetime, 3)
    assert [item["type"] for item in except_invitations(outbox_items(outbox))] == ["extra_seat_warning"] * 2


# ---------------------------------------------------------------- removal and roles


def test_the_owner_cannot_be_removed(trial: dict[str, Any]) -> None:
    reply = remove(trial, trial["owner_id"])
    assert (reply.status, reply.code) == (409, "cannot_remove_owner")
    admin = add(trial, 1, role="admin").body
    by_admin = remove(trial, trial["owner_id"], member(trial["id"], "admin", sub=admin["user_id"]))
    assert (by_admin.status, by_admin.code) == (409, "cannot_remove_owner")
    assert seats(trial)["used"] == 2


def test_removing_a_user_that_is_not_there_is_404_and_changes_nothing(trial: dict[str, Any]) -> None:
    user = add(trial, 1).body
    assert remove(trial, user["user_id"]).status == 204
    again = remove(trial, user["user_id"])
    assert (again.status, again.code) == (404, "not_found")
    assert seats(trial)["used"] == 1
    assert Claim.count(f"user-email#{trial['id']}#agent1@example.com") == 0
    types = [event.type for event in AuditEvent.query(trial["id"])]
    assert types.count("user_removed") == 1


def test_an_agent_may_not_add_or_remove_users_and_an_admin_may(trial: dict[str, Any]) -> None:
    agent = member(trial["id"], "agent", sub="usr_agent")
    assert (add(trial, 1, agent).status, add(trial, 1, agent).code) == (403, "forbidden")
    admin = member(trial["id"], "admin", sub="usr_admin")
    added = add(trial, 2, admin)
    assert added.status == 201
    assert (remove(trial, added.body["user_id"], agent).status, remove(trial, "x", agent).code) == (403, "forbidden")
    assert remove(trial, added.body["user_id"], admin).status == 204


def test_another_accounts_member_gets_404_and_staff_may_not_add_users(trial: dict[str, Any]) -> None:
    other = member("acc_other", "owner", sub=trial["owner_id"])
    assert (add(trial, 1, other).status, add(trial, 1, other).code) == (404, "not_found")
    assert remove(trial, "usr_x", other).status == 404
    assert call("GET", f"/accounts/{trial['id']}/users", claims=other).status == 404
    assert (add(trial, 1, STAFF).status, add(trial, 1, STAFF).code) == (403, "forbidden")
    anonymous = call("POST", f"/accounts/{trial['id']}/users", body=new_user(1), claims=None)
    assert (anonymous.status, anonymous.code) == (401, "unauthorized")


@pytest.mark.parametrize(
    ("status", "reason"), [("trial_expired", "trial_expired"), ("suspended", "voucher_revoked"), ("cancelled", None)]
)
def test_a_blocked_account_cannot_add_users_403_account_blocked_but_can_remove_them(
    trial: dict[str, Any], status: str, reason: str | None
) -> None:
    user = add(trial, 1).body
    Account(trial["id"]).update(actions=[Account.status.set(status), Account.access_blocked_reason.set(reason)])
    reply = add(trial, 2)
    assert (reply.status, reply.code) == (403, "account_blocked")
    assert reply.body["access"] == (reason or status)
    assert seats(trial)["used"] == 2
    assert remove(trial, user["user_id"]).status == 204
    assert seats(trial)["used"] == 1
