"""Extra seats billed for the time each extra user existed (R-VOUCH-6; API.md "Billing periods").

Voucher accounts' extra users are billed monthly in arrears, per seat interval, pro rata by
the second: each interval clipped to the period gives one line of
``seconds * unit price / period seconds``, rounded half-up to the cent per line (so a split
interval may differ from the whole by a cent per extra line). Integers only, never floats;
every instant is a timezone-aware UTC datetime passed in and this module reads no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from lifecycle.core.billing_periods import Period
from lifecycle.core.money import div_round_half_up


@dataclass(frozen=True)
class Interval:
    """One extra user's existence: ``[start, end)``, ``end`` None while the user still exists."""

    user_id: str
    start: datetime
    end: datetime | None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or (self.end is not None and self.end.tzinfo is None):
            raise ValueError("seat intervals need timezone-aware instants")
        if self.end is not None and self.end < self.start:
            raise ValueError("a seat interval cannot end before it starts")


@dataclass(frozen=True)
class SeatLine:
    """One invoice line: an interval clipped to the period and what it costs."""

    user_id: str
    start: datetime
    end: datetime
    seconds: int
    period_seconds: int
    unit_price_cents: int
    amount_cents: int


def _clipped(interval: Interval, period: Period) -> tuple[datetime, datetime]:
    """The part of ``interval`` inside ``period``; empty (start >= end) when they do not meet."""
    end = period.ends_at if interval.end is None else min(interval.end, period.ends_at)
    return max(interval.start, period.starts_at), end


def _line(interval: Interval, period: Period, unit_price_cents: int) -> SeatLine | None:
    """The interval's line, or None when it overlaps the period by less than a whole second."""
    start, end = _clipped(interval, period)
    seconds = (end - start) // timedelta(seconds=1)  # whole seconds, floored, in integers
    if seconds <= 0:
        return None
    amount = div_round_half_up(seconds * unit_price_cents, period.seconds)
    return SeatLine(interval.user_id, start, end, seconds, period.seconds, unit_price_cents, amount)


def seat_lines(intervals: Iterable[Interval], period: Period, unit_price_cents: int) -> list[SeatLine]:
    """The period's seat lines, one per interval that overlaps it, by (start, user id).

    Each line is rounded on its own (R-VOUCH-6 "per line"); a full-period interval costs
    exactly the unit price. Overlapping intervals of one user are not merged: the caller
    keeps a user's intervals apart.
    """
    if unit_price_cents < 0:
        raise ValueError("a seat's unit price cannot be negative")
    lines = (_line(interval, period, unit_price_cents) for interval in intervals)
    return sorted((line for line in lines if line is not None), key=lambda line: (line.start, line.user_id))
