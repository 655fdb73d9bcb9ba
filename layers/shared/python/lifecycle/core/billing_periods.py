"""Billing periods (API.md "Billing periods", R-PAY-1): calendar months or years anchored at an
instant (a subscription's first payment, a voucher account's redemption). Each period begins at
the anchor's UTC time of day, on the anchor's day of the month as the month allows (31 Jan 16:00
→ 28/29 Feb 16:00 → 31 Mar 16:00; a 29 Feb anchor falls on 28 Feb in common years), so a period
paid at 16:00 is the whole month from 16:00. Bounds are whole UTC seconds ``[starts_at,
ends_at)``: daylight saving never moves one. Periods stored before they kept the anchor's time
of day were anchored at midnight, and continue so: their anchor is a midnight.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from lifecycle.core.plans import BillingPeriod


@dataclass(frozen=True)
class Period:
    """``[starts_at, ends_at)``: UTC instants in whole seconds, ``ends_at`` the next period's start."""

    starts_at: datetime
    ends_at: datetime

    def __post_init__(self) -> None:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("periods are bounded by timezone-aware instants")
        if self.starts_at.microsecond or self.ends_at.microsecond:
            raise ValueError("periods are bounded by whole seconds")
        if self.ends_at <= self.starts_at:
            raise ValueError("a period ends after it starts")
        object.__setattr__(self, "starts_at", self.starts_at.astimezone(UTC))
        object.__setattr__(self, "ends_at", self.ends_at.astimezone(UTC))

    @property
    def key(self) -> str:
        """The period's id in keys and paths: ``"2026-11-25"`` for a period starting at
        midnight (every period stored before periods kept the anchor's time, and every
        shared-login fee month), else its start ``"2026-11-25T16:00:00Z"``."""
        if self.starts_at.time() == time():
            return self.starts_at.date().isoformat()
        return self.starts_at.strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def seconds(self) -> int:
        """The period's length in whole seconds: the denominator of every pro-rata share."""
        return (self.ends_at - self.starts_at) // timedelta(seconds=1)


def whole_second(instant: datetime) -> datetime:
    """``instant`` in UTC without its fraction of a second: where a period anchored at it starts
    (a card given at 16:00:00.7 starts the period at 16:00:00, never after the payment)."""
    return instant.astimezone(UTC).replace(microsecond=0)


def midnight(instant: datetime) -> datetime:
    """The start of ``instant``'s UTC day."""
    return datetime.combine(instant.astimezone(UTC).date(), time(), tzinfo=UTC)


def _on(year: int, month: int, anchor: datetime) -> datetime:
    """The anchor's day and time of day in that month, on its last day when it is shorter."""
    return anchor.replace(year=year, month=month, day=min(anchor.day, calendar.monthrange(year, month)[1]))


def _shift(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def monthly_period(anchor: datetime, at: datetime) -> Period:
    """The monthly period anchored at ``anchor`` that contains the instant ``at``."""
    anchor, at = whole_second(anchor), at.astimezone(UTC)
    year, month = at.year, at.month
    if at < _on(year, month, anchor):
        year, month = _shift(year, month, -1)
    return Period(starts_at=_on(year, month, anchor), ends_at=_on(*_shift(year, month, 1), anchor))


def annual_period(anchor: datetime, at: datetime) -> Period:
    """The annual period anchored at ``anchor`` that contains the instant ``at``.

    The anchor's month, day and time of day repeat each year as the month allows (29
    February → 28 February in common years), so consecutive periods meet without gaps.
    """
    anchor, at = whole_second(anchor), at.astimezone(UTC)
    year = at.year
    if at < _on(year, anchor.month, anchor):
        year -= 1
    return Period(starts_at=_on(year, anchor.month, anchor), ends_at=_on(year + 1, anchor.month, anchor))


def period_of(billing_period: BillingPeriod, anchor: datetime, at: datetime) -> Period:
    """The ``billing_period`` period containing ``at``: one entry point for both kinds."""
    if billing_period == "monthly":
        return monthly_period(anchor, at)
    if billing_period == "annual":
        return annual_period(anchor, at)
    raise ValueError(f"unknown billing period {billing_period!r}")


def following(period: Period, billing_period: BillingPeriod, anchor: datetime) -> Period:
    """The period right after ``period``: the one that starts at its end.

    A period that does not belong to this anchor and kind is refused, since its "next"
    would leave a gap or an overlap in the invoices.
    """
    if period_of(billing_period, anchor, period.starts_at) != period:
        raise ValueError(f"{period} is not one of the {billing_period} periods anchored at {anchor.isoformat()}")
    return period_of(billing_period, anchor, period.ends_at)
