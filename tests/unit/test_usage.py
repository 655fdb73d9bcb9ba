"""Fair usage over moto: plan limits and staff's per-account limits (R-FAIR-1), crossing them
flagged for staff with the owner notified once a month (R-FAIR-2), and enterprise-offer
flags (R-PAY-10).

Each test goes through the function the template routes the request to.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from lifecycle.core import clock
from lifecycle.core.settings import Settings, get_settings
from lifecycle.storage import Account, AuditEvent, Notification, Usage
from tests.conftest import point_service_at
from tests.support import STAFF, Reply, call, except_welcome, member, owner_of
from tests.unit.test_signup import TRIAL

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
NEXT_MONTH = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
GB = 1_000_000_000


pytestmark = pytest.mark.usefixtures("world")


def sign_up(plan: str = "free", n: int = 1) -> dict[str, Any]:
    body = {**TRIAL, "plan": plan, "email": f"owner{n}@example.com", "subdomain": f"usage-{n}"}
    reply = call("POST", "/signups", body=body)
    assert reply.status == 201, reply.body
    return dict(reply.body)


@pytest.fixture
def free() -> dict[str, Any]:
    return sign_up("free")


def report(account_id: str, claims: dict[str, Any] | None = STAFF, **body: Any) -> Reply:
    return call("POST", f"/admin/accounts/{account_id}/usage", body=body, claims=claims)


def set_limits(account_id: str, claims: dict[str, Any] | None = STAFF, **body: Any) -> Reply:
    return call("PUT", f"/admin/accounts/{account_id}/usage-limits", body=body, claims=claims)


def usage_of(account: dict[str, Any], query: str = "", claims: dict[str, Any] | None = None) -> Reply:
    return call("GET", f"/accounts/{account['id']}/usage{query}", claims=claims or owner_of(account))


def flags(kind: str = "usage", period: str | None = None, claims: dict[str, Any] | None = STAFF) -> Reply:
    query = f"?kind={kind}" + (f"&period={period}" if period else "")
    return call("GET", f"/admin/usage-flags{query}", claims=claims)


def notices(account_id: str, type_: str = "usage_limit_exceeded") -> list[Notification]:
    return [item for item in Notification.query(account_id) if item.type == type_]


# ---------------------------------------------------------------- R-FAIR-1: limits


def test_r_fair_1_a_free_plan_has_the_default_limits_of_1000_tickets_a_month_and_1_gb(free: dict[str, Any]) -> None:
    reply = usage_of(free)
    assert reply.status == 200, reply.body
    assert reply.body == {
        "account_id": free["id"],
        "period": "2026-11",
        "plan": "free",
        "usage": {"tickets": 0, "queries": 0, "storage_bytes": None, "end_users": None},
        "limits": {"tickets_per_month": 1000, "storage_bytes": GB},
        "overrides": {"tickets_per_month": None, "storage_bytes": None},
        "over_limit": [],
        "flagged_at": None,
    }


@pytest.mark.parametrize("plan", ["ticket", "ticket-chat", "all-inclusive"])
def test_r_fair_1_paid_plans_are_unlimited_by_default(plan: str) -> None:
    account = sign_up(plan)
    assert usage_of(account).body["limits"] == {"tickets_per_month": None, "storage_bytes": None}
    reply = report(account["id"], tickets=50_000, storage_bytes=500 * GB)
    assert (reply.status, reply.body["flagged"], reply.body["over_limit"]) == (200, [], [])
    assert notices(account["id"]) == []


def test_r_fair_1_plan_limits_are_settings_merged_over_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    point_service_at({"USAGE_LIMITS": '{"ticket": {"tickets_per_month": 5000}}'}, monkeypatch)
    settings = get_settings()
    assert settings.usage_limits["ticket"].tickets_per_month == 5000
    assert settings.usage_limits["free"].tickets_per_month == 1000
    account = sign_up("ticket")
    assert usage_of(account).body["limits"] == {"tickets_per_month": 5000, "storage_bytes": None}


def test_r_fair_1_staff_change_an_accounts_limits_without_notice_and_they_take_effect(free: dict[str, Any]) -> None:
    changed = set_limits(free["id"], tickets_per_month=50, storage_bytes=None)
    assert changed.status == 200, changed.body
    assert changed.body["limits"] == {"tickets_per_month": 50, "storage_bytes": GB}
    assert changed.body["overrides"] == {"tickets_per_month": 50, "storage_bytes": None}
    assert except_welcome(Notification.query(free["id"])) == []  # without notice
    (event,) = [event for event in AuditEvent.query(free["id"]) if event.type == "usage_limits_changed"]
    assert (event.actor, event.details.as_dict()) == ("staff-1", {"tickets_per_month": 50, "storage_bytes": None})

    # The owner sees the new limit, and the next report is checked against it.
    assert usage_of(free).body["limits"]["tickets_per_month"] == 50
    crossed = report(free["id"], tickets=51)
    assert (crossed.body["flagged"], crossed.body["over_limit"]) == (["usage"], ["tickets"])
    assert len(notices(free["id"])) == 1

    back = set_limits(free["id"], tickets_per_month=None, storage_bytes=None)
    assert back.body["limits"] == {"tickets_per_month": 1000, "storage_bytes": GB}
    assert back.body["over_limit"] == []
    stored = Account.get(free["id"])
    assert (stored.usage_limit_tickets_per_month, stored.usage_limit_storage_bytes) == (None, None)


def test_r_fair_1_a_limit_can_be_raised_above_the_plans_for_one_account(free: dict[str, Any]) -> None:
    assert set_limits(free["id"], tickets_per_month=5000, storage_bytes=10 * GB).status == 200
    reply = report(free["id"], tickets=4000, storage_bytes=9 * GB)
    assert (reply.body["flagged"], reply.body["over_limit"]) == ([], [])
    assert notices(free["id"]) == []


def test_r_fair_1_the_owner_sees_the_months_usage_and_limits(free: dict[str, Any]) -> None:
    report(free["id"], tickets=12, queries=30, storage_bytes=1234, end_users=7)
    report(free["id"], tickets=3, queries=5, storage_bytes=999)
    reply = usage_of(free)
    assert reply.body["usage"] == {"tickets": 15, "queries": 35, "storage_bytes": 999, "end_users": 7}
    assert reply.body["limits"] == {"tickets_per_month": 1000, "storage_bytes": GB}
    assert Usage.get(free["id"], "2026-11").reports == 2


def test_r_fair_1_only_the_owner_reads_usage_and_staff_reads_are_audited(free: dict[str, Any]) -> None:
    agent = usage_of(free, claims=member(free["id"], "agent", sub="usr_agent"))
    assert (agent.status, agent.code) == (403, "forbidden")
    other = usage_of(free, claims=member("acc_other", "owner"))
    assert (other.status, other.code) == (404, "not_found")
    staff = usage_of(free, claims=STAFF)
    assert staff.status == 200
    accesses = [event.details.as_dict() for event in AuditEvent.query(free["id"]) if event.type == "staff_access"]
    assert accesses == [{"resource": "usage"}]


def test_r_fair_1_only_staff_set_limits_and_report_usage(free: dict[str, Any]) -> None:
    for claims in (owner_of(free), member(free["id"], "admin")):
        assert set_limits(free["id"], claims=claims, tickets_per_month=1).code == "forbidden"
        assert report(free["id"], claims=claims, tickets=1).code == "forbidden"
        assert flags(claims=claims).code == "forbidden"
    assert report(free["id"], claims=None, tickets=1).status == 401
    assert set_limits("acc_missing", tickets_per_month=1).code == "not_found"
    assert report("acc_missing", tickets=1).code == "not_found"
    assert Account.get(free["id"]).usage_limit_tickets_per_month is None
    assert usage_of(free).body["usage"]["tickets"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tickets": -1}, "tickets"),
        ({"tickets": 1.5}, "tickets"),
        ({"tickets": "3"}, "tickets"),
        ({"storage_bytes": -5}, "storage_bytes"),
        ({"end_users": True}, "end_users"),
        ({"queries": 10**13}, "queries"),
        ({"tickets": 1, "extra": 1}, "extra"),
    ],
)
def test_r_fair_1_a_report_takes_whole_non_negative_numbers(
    free: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    reply = report(free["id"], **body)
    assert (reply.status, reply.code) == (422, "validation_error")
    assert [error["field"] for error in reply.body["errors"]] == [field]
    assert usage_of(free).body["usage"]["tickets"] == 0


@pytest.mark.parametrize("period", ["2026-13", "2026-1", "november", "2026-11-01"])
def test_r_fair_1_a_period_is_a_calendar_month(free: dict[str, Any], period: str) -> None:
    reply = usage_of(free, f"?period={period}")
    assert (reply.status, reply.code) == (422, "validation_error")


# ---------------------------------------------------------------- R-FAIR-2: flags and notices


def test_r_fair_2_crossing_the_ticket_limit_flags_for_staff_and_notifies_the_owner_once(
    free: dict[str, Any],
) -> None:
    assert report(free["id"], tickets=999).body["flagged"] == []
    at_limit = report(free["id"], tickets=1)
    assert (at_limit.body["flagged"], at_limit.body["over_limit"]) == ([], [])  # reaching the limit is within it
    assert flags().body == {"items": []}

    clock.set_now(NOW.replace(hour=13))
    crossed = report(free["id"], tickets=1)
    assert crossed.status == 200, crossed.body
    assert (crossed.body["flagged"], crossed.body["over_limit"]) == (["usage"], ["tickets"])
    assert crossed.body["flagged_at"] == "2026-11-25T13:00:00Z"
    for more in (5, 500):
        again = report(free["id"], tickets=more)
        assert (again.body["flagged"], again.body["flagged_at"]) == ([], "2026-11-25T13:00:00Z")

    (notice,) = notices(free["id"])
    assert notice.to == "owner1@example.com"
    assert "1,001 tickets this month" in notice.body
    assert "1,000 tickets a month" in notice.body
    listed = flags().body["items"]
    assert listed == [
        {
            "account_id": free["id"],
            "period": "2026-11",
            "kind": "usage",
            "flagged_at": "2026-11-25T13:00:00Z",
            "evidence": {"tickets": 1001, "tickets_per_month": 1000},
            "usage": {"tickets": 1506, "queries": 0, "storage_bytes": None, "end_users": None},
        }
    ]
    owner_view = usage_of(free).body
    assert (owner_view["over_limit"], owner_view["flagged_at"]) == (["tickets"], "2026-11-25T13:00:00Z")


def test_r_fair_2_crossing_the_storage_limit_flags_and_notifies(free: dict[str, Any]) -> None:
    assert report(free["id"], storage_bytes=GB).body["flagged"] == []
    crossed = report(free["id"], storage_bytes=1_250_000_000)
    assert (crossed.body["flagged"], crossed.body["over_limit"]) == (["usage"], ["storage"])
    (notice,) = notices(free["id"])
    assert "1.3 GB of storage" in notice.body
    assert "1 GB of storage" in notice.body
    (flag,) = flags().body["items"]
    assert flag["evidence"] == {"storage_bytes": 1_250_000_000, "storage_bytes_limit": GB}
    # Back under the limit, the month stays flagged: staff decide (R-FAIR-2), not the next report.
    under = report(free["id"], storage_bytes=GB // 2)
    assert (under.body["over_limit"], under.body["flagged_at"]) == ([], flag["flagged_at"])
    assert len(notices(free["id"])) == 1


def test_r_fair_2_one_notice_names_every_limit_crossed_at_once(free: dict[str, Any]) -> None:
    crossed = report(free["id"], tickets=1500, storage_bytes=2 * GB)
    assert crossed.body["over_limit"] == ["tickets", "storage"]
    (notice,) = notices(free["id"])
    assert "1,500 tickets this month and 2 GB of storage" in notice.body


def test_r_fair_2_a_new_month_starts_from_zero_and_may_be_flagged_again(free: dict[str, Any]) -> None:
    assert report(free["id"], tickets=1200).body["flagged"] == ["usage"]

    clock.set_now(NEXT_MONTH)
    december = report(free["id"], tickets=10)
    assert december.body["period"] == "2026-12"
    assert (december.body["usage"]["tickets"], december.body["flagged_at"], december.body["flagged"]) == (10, None, [])
    assert usage_of(free).body["usage"]["tickets"] == 10
    assert usage_of(free, "?period=2026-11").body["usage"]["tickets"] == 1200
    assert flags().body == {"items": []}
    assert [item["period"] for item in flags(period="2026-11").body["items"]] == ["2026-11"]

    assert report(free["id"], tickets=991).body["flagged"] == ["usage"]
    assert len(notices(free["id"])) == 2
    assert [item["account_id"] for item in flags().body["items"]] == [free["id"]]


def test_r_fair_2_staff_list_each_months_flags_of_every_account(free: dict[str, Any]) -> None:
    second = sign_up("free", n=2)
    report(second["id"], tickets=1001)
    clock.set_now(NOW.replace(hour=14))
    report(free["id"], tickets=1001)
    assert [item["account_id"] for item in flags().body["items"]] == [second["id"], free["id"]]
    assert flags(kind="enterprise").body == {"items": []}


# ---------------------------------------------------------------- R-PAY-10: enterprise offers


def test_r_pay_10_unusually_many_end_users_flag_the_account_for_an_enterprise_offer_once(
    free: dict[str, Any], tables: Settings
) -> None:
    below = report(free["id"], end_users=tables.enterprise_end_users - 1)
    assert (below.body["flagged"], below.body["enterprise_flagged_at"]) == ([], None)
    reached = report(free["id"], end_users=tables.enterprise_end_users)
    assert reached.body["flagged"] == ["enterprise"]
    assert reached.body["enterprise_flagged_at"] == "2026-11-25T12:00:00Z"
    assert report(free["id"], end_users=tables.enterprise_end_users * 2).body["flagged"] == []

    (flag,) = flags(kind="enterprise").body["items"]
    assert (flag["account_id"], flag["kind"]) == (free["id"], "enterprise")
    assert flag["evidence"] == {"end_users": tables.enterprise_end_users, "queries": 0, "agents": 1}
    # For staff only: the owner is not notified, and the owner's view does not show it.
    assert except_welcome(Notification.query(free["id"])) == []
    assert "enterprise_flagged_at" not in usage_of(free).body
    assert flags(kind="usage").body == {"items": []}


def test_r_pay_10_an_unusual_ratio_of_queries_a_month_to_agents_flags_the_account(tables: Settings) -> None:
    account = sign_up("ticket")
    Account(account["id"]).update(actions=[Account.seats_used.set(3)])
    threshold = tables.enterprise_queries_per_agent * 3
    assert report(account["id"], queries=threshold - 1).body["flagged"] == []
    assert report(account["id"], queries=1).body["flagged"] == ["enterprise"]
    assert report(account["id"], queries=threshold).body["flagged"] == []
    (flag,) = flags(kind="enterprise").body["items"]
    assert flag["evidence"] == {"queries": threshold, "agents": 3}


def test_r_pay_10_thresholds_are_settings_and_the_flag_returns_each_month(monkeypatch: pytest.MonkeyPatch) -> None:
    point_service_at({"ENTERPRISE_END_USERS": "50", "ENTERPRISE_QUERIES_PER_AGENT": "10"}, monkeypatch)
    account = sign_up("all-inclusive")
    assert report(account["id"], end_users=49, queries=9).body["flagged"] == []
    assert report(account["id"], queries=1).body["flagged"] == ["enterprise"]
    clock.set_now(NEXT_MONTH)
    assert report(account["id"], end_users=50).body["flagged"] == ["enterprise"]
    assert [item["period"] for item in flags(kind="enterprise").body["items"]] == ["2026-12"]
    assert [item["period"] for item in flags(kind="enterprise", period="2026-11").body["items"]] == ["2026-11"]


def test_r_pay_10_and_r_fair_2_one_report_can_raise_both_flags(free: dict[str, Any], tables: Settings) -> None:
    reply = report(free["id"], tickets=2000, end_users=tables.enterprise_end_users)
    assert reply.body["flagged"] == ["usage", "enterprise"]
    assert len(flags(kind="usage").body["items"]) == len(flags(kind="enterprise").body["items"]) == 1
