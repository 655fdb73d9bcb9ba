"""Monthly billing periods anchored at the account's start day (API.md "Billing periods").

A period is a calendar month from the anchor day: an account created on 31 January has
periods starting 31 January, 28 (or 29) February, 31 March, 30 April… as each month
allows. Periods are whole UTC days, ``[start, end)``, so a UTC day (e.g. a shared-login
detection day, R-USE-1) always falls inside exactly one period.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time


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
