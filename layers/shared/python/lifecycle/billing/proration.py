"""The prorated charge for a mid-period upgrade (R-PAY-5; API.md "Proration"): the price difference for
the rest of a non-monthly period, by the second, rounded half-up to the cent in integers. Monthly
billing has none (R-PAY-6) and downgrades are never refunded (R-PAY-7), so a negative difference is a
bug. Instants are passed in; this module reads no clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from lifecycle.core.billing_periods import Period
from lifecycle.core.money import Money, div_round_half_up


class ProrationView(BaseModel):
    """``{"amount": Money, "seconds_remaining", "period_seconds", "rule"}`` of API.md."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: Money
    seconds_remaining: StrictInt = Field(ge=0)
    period_seconds: StrictInt = Field(gt=0)
    rule: str


def prorate(difference_cents: int, remaining_seconds: int, period_seconds: int) -> int:
    """``remaining / period * difference`` in cents, rounded half-up (R-PAY-5).

    A negative difference is a downgrade, which R-PAY-7 never refunds or credits: refusing
    it keeps a sign error upstream from turning into money paid back.
    """
    if difference_cents < 0:
        raise ValueError("downgrades are not prorated (R-PAY-7): the difference must not be negative")
    if period_seconds <= 0:
        raise ValueError("the period must last at least one second")
    if not 0 <= remaining_seconds <= period_seconds:
        raise ValueError("the remaining seconds must lie within the period")
    return div_round_half_up(difference_cents * remaining_seconds, period_seconds)


def remaining_seconds(period: Period, now: datetime) -> int:
    """Whole seconds from ``now`` to the period's end, floored and clamped to the period.

    Floored so a started second is not charged; before the period it is the whole period,
    after it nothing remains.
    """
    left = (period.ends_at - now) // timedelta(seconds=1)
    return max(0, min(left, period.seconds))


def explain(
    difference_cents: int, period: Period, now: datetime, currency: str = "USD", rule: str = "R-PAY-5"
) -> ProrationView:
    """The proration of ``difference_cents`` at ``now``, with the figures it came from."""
    seconds = remaining_seconds(period, now)
    amount = prorate(difference_cents, seconds, period.seconds)
    return ProrationView(
        amount=Money(amount=amount, currency=currency),
        seconds_remaining=seconds,
        period_seconds=period.seconds,
        rule=rule,
    )
