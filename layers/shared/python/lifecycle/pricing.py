"""Plan prices as data (API.md "Plans"): the standing prices of the settings, replaced from
an instant on by a price change staff scheduled with the notice R-PAY-9 requires.

A period is priced by the price in force when it starts: a change applies from the first
period starting on or after its ``effective_at``.
"""

from __future__ import annotations

from datetime import datetime

from lifecycle.money import Money
from lifecycle.plans import BillingPeriod, Plan
from lifecycle.settings import Settings
from lifecycle.storage import PriceChange


def price_key(plan: str, billing_period: str) -> str:
    return f"{plan}#{billing_period}"


def standing_price(plan: Plan, billing_period: BillingPeriod, settings: Settings) -> int:
    prices = settings.plan_prices[plan]
    return prices.monthly if billing_period == "monthly" else prices.annual


def seat_price(plan: Plan, billing_period: BillingPeriod, period_start: datetime, settings: Settings) -> Money:
    """The price per seat of one period starting at ``period_start``."""
    for change in PriceChange.query(
        price_key(plan, billing_period),
        PriceChange.effective_at <= period_start,
        scan_index_forward=False,
        limit=1,
        consistent_read=True,
    ):
        return Money(amount=int(change.amount), currency=change.currency)
    return Money(amount=standing_price(plan, billing_period, settings), currency=settings.currency)
