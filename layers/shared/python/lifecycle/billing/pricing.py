"""Plan prices as data (API.md "Plans"): the standing prices of the settings, replaced from
an instant on by a price change staff scheduled with the notice R-PAY-9 requires.

A period is priced by the price in force for its account when it starts. R-PAY-9 per owner: a
change applies to an account from the first period starting at or after its ``effective_at``
and at least ``price_notice_days`` after the account's own notice was sent (``PriceNotices``);
while that notice is unsent it does not apply, and an account the fan-out did not reach (not
an owner of the plan when it ran) gets it at ``effective_at`` once the fan-out is complete.
Where a change does not apply, the one before it is tried, else the standing price.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lifecycle.core import clock
from lifecycle.core.money import Money
from lifecycle.core.plans import BillingPeriod, Plan
from lifecycle.core.settings import Settings
from lifecycle.storage import Account, PriceChange
from lifecycle.storage import prices as price_table

# Within ``one_read``: each price key's changes, earliest first, as read once.
_read: ContextVar[dict[str, list[PriceChange]] | None] = ContextVar("prices_read", default=None)


def price_key(plan: str, billing_period: str) -> str:
    return f"{plan}#{billing_period}"


def standing_price(plan: Plan, billing_period: BillingPeriod, settings: Settings) -> int:
    prices = settings.plan_prices[plan]
    return prices.monthly if billing_period == "monthly" else prices.annual


@dataclass(frozen=True)
class PriceNotices:
    """One account's price change notices (``Account.price_notices_*``): recorded and unsent,
    and sent with the instant each was sent."""

    unsent: frozenset[str] = frozenset()
    sent: dict[str, datetime] = field(default_factory=dict)

    @classmethod
    def of(cls, account: Account) -> PriceNotices:
        sent = {}
        for entry in account.price_notices_sent or ():
            change_id, _, instant = entry.rpartition("@")
            sent[change_id] = clock.parse_iso(instant)
        return cls(unsent=frozenset(account.price_notices_unsent or ()), sent=sent)


def effective_for(change: PriceChange, notices: PriceNotices, settings: Settings) -> datetime | None:
    """The first instant ``change`` can apply to the account of ``notices``; None while it
    cannot be known (its notice to them is recorded but unsent, or not recorded yet)."""
    if change.id in notices.unsent:
        return None
    sent = notices.sent.get(change.id)
    if sent is not None:
        return max(change.effective_at, sent + timedelta(days=settings.price_notice_days))
    # Not notified: the account was no owner of the plan when the fan-out ran.
    return change.effective_at if change.fanout_complete else None


def seat_price(
    plan: Plan,
    billing_period: BillingPeriod,
    period_start: datetime,
    settings: Settings,
    notices: PriceNotices | None,
) -> Money:
    """The price per seat of one period starting at ``period_start`` for the account whose
    ``notices`` are given (module doc); ``None``: the list price, as staff scheduled it."""
    key = price_key(plan, billing_period)
    read = _read.get()
    if read is None:
        changes = list(price_table.changes_of(key))
    else:
        if key not in read:
            read[key] = list(price_table.changes_of(key))
        changes = read[key]
    in_force = next((change for change in reversed(changes) if _applies(change, period_start, notices, settings)), None)
    if in_force is not None:
        return Money(amount=int(in_force.amount), currency=in_force.currency)
    return Money(amount=standing_price(plan, billing_period, settings), currency=settings.currency)


def _applies(change: PriceChange, period_start: datetime, notices: PriceNotices | None, settings: Settings) -> bool:
    if notices is None:
        return change.effective_at <= period_start
    effective = effective_for(change, notices, settings)
    return effective is not None and effective <= period_start


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
