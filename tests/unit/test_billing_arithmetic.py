"""Billing arithmetic without storage or clock: periods (R-PAY-1), proration (R-PAY-5, R-PAY-7)
and extra-seat metering (R-VOUCH-6).

Everything is UTC: periods are bounded by whole-second UTC instants (the anchor's time of day
kept) and every instant is an aware UTC datetime, so daylight-saving changes cannot matter. Amounts are
checked against exact fractions: ``Fraction`` is the reference, never a float.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from itertools import pairwise
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifecycle.billing.metering import Interval, SeatLine, seat_lines
from lifecycle.billing.proration import ProrationView, explain, prorate, remaining_seconds
from lifecycle.core.billing_periods import (
    Period,
    annual_period,
    following,
    midnight,
    monthly_period,
    period_of,
    whole_second,
)
from lifecycle.core.plans import BillingPeriod

SECOND = timedelta(seconds=1)
DAY = 86_400
UNIT = 3900  # R-VOUCH-6's default: cents per extra user per month
KINDS: list[BillingPeriod] = ["monthly", "annual"]
ANCHORS = [
    datetime(2023, 1, 31, 9, 30, tzinfo=UTC),
    datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC),
    datetime(2023, 12, 31, 0, 0, tzinfo=UTC),
    datetime(2023, 3, 30, 12, 0, tzinfo=UTC),
]
UNTIL = datetime(2030, 1, 1, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def exact_half_up(numerator: int, denominator: int) -> int:
    """The reference rounding for non-negative amounts: the nearest integer, halves up."""
    return int(Fraction(numerator, denominator) + Fraction(1, 2))


def tiles(kind: BillingPeriod, anchor: datetime, until: datetime = UNTIL) -> Iterator[Period]:
    """The periods from the anchor's to ``until``; a period that does not move on fails, not hangs."""
    period = period_of(kind, anchor, anchor)
    while period.starts_at < until:
        yield period
        after = following(period, kind, anchor)
        assert after.starts_at > period.starts_at, f"{after} does not follow {period}"
        period = after


instants = st.datetimes(min_value=datetime(2024, 3, 1), max_value=datetime(2029, 12, 31), timezones=st.just(UTC))
monthly_periods = st.builds(monthly_period, st.sampled_from(ANCHORS), instants)  # what R-VOUCH-6 meters
any_periods = st.builds(period_of, st.sampled_from(KINDS), st.sampled_from(ANCHORS), instants)


# --- periods (R-PAY-1: billed at the start of each monthly or annual period, from the instant paid) --


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("anchor", ANCHORS)
def test_r_pay_1_consecutive_periods_tile_time_across_leap_years(kind: BillingPeriod, anchor: datetime) -> None:
    """Each period starts where the one before ends, 2023-2029 (leap years 2024 and 2028
    inside), at the anchor's UTC time of day."""
    periods = list(tiles(kind, anchor))
    assert periods[0].starts_at == anchor
    for period, after in pairwise(periods):
        assert period.starts_at < period.ends_at == after.starts_at
        assert period.starts_at.time() == anchor.time()
        assert period.seconds == (period.ends_at - period.starts_at).days * DAY


@given(kind=st.sampled_from(KINDS), anchor=st.sampled_from(ANCHORS), at=instants)
def test_r_pay_1_every_instant_lies_in_exactly_one_period(kind: BillingPeriod, anchor: datetime, at: datetime) -> None:
    containing = [period for period in tiles(kind, anchor) if period.starts_at <= at < period.ends_at]
    assert containing == [period_of(kind, anchor, at)]


def test_r_pay_1_a_period_paid_at_16_00_ends_at_16_00_a_month_later() -> None:
    """The customer gets the whole month paid for: not from that day's midnight (16 hours lost)."""
    paid = utc(2026, 11, 25, 16)
    period = monthly_period(paid, paid)
    assert (period.starts_at, period.ends_at) == (paid, utc(2026, 12, 25, 16))
    assert period.seconds == 30 * DAY
    assert monthly_period(paid, utc(2026, 12, 25, 15, 59, 59)) == period
    assert monthly_period(paid, utc(2026, 12, 25, 16)).starts_at == utc(2026, 12, 25, 16)


@pytest.mark.parametrize(
    ("anchor", "starts"),
    [
        (
            utc(2027, 1, 31, 16),
            [utc(2027, 1, 31, 16), utc(2027, 2, 28, 16), utc(2027, 3, 31, 16), utc(2027, 4, 30, 16)],
        ),
        (utc(2028, 1, 31), [utc(2028, 1, 31), utc(2028, 2, 29), utc(2028, 3, 31), utc(2028, 4, 30)]),
        (utc(2028, 2, 29, 23, 59, 59), [utc(2028, 2, 29, 23, 59, 59), utc(2028, 3, 29, 23, 59, 59)]),
        (utc(2027, 12, 31, 8, 30), [utc(2027, 12, 31, 8, 30), utc(2028, 1, 31, 8, 30), utc(2028, 2, 29, 8, 30)]),
    ],
)
def test_r_pay_1_monthly_periods_follow_the_anchor_day_and_time_as_each_month_allows(
    anchor: datetime, starts: list[datetime]
) -> None:
    """Jan 31 16:00 → Feb 28 16:00 → Mar 31 16:00: the anchor's day as the month allows, its time always."""
    assert [period.starts_at for period in tiles("monthly", anchor, UNTIL)][: len(starts)] == starts


def test_r_pay_1_annual_periods_anchored_on_29_february_fall_back_to_the_28th_in_common_years() -> None:
    anchor = utc(2028, 2, 29, 16, 45)
    starts = [period.starts_at for period in tiles("annual", anchor, utc(2034, 1, 1))]
    assert starts == [
        utc(2028, 2, 29, 16, 45),
        utc(2029, 2, 28, 16, 45),
        utc(2030, 2, 28, 16, 45),
        utc(2031, 2, 28, 16, 45),
        utc(2032, 2, 29, 16, 45),
        utc(2033, 2, 28, 16, 45),
    ]
    assert annual_period(anchor, anchor).seconds == 365 * DAY  # to 28 February 2029


@pytest.mark.parametrize(
    ("anchor", "at", "start", "end"),
    [
        (utc(2026, 11, 25, 12), utc(2026, 11, 25, 12), utc(2026, 11, 25, 12), utc(2027, 11, 25, 12)),
        (utc(2026, 11, 25, 12), utc(2027, 11, 25, 11, 59, 59), utc(2026, 11, 25, 12), utc(2027, 11, 25, 12)),
        (utc(2026, 11, 25, 12), utc(2027, 11, 25, 12), utc(2027, 11, 25, 12), utc(2028, 11, 25, 12)),
        # The anniversary day before the anchor's time is still in the year before.
        (utc(2026, 11, 25, 12), utc(2026, 11, 25), utc(2025, 11, 25, 12), utc(2026, 11, 25, 12)),
        (utc(2027, 12, 31), utc(2029, 1, 1), utc(2028, 12, 31), utc(2029, 12, 31)),
        (utc(2023, 1, 31), utc(2024, 1, 30), utc(2023, 1, 31), utc(2024, 1, 31)),
    ],
)
def test_r_pay_1_annual_period_contains_the_instant_at(
    anchor: datetime, at: datetime, start: datetime, end: datetime
) -> None:
    assert annual_period(anchor, at) == Period(start, end)
    assert period_of("annual", anchor, at) == Period(start, end)


def test_r_pay_1_period_seconds_count_from_the_anchor_instant() -> None:
    assert monthly_period(utc(2027, 1, 31, 16), utc(2027, 2, 28, 16)).seconds == 31 * DAY  # Feb 28 → Mar 31
    assert monthly_period(utc(2028, 1, 31, 16), utc(2028, 2, 29, 16)).seconds == 31 * DAY  # Feb 29 → Mar 31
    assert monthly_period(utc(2027, 1, 31, 16), utc(2027, 2, 1)).seconds == 28 * DAY  # Jan 31 → Feb 28
    assert annual_period(utc(2027, 3, 1, 9), utc(2027, 6, 1)).seconds == 366 * DAY  # holds 29 Feb 2028
    assert annual_period(utc(2029, 3, 1, 9), utc(2029, 6, 1)).seconds == 365 * DAY


def test_r_pay_1_an_anchor_s_fraction_of_a_second_is_dropped_never_charged() -> None:
    """A card given at 16:00:00.7 starts the period at 16:00:00: bounds are whole seconds."""
    paid = utc(2026, 11, 25, 16, 0, 0, 700_000)
    assert monthly_period(paid, paid) == Period(utc(2026, 11, 25, 16), utc(2026, 12, 25, 16))
    assert whole_second(paid) == utc(2026, 11, 25, 16)


def test_r_pay_1_periods_are_utc_instants_so_daylight_saving_cannot_matter() -> None:
    """A local anchor counts by its UTC instant, and a period across a DST change is whole UTC days."""
    sofia = ZoneInfo("Europe/Sofia")
    anchor = datetime(2027, 3, 1, 0, 30, tzinfo=sofia)  # 28 February 22:30 UTC
    period = monthly_period(anchor, datetime(2027, 3, 28, 12, tzinfo=sofia))  # the DST change is 28 March
    assert period == Period(utc(2027, 2, 28, 22, 30), utc(2027, 3, 28, 22, 30))
    assert period.seconds == 28 * DAY
    assert period.starts_at.tzinfo is UTC


def test_r_pay_1_periods_stored_at_midnight_continue_at_midnight() -> None:
    """A period stored before periods kept the anchor's time (anchor, start and end at midnight)
    goes on at midnight: its anchor instant is a midnight."""
    stored = Period(utc(2026, 11, 25), utc(2026, 12, 25))
    anchor = utc(2026, 11, 25)
    assert following(stored, "monthly", anchor) == Period(utc(2026, 12, 25), utc(2027, 1, 25))
    assert following(Period(utc(2026, 11, 25), utc(2027, 11, 25)), "annual", anchor).ends_at == utc(2028, 11, 25)


def test_r_pay_1_period_keys_are_the_start_day_at_midnight_else_the_start_instant() -> None:
    """Keys stored before (``2026-11-25``) stay what a midnight period is called."""
    assert Period(utc(2026, 11, 25), utc(2026, 12, 25)).key == "2026-11-25"
    assert Period(utc(2026, 11, 25, 16), utc(2026, 12, 25, 16)).key == "2026-11-25T16:00:00Z"
    assert midnight(utc(2026, 11, 25, 16, 30)) == utc(2026, 11, 25)


@pytest.mark.parametrize(
    ("bounds", "message"),
    [
        ((datetime(2027, 1, 1), utc(2027, 2, 1)), "timezone-aware"),
        ((utc(2027, 1, 1), utc(2027, 2, 1, micro=5)), "whole seconds"),
        ((utc(2027, 2, 1), utc(2027, 2, 1)), "ends after"),
    ],
)
def test_r_pay_1_a_period_refuses_naive_fractional_or_empty_bounds(
    bounds: tuple[datetime, datetime], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Period(*bounds)


def test_r_pay_1_following_refuses_a_period_of_another_anchor_or_kind() -> None:
    anchor = utc(2027, 1, 31)
    with pytest.raises(ValueError, match="not one of the monthly periods"):
        following(Period(utc(2027, 2, 1), utc(2027, 3, 1)), "monthly", anchor)
    with pytest.raises(ValueError, match="not one of the monthly periods"):
        following(monthly_period(anchor, anchor), "monthly", utc(2027, 1, 31, 16))  # another time of day
    with pytest.raises(ValueError, match="not one of the annual periods"):
        following(monthly_period(anchor, anchor), "annual", anchor)
    with pytest.raises(ValueError, match="unknown billing period"):
        period_of(cast(BillingPeriod, "weekly"), anchor, anchor)


# --- proration (R-PAY-5; R-PAY-7: downgrades are never prorated) --------------------------------

periods_seconds = st.integers(min_value=1, max_value=400 * DAY)
differences = st.integers(min_value=0, max_value=10_000_000)


@st.composite
def shares(draw: st.DrawFn) -> tuple[int, int, int]:
    period = draw(periods_seconds)
    return draw(differences), draw(st.integers(min_value=0, max_value=period)), period


@given(shares())
def test_r_pay_5_proration_is_integer_cents_between_zero_and_the_difference(share: tuple[int, int, int]) -> None:
    difference, remaining, period = share
    amount = prorate(difference, remaining, period)
    assert type(amount) is int
    assert 0 <= amount <= difference
    assert amount == exact_half_up(difference * remaining, period)


@given(differences, periods_seconds)
def test_r_pay_5_proration_is_the_whole_difference_at_full_period_and_nothing_at_zero_seconds(
    difference: int, period: int
) -> None:
    assert prorate(difference, period, period) == difference
    assert prorate(difference, 0, period) == 0


@given(st.integers(min_value=0, max_value=5_000_000), st.integers(min_value=1, max_value=200 * DAY))
def test_r_pay_5_proration_rounds_exact_halves_up(half_cents: int, half_period: int) -> None:
    """An odd difference over half the period ends in exactly half a cent, which goes up."""
    difference = 2 * half_cents + 1
    assert prorate(difference, half_period, 2 * half_period) == half_cents + 1


@given(shares())
def test_r_pay_5_proration_never_decreases_as_more_of_the_period_remains(share: tuple[int, int, int]) -> None:
    difference, remaining, period = share
    if remaining < period:
        assert prorate(difference, remaining, period) <= prorate(difference, remaining + 1, period)


def test_r_pay_5_proration_examples() -> None:
    assert prorate(12_000, 182 * DAY + DAY // 2, 365 * DAY) == 6000
    assert prorate(1, 1, 2) == 1  # half a cent goes up
    assert prorate(1, 1, 3) == 0  # a third of a cent goes down
    assert prorate(2, 2, 3) == 1  # 1.33 → 1
    assert prorate(0, 10, 20) == 0


def test_r_pay_7_a_downgrade_is_never_prorated_into_a_refund() -> None:
    with pytest.raises(ValueError, match="R-PAY-7"):
        prorate(-1, 10, 20)
    with pytest.raises(ValueError, match="R-PAY-7"):
        explain(-500, annual_period(utc(2027, 1, 1), utc(2027, 1, 1)), utc(2027, 6, 1))


@pytest.mark.parametrize(("remaining", "period"), [(-1, 10), (11, 10), (0, 0), (0, -5)])
def test_r_pay_5_proration_refuses_remaining_seconds_outside_the_period(remaining: int, period: int) -> None:
    with pytest.raises(ValueError, match="period"):
        prorate(100, remaining, period)


@given(any_periods, st.integers(min_value=-DAY, max_value=400 * DAY), st.integers(min_value=0, max_value=999_999))
def test_r_pay_5_remaining_seconds_are_floored_and_clamped_to_the_period(
    period: Period, offset: int, micros: int
) -> None:
    now = period.starts_at + timedelta(seconds=offset, microseconds=micros)
    remaining = remaining_seconds(period, now)
    micros_left = (period.ends_at - now) // timedelta(microseconds=1)
    assert remaining == max(0, min(period.seconds, micros_left // 1_000_000))
    assert 0 <= remaining <= period.seconds


def test_r_pay_5_remaining_seconds_examples() -> None:
    period = annual_period(utc(2027, 1, 1), utc(2027, 1, 1))
    assert remaining_seconds(period, utc(2026, 12, 31)) == 365 * DAY  # before: the whole period
    assert remaining_seconds(period, utc(2027, 1, 1)) == 365 * DAY
    assert remaining_seconds(period, utc(2027, 12, 31, 23, 59, 59) + timedelta(microseconds=1)) == 0
    assert remaining_seconds(period, utc(2027, 12, 31, 23, 59, 58, micro=500_000)) == 1
    assert remaining_seconds(period, utc(2028, 1, 1)) == 0
    assert remaining_seconds(period, utc(2029, 1, 1)) == 0  # after: nothing


def test_r_pay_5_r_pay_1_proration_counts_the_seconds_left_to_the_period_s_end_instant() -> None:
    """A year paid at 08:00 on 1 January ends at 08:00: an upgrade at noon on 2 July has 182
    days and 20 hours left of it, not the 182 and a half to midnight."""
    period = annual_period(utc(2027, 1, 1, 8), utc(2027, 5, 5))
    assert (period.starts_at, period.ends_at) == (utc(2027, 1, 1, 8), utc(2028, 1, 1, 8))
    view = explain(12_000, period, utc(2027, 7, 2, 12))
    seconds = 182 * DAY + 20 * 3600
    assert (view.seconds_remaining, view.period_seconds) == (seconds, 365 * DAY)
    assert view.amount.amount == exact_half_up(12_000 * seconds, 365 * DAY) == 6011
    assert remaining_seconds(period, utc(2028, 1, 1, 7, 59, 59)) == 1


def test_r_pay_5_explain_gives_the_api_proration_document() -> None:
    period = annual_period(utc(2027, 1, 1), utc(2027, 5, 5))
    view = explain(12_000, period, utc(2027, 7, 2, 12))
    assert isinstance(view, ProrationView)
    assert view.model_dump(mode="json") == {
        "amount": {"amount": 6000, "currency": "USD"},
        "seconds_remaining": 182 * DAY + DAY // 2,
        "period_seconds": 365 * DAY,
        "rule": "R-PAY-5",
    }
    other = explain(999, period, utc(2027, 12, 31), currency="EUR", rule="R-VOUCH-6")
    assert (other.amount.currency, other.amount.amount, other.rule) == ("EUR", 3, "R-VOUCH-6")  # 999 / 365


# --- extra-seat metering (R-VOUCH-6) -------------------------------------------------------------

unit_prices = st.integers(min_value=0, max_value=1_000_000)


def at_offset(period: Period, seconds: int) -> datetime:
    return period.starts_at + timedelta(seconds=seconds)


def only_line(intervals: list[Interval], period: Period, unit_price: int) -> SeatLine:
    lines = seat_lines(intervals, period, unit_price)
    assert len(lines) == 1
    return lines[0]


def test_r_vouch_6_an_extra_user_costs_the_share_of_the_month_they_existed() -> None:
    period = monthly_period(utc(2026, 11, 25), utc(2026, 12, 1))  # 30 days
    start, end = utc(2026, 12, 5, 12), utc(2026, 12, 15, 12)
    line = only_line([Interval("u1", start, end)], period, UNIT)
    assert line == SeatLine("u1", start, end, 10 * DAY, 30 * DAY, UNIT, 1300)
    one_second = Interval("u2", utc(2026, 12, 1), utc(2026, 12, 1, 0, 0, 1))
    assert only_line([one_second], period, UNIT).amount_cents == 0  # 0.0015 cents rounds down
    half = Interval("u3", utc(2026, 11, 10), utc(2026, 12, 10))  # clipped to 25 Nov → 10 Dec
    assert only_line([half], period, 3901).amount_cents == 1951  # 1950.5 rounds up


def test_r_vouch_6_lines_are_clipped_to_the_period_and_sorted_by_start_then_user() -> None:
    period = monthly_period(utc(2026, 11, 25), utc(2026, 12, 1))
    intervals = [
        Interval("zed", utc(2026, 12, 1), None),  # still open: billed to the period's end
        Interval("amy", utc(2026, 12, 1), utc(2027, 2, 1)),
        Interval("bob", utc(2026, 10, 1), utc(2026, 12, 1)),
        Interval("gone", utc(2026, 10, 1), utc(2026, 11, 25)),  # ended as the period began
        Interval("later", utc(2026, 12, 25), None),  # starts as the period ends
        Interval("blink", utc(2026, 12, 2), utc(2026, 12, 2) + timedelta(microseconds=999_999)),
    ]
    lines = seat_lines(intervals, period, UNIT)
    assert [(line.user_id, line.start, line.end) for line in lines] == [
        ("bob", utc(2026, 11, 25), utc(2026, 12, 1)),
        ("amy", utc(2026, 12, 1), utc(2026, 12, 25)),
        ("zed", utc(2026, 12, 1), utc(2026, 12, 25)),
    ]
    assert [line.amount_cents for line in lines] == [780, 3120, 3120]


def test_r_vouch_6_two_intervals_of_one_user_are_two_lines() -> None:
    period = monthly_period(utc(2026, 11, 25), utc(2026, 12, 1))
    first = Interval("u1", utc(2026, 11, 26), utc(2026, 11, 27))
    again = Interval("u1", utc(2026, 12, 3), utc(2026, 12, 4))
    assert [line.start for line in seat_lines([again, first], period, UNIT)] == [first.start, again.start]


@given(monthly_periods, unit_prices, st.integers(min_value=0, max_value=40 * DAY), st.booleans())
def test_r_vouch_6_a_full_period_interval_costs_exactly_the_unit_price(
    period: Period, unit_price: int, before: int, open_ended: bool
) -> None:
    end = None if open_ended else period.ends_at + timedelta(seconds=before)
    line = only_line([Interval("u1", period.starts_at - timedelta(seconds=before), end)], period, unit_price)
    assert (line.seconds, line.amount_cents) == (period.seconds, unit_price)


@st.composite
def metered(draw: st.DrawFn) -> tuple[Period, int, Interval]:
    period = draw(monthly_periods)
    start = draw(st.integers(min_value=-40 * DAY, max_value=period.seconds + DAY))
    length = draw(st.none() | st.integers(min_value=0, max_value=80 * DAY))
    end = None if length is None else at_offset(period, start + length)
    return period, draw(unit_prices), Interval("u1", at_offset(period, start), end)


@given(metered())
def test_r_vouch_6_a_line_is_never_negative_nor_above_the_unit_price(case: tuple[Period, int, Interval]) -> None:
    period, unit_price, interval = case
    for line in seat_lines([interval], period, unit_price):
        assert period.starts_at <= line.start < line.end <= period.ends_at
        assert 0 < line.seconds <= line.period_seconds == period.seconds
        assert type(line.amount_cents) is int
        assert 0 <= line.amount_cents <= unit_price
        assert line.amount_cents == exact_half_up(line.seconds * unit_price, period.seconds)


@given(metered(), st.integers(min_value=0, max_value=80 * DAY))
def test_r_vouch_6_splitting_an_interval_changes_the_total_by_at_most_a_cent_per_extra_line(
    case: tuple[Period, int, Interval], cut: int
) -> None:
    period, unit_price, whole = case
    split_at = whole.start + timedelta(seconds=cut)
    if whole.end is not None and split_at > whole.end:
        split_at = whole.end
    pieces = [Interval("u1", whole.start, split_at), Interval("u1", split_at, whole.end)]
    whole_lines, piece_lines = seat_lines([whole], period, unit_price), seat_lines(pieces, period, unit_price)
    assert sum(line.seconds for line in piece_lines) == sum(line.seconds for line in whole_lines)
    extra_lines = max(0, len(piece_lines) - len(whole_lines))
    total = sum(line.amount_cents for line in whole_lines)
    assert abs(sum(line.amount_cents for line in piece_lines) - total) <= extra_lines


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"start": utc(2027, 1, 2), "end": utc(2027, 1, 1)}, "end before"),
        ({"start": datetime(2027, 1, 1), "end": None}, "timezone-aware"),
        ({"start": utc(2027, 1, 1), "end": datetime(2027, 1, 2)}, "timezone-aware"),
    ],
)
def test_r_vouch_6_seat_intervals_refuse_reversed_or_naive_instants(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Interval("u1", **arguments)


def test_r_vouch_6_a_negative_unit_price_is_refused() -> None:
    period = monthly_period(utc(2026, 11, 25), utc(2026, 12, 1))
    with pytest.raises(ValueError, match="unit price"):
        seat_lines([], period, -1)
