"""Plan prices as data (API.md "Plans"): the standing prices of the settings, replaced from
an instant on by a price change staff scheduled with the notice R-PAY-9 requires.

A period is priced by the price in force when it starts: a change applies from the first
period starting on or after its ``effective_at``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from lifecycle.core.money import Money
from lifecycle.core.plans import BillingPeriod, Plan
from lifecycle.core.settings import Settings
from lifecycle.storage import PriceChange
from lifecycle.storage import prices as price_table

# Within ``one_read``: each price key's changes, earliest first, as read once.
_read: ContextVar[dict[str, list[PriceChange]] | None] = ContextVar("prices_read", default=None)


def price_key(plan: str, billing_period: str) -> str:
    return f"{plan}#{billing_period}"


def standing_price(plan: Plan, billing_period: BillingPeriod, settings: Settings) -> int:
    prices = settings.plan_prices[plan]
    return prices.monthly if billing_period == "monthly" else prices.annual


def seat_price(plan: Plan, billing_period: BillingPeriod, period_start: datetime, settings: Settings) -> Money:
    """The price per seat of one period starting at ``period_start``."""
    key = price_key(plan, billing_period)
    read = _read.get()
    if read is None:
        in_force = price_table.in_force(key, period_start)
    else:
        if key not in read:
            read[key] = list(price_table.changes_of(key))
        in_force = next((change for change in reversed(read[key]) if change.effective_at <= period_start), None)
    if in_force is not None:
        return Money(amount=int(in_force.amount), currency=in_force.currency)
    return Money(amount=standing_price(plan, billing_period, settings), currency=settings.currency)


@contextmanager
def one_read() -> Iterator[None]:
    """Within the block (one request), each plan and billing period's changes are read once,
    one Query of its partition, and every ``seat_price`` of it is taken from that list: the
    prices of one decision come from one read, not one Query per price asked."""
    if _read.get() is not None:  # within an outer block already: its list serves
        yield
        return
    token = _read.set({})
    try:
        yield
    finally:
        _read.reset(token)
