"""Shared logins over moto (R-USE-1, R-USE-2): concurrent use from sessions, detection days
with their evidence, the period's fee and the owner's notice, the owner's view and staff waivers.

The default (lifecycle.usage.shared_logins): concurrent use is more than 2 distinct devices of one
user within 15 minutes; 3 such UTC days in one monthly period mark one fee of 3900 cents.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lifecycle.core import clock
from lifecycle.storage import Account, AuditEvent, SharedLoginDetection
from lifecycle.usage.shared_logins import fee_month
from tests.conftest import point_service_at
from tests.support import STAFF, Reply, call, member, outbox_items, owner_of
from tests.unit.test_signup import TRIAL

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # the account's creation: periods start on the 25th
OFFICE, MOBILE, ELSEWHERE = "203.0.113.10", "198.51.100.7", "192.0.2.44"
HOME_V6 = "2001:db8:1:2::7"


pytestmark = pytest.mark.usefixtures("world")


@pytest.fixture
def account(outbox: Path) -> dict[str, Any]:
    reply = call("POST", "/signups", body=TRIAL)
    assert reply.status == 201, reply.body
    return dict(reply.body)


def use(account: dict[str, Any], device: str, ip: str, at: datetime, claims: dict[str, str] | None = None) -> None:
    clock.set_now(at)
    reply = call(
        "POST",
        f"/accounts/{account['id']}/sessions",
        body={"device_id": device},
        claims=claims or owner_of(account),
        source_ip=ip,
    )
    assert reply.status == 201, reply.body


def shared_day(account: dict[str, Any], day: date, claims: dict[str, str] | None = None) -> None:
    """Three people on one login within 10 minutes, each on a device and network of their own."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)
    for minutes, device, ip in ((0, "laptop-maria", OFFICE), (5, "laptop-ivan", ELSEWHERE), (10, "pc-petya", HOME_V6)):
        use(account, device, ip, start + timedelta(minutes=minutes), claims)


def items(account: dict[str, Any]) -> list[SharedLoginDetection]:
    return list(SharedLoginDetection.query(account["id"], consistent_read=True))


def fees(account: dict[str, Any]) -> list[SharedLoginDetection]:
    return [item for item in items(account) if item.kind == "fee"]


def notices_in(outbox: Path) -> list[dict[str, Any]]:
    return [item for item in outbox_items(outbox) if item["type"] == "shared_login_detected"]


def shared_logins(account: dict[str, Any], claims: dict[str, Any] | None = None) -> Reply:
    return call("GET", f"/accounts/{account['id']}/shared-logins", claims=claims or owner_of(account))


def waive(account: dict[str, Any], period: str, claims: dict[str, Any] | None = STAFF) -> Reply:
    path = f"/admin/accounts/{account['id']}/shared-logins/{period}/waive"
    return call("POST", path, body={"reason": "second user was being set up"}, claims=claims)


DAY_1, DAY_2, DAY_3 = date(2026, 11, 26), date(2026, 12, 3), date(2026, 12, 10)


# ---------------------------------------------------------------- R-USE-1 concurrent use


def test_r_use_1_one_person_with_a_phone_and_a_laptop_is_never_a_detection(account: dict[str, Any]) -> None:
    """Two devices on two networks at once, every few minutes, on many days: one person."""
    for day in range(5):
        start = NOW + timedelta(days=day)
        for minute in range(0, 60, 4):
            phone_or_laptop = ("phone-maria", MOBILE) if minute % 8 else ("laptop-maria", OFFICE)
            use(account, *phone_or_laptop, start + timedelta(minutes=minute))
    assert items(account) == []


def test_r_use_1_three_devices_within_15_minutes_are_a_detection_with_evidence_but_no_full_ips(
    account: dict[str, Any],
) -> None:
    shared_day(account, DAY_1)

    (detection,) = items(account)
    assert detection.detection_key == f"2026-11-25#{account['owner_id']}#2026-11-26"
    assert (detection.kind, detection.user_id, detection.day) == ("detection", account["owner_id"], "2026-11-26")
    assert detection.devices == {"laptop-maria", "laptop-ivan", "pc-petya"}
    assert detection.networks == {"203.0.113.0/24", "192.0.2.0/24", "2001:db8:1::/48"}
    assert (detection.first_seen, detection.last_seen) == (
        datetime(2026, 11, 26, 9, 0, tzinfo=UTC),
        datetime(2026, 11, 26, 9, 10, tzinfo=UTC),
    )
    stored = json.dumps(detection.serialize())
    assert not any(ip in stored for ip in (OFFICE, ELSEWHERE, HOME_V6)), "data minimisation: prefixes only"


def test_r_use_1_devices_20_minutes_apart_are_not_concurrent(account: dict[str, Any]) -> None:
    for minutes, device in ((0, "laptop-1"), (20, "laptop-2"), (40, "laptop-3"), (60, "laptop-4")):
        use(account, device, OFFICE, NOW + timedelta(minutes=minutes))
    assert items(account) == []


def test_r_use_1_the_window_is_15_minutes_inclusive(account: dict[str, Any]) -> None:
    use(account, "a", OFFICE, NOW)
    use(account, "b", OFFICE, NOW + timedelta(minutes=5))
    use(account, "c", OFFICE, NOW + timedelta(minutes=15, seconds=1))  # "a" has left the window
    assert items(account) == []
    use(account, "d", OFFICE, NOW + timedelta(minutes=20))  # b, c, d within 15 minutes
    assert len(items(account)) == 1


def test_r_use_1_a_day_is_one_detection_extended_by_later_concurrent_use(account: dict[str, Any]) -> None:
    shared_day(account, DAY_1)
    evening = datetime(2026, 11, 26, 18, 0, tzinfo=UTC)
    for minutes, device in ((0, "a"), (1, "b"), (2, "c")):
        use(account, device, MOBILE, evening + timedelta(minutes=minutes))

    (detection,) = items(account)
    assert detection.devices == {"laptop-maria", "laptop-ivan", "pc-petya", "a", "b", "c"}
    assert "198.51.100.0/24" in detection.networks
    assert (detection.first_seen, detection.last_seen) == (
        datetime(2026, 11, 26, 9, 0, tzinfo=UTC),
        evening + timedelta(minutes=2),
    )
    assert detection.windows == 2


def test_r_use_1_each_user_is_judged_on_their_own_sessions(account: dict[str, Any]) -> None:
    """The owner's two devices and an agent's device at once are two people on two logins."""
    agent = member(account["id"], "agent", sub="usr_agent")
    use(account, "phone-maria", MOBILE, NOW)
    use(account, "laptop-maria", OFFICE, NOW + timedelta(minutes=1))
    use(account, "laptop-agent", OFFICE, NOW + timedelta(minutes=2), agent)
    assert items(account) == []


def test_r_use_1_the_allowance_is_a_setting(account: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    point_service_at({"SHARED_LOGIN_MAX_DEVICES": "1"}, monkeypatch)
    use(account, "phone-maria", MOBILE, NOW)
    use(account, "laptop-maria", OFFICE, NOW + timedelta(minutes=1))
    assert len(items(account)) == 1


# ---------------------------------------------------------------- R-USE-2 the fee and the notice


def test_r_use_2_three_detection_days_in_a_period_mark_one_fee_and_send_one_notice(
    account: dict[str, Any], outbox: Path
) -> None:
    shared_day(account, DAY_1)
    shared_day(account, DAY_2)
    assert (fees(account), notices_in(outbox)) == ([], [])

    shared_day(account, DAY_3)
    shared_day(account, date(2026, 12, 11))  # a fourth day: no second fee, no second notice

    (fee,) = fees(account)
    assert fee.detection_key == "2026-11-25#fee"
    assert (fee.status, fee.amount, fee.currency, fee.detection_days) == ("pending", 3900, "USD", 3)
    assert (fee.users, fee.marked_at) == ({account["owner_id"]}, datetime(2026, 12, 10, 9, 10, tzinfo=UTC))
    (notice,) = notices_in(outbox)
    assert (notice["to"], notice["account_id"], notice["id"]) == (TRIAL["email"], account["id"], fee.notice_id)
    body = notice["body"]
    assert "Maria Ivanova" in body
    assert "on 3 days of the billing period 25 November 2026 to 24 December 2026" in body
    assert "39.00 USD" in body
    assert "- 3 December 2026: 3 devices on 3 networks, 09:00 to 09:10 UTC" in body
    assert not any(secret in body for secret in (OFFICE, "203.0.113.0", "laptop-ivan")), "counts only in email"


def test_r_use_2_three_days_spread_over_two_periods_mark_nothing(account: dict[str, Any], outbox: Path) -> None:
    for day in (date(2026, 12, 23), date(2026, 12, 24), date(2026, 12, 25)):  # the 25th starts a period
        shared_day(account, day)
    assert {item.detection_key.split("#")[0] for item in items(account)} == {"2026-11-25", "2026-12-25"}
    assert (fees(account), notices_in(outbox)) == ([], [])


def test_r_use_2_a_second_shared_login_in_the_period_joins_the_one_fee(account: dict[str, Any], outbox: Path) -> None:
    agent = member(account["id"], "agent", sub="usr_agent")
    for day in (DAY_1, DAY_2, DAY_3):
        shared_day(account, day)
        shared_day(account, day + timedelta(days=1), agent)

    (fee,) = fees(account)
    assert (fee.users, fee.amount) == ({account["owner_id"], "usr_agent"}, 3900)
    assert len(notices_in(outbox)) == 1


def test_r_use_2_staff_waive_a_fee_once_with_an_audit_event(account: dict[str, Any]) -> None:
    for day in (DAY_1, DAY_2, DAY_3):
        shared_day(account, day)
    clock.set_now(datetime(2026, 12, 12, tzinfo=UTC))

    first = waive(account, "2026-11-25")
    again = waive(account, "2026-11-25")

    assert first.status == 200, first.body
    assert (first.body["status"], first.body["waived_by"], first.body["amount"]) == (
        "waived",
        "staff-1",
        {"amount": 3900, "currency": "USD"},
    )
    assert (again.status, again.body) == (200, first.body)
    waived = [event for event in AuditEvent.query(account["id"]) if event.type == "shared_login_fee_waived"]
    assert [(event.actor, event.details.as_dict()) for event in waived] == [
        ("staff-1", {"period": "2026-11-25", "reason": "second user was being set up"})
    ]
    assert shared_logins(account).body["fees"][0]["status"] == "waived"


def test_r_use_2_only_staff_waive_and_only_a_marked_fee(account: dict[str, Any]) -> None:
    assert (waive(account, "2026-11-25").status, waive(account, "2026-11-25").code) == (404, "not_found")
    for day in (DAY_1, DAY_2, DAY_3):
        shared_day(account, day)
    refused = waive(account, "2026-11-25", owner_of(account))
    assert (refused.status, refused.code) == (403, "forbidden")
    malformed = waive(account, "november")
    assert (malformed.status, malformed.code) == (422, "validation_error")
    assert fees(account)[0].status == "pending"


def test_r_use_2_a_fee_no_longer_pending_is_not_waived(account: dict[str, Any]) -> None:
    for day in (DAY_1, DAY_2, DAY_3):
        shared_day(account, day)
    SharedLoginDetection(account["id"], "2026-11-25#fee").update(actions=[SharedLoginDetection.status.set("invoiced")])
    reply = waive(account, "2026-11-25")
    assert (reply.status, reply.code) == (409, "conflict")


# ---------------------------------------------------------------- the owner's view


def test_r_use_1_the_owner_sees_the_evidence_and_the_fee(account: dict[str, Any]) -> None:
    for day in (DAY_1, DAY_2, DAY_3):
        shared_day(account, day)

    reply = shared_logins(account)

    assert reply.status == 200, reply.body
    (fee,) = reply.body["fees"]
    assert fee == {
        "period": "2026-11-25",
        "period_start": "2026-11-25T00:00:00Z",
        "period_end": "2026-12-25T00:00:00Z",
        "amount": {"amount": 3900, "currency": "USD"},
        "status": "pending",
        "users": [account["owner_id"]],
        "detection_days": 3,
        "marked_at": "2026-12-10T09:10:00Z",
        "notice_id": fee["notice_id"],
        "waived_at": None,
        "waived_by": None,
        "waive_reason": None,
    }
    assert fee["notice_id"].startswith("ntf_")
    assert [item["day"] for item in reply.body["detections"]] == ["2026-12-10", "2026-12-03", "2026-11-26"]
    assert reply.body["detections"][0] == {
        "period": "2026-11-25",
        "user_id": account["owner_id"],
        "day": "2026-12-10",
        "devices": ["laptop-ivan", "laptop-maria", "pc-petya"],
        "networks": ["192.0.2.0/24", "2001:db8:1::/48", "203.0.113.0/24"],
        "first_seen": "2026-12-10T09:00:00Z",
        "last_seen": "2026-12-10T09:10:00Z",
        "windows": 1,
    }


def test_agents_are_refused_other_accounts_not_found_and_staff_reads_audited(account: dict[str, Any]) -> None:
    agent = shared_logins(account, member(account["id"], "agent", sub="usr_agent"))
    assert (agent.status, agent.code) == (403, "forbidden")
    other = shared_logins(account, member("acc_other", "owner"))
    assert (other.status, other.code) == (404, "not_found")
    assert shared_logins(account, STAFF).status == 200
    accesses = [event.details.as_dict() for event in AuditEvent.query(account["id"]) if event.type == "staff_access"]
    assert accesses == [{"resource": "shared_logins"}]


# ---------------------------------------------------------------- fee months


@pytest.mark.parametrize(
    ("anchor", "at", "start", "end"),
    [
        (date(2026, 11, 25), date(2026, 11, 25), date(2026, 11, 25), date(2026, 12, 25)),
        (date(2026, 11, 25), date(2026, 12, 24), date(2026, 11, 25), date(2026, 12, 25)),
        (date(2026, 11, 25), date(2027, 1, 3), date(2026, 12, 25), date(2027, 1, 25)),
        (date(2027, 1, 31), date(2027, 2, 27), date(2027, 1, 31), date(2027, 2, 28)),
        (date(2027, 1, 31), date(2027, 2, 28), date(2027, 2, 28), date(2027, 3, 31)),
        (date(2028, 1, 31), date(2028, 2, 29), date(2028, 2, 29), date(2028, 3, 31)),
        (date(2027, 1, 31), date(2027, 4, 30), date(2027, 4, 30), date(2027, 5, 31)),
    ],
)
def test_r_use_1_fee_months_are_anchored_at_the_creation_day_s_midnight_as_each_month_allows(
    anchor: date, at: date, start: date, end: date
) -> None:
    """An account created at noon has fee months from midnight to midnight: every UTC
    detection day (R-USE-1) falls in exactly one, whatever time of day billing periods keep."""

    def midnight(day: date) -> datetime:
        return datetime.combine(day, datetime.min.time(), tzinfo=UTC)

    created = Account("acc_fee_months", created_at=midnight(anchor) + timedelta(hours=12))
    for instant in (midnight(at), midnight(at) + timedelta(hours=12), midnight(at) + timedelta(days=1, seconds=-1)):
        month = fee_month(created, instant)
        assert (month.starts_at, month.ends_at) == (midnight(start), midnight(end))
        assert month.key == start.isoformat()  # the keys stored before: YYYY-MM-DD
