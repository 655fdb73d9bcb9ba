"""A campaign's redeem-by time in its own time zone (R-VOUCH-3): a date alone, the daylight
saving time changes, and the last second a code is redeemable, through the functions the
template routes to (over moto).

Europe/Sofia follows the EU's summer time (Directive 2000/84/EC): it starts on the last Sunday
of March and ends on the last Sunday of October, at 01:00 UTC both times. Sofia is UTC+2 in
winter and UTC+3 in summer, so its clocks jump from 03:00 to 04:00 in March (03:xx does not
exist) and fall back from 04:00 to 03:00 in October (03:xx happens twice).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lifecycle.core import clock
from lifecycle.storage import Campaign
from lifecycle.vouchers.campaigns import deadline_instant
from tests.support import STAFF, call
from tests.unit.test_signup import PERSON

pytestmark = pytest.mark.usefixtures("world")

SOFIA = "Europe/Sofia"


def last_sunday(year: int, month: int) -> date:
    day = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return day - timedelta(days=(day.weekday() - 6) % 7)


SPRING = last_sunday(2027, 3)  # 2027-03-28
AUTUMN = last_sunday(2026, 10)  # 2026-10-25


def deal(campaign_id: str, redeem_by: str, time_zone: str = SOFIA) -> dict[str, Any]:
    return {
        "campaign_id": campaign_id,
        "name": "Spring deal",
        "price": {"amount": 5900, "currency": "USD"},
        "redeem_by": redeem_by,
        "time_zone": time_zone,
    }


def test_r_vouch_3_the_last_sundays_are_the_sofia_changes_of_2026_and_2027() -> None:
    spring, autumn = last_sunday(2027, 3), last_sunday(2026, 10)
    assert spring == date(2027, 3, 28)
    assert autumn == date(2026, 10, 25)
    assert spring.weekday() == autumn.weekday() == 6


@pytest.mark.parametrize("year", [2025, 2026, 2027])
@pytest.mark.parametrize(("name", "winter_hours"), [(SOFIA, 2), ("Europe/Bratislava", 1)])
def test_r_vouch_3_the_zone_data_changes_the_clocks_as_directive_2000_84_ec_says(
    name: str, winter_hours: int, year: int
) -> None:
    """Summer time from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last Sunday of October."""
    tz = ZoneInfo(name)
    for starts, hours in ((last_sunday(year, 3), winter_hours + 1), (last_sunday(year, 10), winter_hours)):
        change = datetime(starts.year, starts.month, starts.day, 1, 0, tzinfo=UTC)
        assert change.astimezone(tz).utcoffset() == timedelta(hours=hours)
        assert (change - timedelta(seconds=1)).astimezone(tz).utcoffset() != timedelta(hours=hours)


def test_r_vouch_3_a_date_alone_is_the_end_of_that_day_in_the_campaign_time_zone() -> None:
    # The last second of 30 November 2019 in Sofia (UTC+2), as the Terms' own 23:59:59.
    assert deadline_instant("2019-11-30", SOFIA) == datetime(2019, 11, 30, 21, 59, 59, tzinfo=UTC)
    assert deadline_instant("2019-11-30", SOFIA) == deadline_instant("2019-11-30T23:59:59", SOFIA)
    # The day summer time starts ends at UTC+3.
    assert deadline_instant(SPRING.isoformat(), SOFIA) == datetime(2027, 3, 28, 20, 59, 59, tzinfo=UTC)
    # The day it ends is 25 hours long and ends at UTC+2.
    assert deadline_instant(AUTUMN.isoformat(), SOFIA) == datetime(2026, 10, 25, 21, 59, 59, tzinfo=UTC)
    assert deadline_instant("2019-11-30", "UTC") == datetime(2019, 11, 30, 23, 59, 59, tzinfo=UTC)


def test_r_vouch_3_local_times_around_the_spring_forward_gap() -> None:
    gap = f"{SPRING}T03:30:00"
    with pytest.raises(ValueError, match="does not exist in Europe/Sofia"):
        deadline_instant(gap, SOFIA)
    with pytest.raises(ValueError, match="does not exist"):
        deadline_instant(f"{SPRING}T03:00:00", SOFIA)
    assert deadline_instant(f"{SPRING}T02:59:59", SOFIA) == datetime(2027, 3, 28, 0, 59, 59, tzinfo=UTC)
    assert deadline_instant(f"{SPRING}T04:00:00", SOFIA) == datetime(2027, 3, 28, 1, 0, 0, tzinfo=UTC)
    # With an offset it is an instant, whatever the zone's clocks do.
    assert deadline_instant(f"{SPRING}T03:30:00+02:00", SOFIA) == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)


def test_r_vouch_3_an_ambiguous_local_time_in_the_autumn_fold_is_the_later_instant() -> None:
    # 03:30 happens at 00:30 UTC (summer time) and again at 01:30 UTC (winter time).
    assert deadline_instant(f"{AUTUMN}T03:30:00", SOFIA) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert deadline_instant(f"{AUTUMN}T03:00:00", SOFIA) == datetime(2026, 10, 25, 1, 0, tzinfo=UTC)
    assert deadline_instant(f"{AUTUMN}T02:59:59", SOFIA) == datetime(2026, 10, 24, 23, 59, 59, tzinfo=UTC)
    assert deadline_instant(f"{AUTUMN}T04:00:00", SOFIA) == datetime(2026, 10, 25, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize("redeem_by", ["9999-12-31", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+01:00"])
def test_r_vouch_3_a_deadline_past_the_calendars_edge_is_refused_not_a_500(redeem_by: str) -> None:
    with pytest.raises(ValueError, match="outside the range"):
        deadline_instant(redeem_by, SOFIA)


@pytest.mark.parametrize("redeem_by", [f"{SPRING}T03:30:00", f"{SPRING}T03:59:59", "9999-12-31"])
def test_r_vouch_3_a_campaign_whose_deadline_does_not_exist_is_422_and_not_created(redeem_by: str) -> None:
    reply = call("POST", "/admin/campaigns", body=deal("spring-gap", redeem_by), claims=STAFF)
    assert (reply.status, reply.code) == (422, "validation_error")
    assert [error["field"] for error in reply.body["errors"]] == ["redeem_by"]
    assert list(Campaign.scan()) == []  # test-only Scan: nothing was written
    assert call("GET", "/admin/campaigns/spring-gap", claims=STAFF).status == 404


def test_r_vouch_3_an_unknown_zone_is_reported_on_time_zone_alone() -> None:
    reply = call("POST", "/admin/campaigns", body=deal("nowhere", "2026-12-31", "Mars/Olympus"), claims=STAFF)
    assert (reply.status, reply.code) == (422, "validation_error")
    assert [error["field"] for error in reply.body["errors"]] == ["time_zone"]


def _campaign_with_a_code(campaign_id: str, redeem_by: str) -> tuple[dict[str, Any], str]:
    created = call("POST", "/admin/campaigns", body=deal(campaign_id, redeem_by), claims=STAFF)
    assert created.status == 201, created.body
    codes = call("POST", f"/admin/campaigns/{campaign_id}/codes", body={"count": 3}, claims=STAFF)
    assert codes.status == 201, codes.body
    return created.body, codes.body["codes"]


def _redeem(code: str, tag: str) -> tuple[int, str | None]:
    body = {**PERSON, "code": code, "email": f"{tag}@example.com", "company_name": f"Company {tag}"}
    reply = call("POST", "/redemptions", body=body)
    return reply.status, reply.code


def test_r_vouch_3_a_code_is_redeemable_one_second_before_the_autumn_deadline_and_not_one_after() -> None:
    """03:30:00 in the fold is the later one (01:30:00Z): a second before, a code is redeemed, also
    during the first 03:30; a second after its last second, it is 410 ``voucher_expired``."""
    created, (early, first, second) = _campaign_with_a_code("autumn", f"{AUTUMN}T03:30:00")
    assert (created["redeem_by"], created["redeem_by_local"]) == ("2026-10-25T01:30:00Z", f"{AUTUMN}T03:30:00")
    deadline = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)

    clock.set_now(datetime(2026, 10, 25, 0, 30, 1, tzinfo=UTC))  # just after the first 03:30
    assert _redeem(early, "first-fold") == (201, None)
    clock.set_now(deadline - timedelta(seconds=1))
    assert _redeem(first, "in-time") == (201, None)
    clock.set_now(deadline + timedelta(seconds=1))
    assert _redeem(second, "too-late") == (410, "voucher_expired")


def test_r_vouch_3_a_date_alone_is_redeemable_through_the_last_second_of_that_day() -> None:
    created, (first, second, _) = _campaign_with_a_code("spring-day", SPRING.isoformat())
    assert created["redeem_by"] == "2027-03-28T20:59:59Z"  # 23:59:59 at UTC+3
    clock.set_now(datetime(2027, 3, 28, 20, 59, 59, tzinfo=UTC))
    assert _redeem(first, "last-second") == (201, None)
    clock.set_now(datetime(2027, 3, 28, 21, 0, 0, tzinfo=UTC))  # 00:00 on 29 March in Sofia
    assert _redeem(second, "next-day") == (410, "voucher_expired")
