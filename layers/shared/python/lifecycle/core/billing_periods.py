"""Billing periods anchored at the account's start day (API.md "Billing periods", R-PAY-1): calendar
months or years from the anchor (31 Jan → 28/29 Feb → 31 Mar; a 29 Feb anchor falls on 28 Feb in common
years), whole UTC days ``[start, end)``, so a UTC day (a shared-login detection day, R-USE-1) falls in
exactly one period and daylight saving never moves one.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from lifecycle.core.plans import BillingPeriod


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # the next period's start: the period is [start, end)

    @property
    def key(self) -> str:
        """``"2026-11-25"``: the period's id in keys and paths."""
        return self.start.isoformat()

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.start, time(), tzinfo=UTC)

    @property
    def ends_at(self) -> datetime:
        return datetime.combine(self.end, time(), tzinfo=UTC)

    @property
    def seconds(self) -> int:
        """The period's length in whole seconds: the denominator of every pro-rata share."""
        return (self.ends_at - self.starts_at) // timedelta(seconds=1)


def _anchored(year: int, month: int, anchor_day: int) -> date:
    """The anchor day in that month, or the month's last day when it is shorter."""
    return date(year, month, min(anchor_day, calendar.monthrange(year, month)[1]))


def _shift(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def monthly_period(anchor: datetime, at: datetime) -> Period:
    """The monthly period, anchored at ``anchor``'s UTC day, that contains ``at``'s UTC day."""
    anchor_day, day = anchor.astimezone(UTC).day, at.astimezone(UTC).date()
    year, month = day.year, day.month
    if day < _anchored(year, month, anchor_day):
        year, month = _shift(year, month, -1)
    start = _anchored(year, month, anchor_day)
    return Period(start=start, end=_anchored(*_shift(year, month, 1), anchor_day))


def annual_period(anchor: datetime, at: datetime) -> Period:
    """The annual period, anchored at ``anchor``'s UTC day, that contains ``at``'s UTC day.

    The anchor's month and day repeat each year as the month allows (29 February → 28
    February in common years), so consecutive periods meet without gaps.
    """
    anchor_day, day = anchor.astimezone(UTC).date(), at.astimezone(UTC).date()
    year = day.year
    if day < _anchored(year, anchor_day.month, anchor_day.day):
        year -= 1
    start = _anchored(year, anchor_day.month, anchor_day.day)
    return Period(start=start, end=_anchored(year + 1, anchor_day.month, anchor_day.day))


def period_of(billing_period: BillingPeriod, anchor: datetime, at: datetime) -> Period:
    """The ``billing_period`` period containing ``at``: one entry point for both kinds."""
    if billing_period == "monthly":
        return monthly_period(anchor, at)
    if billing_period == "annual":
        return annual_period(anchor, at)
    raise ValueError(f"unknown billing period {billing_period!r}")


def following(period: Period, billing_period: BillingPeriod, anchor: datetime) -> Period:
    """The period right after ``period``: the one that contains its end day.

    A period that does not belong to this anchor and kind is refused, since its "next"
    would leave a gap or an overlap in the invoices.
    """
    if period_of(billing_period, anchor, period.starts_at) != period:
        raise ValueError(f"{period} is not one of the {billing_period} periods anchored at {anchor.isoformat()}")
    return period_of(billing_period, anchor, period.ends_at)
