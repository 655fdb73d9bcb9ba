"""The Prices table: scheduled price changes of the plans (R-PAY-9).

The settings hold each plan's standing prices; an item here replaces a plan's price for
one billing period kind from ``effective_at`` on. Staff schedule it only once every
affected owner has been notified at least the notice period before.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model


class PriceChange(Model):
    class Meta:
        table_name = "prices"

    # "<plan>#<billing period>": "ticket#monthly"
    price_key = UnicodeAttribute(hash_key=True)
    effective_at = UTCDateTimeAttribute(range_key=True)
    id = UnicodeAttribute()
    plan = UnicodeAttribute()
    billing_period = UnicodeAttribute()
    amount = NumberAttribute()  # integer cents per seat and period
    currency = UnicodeAttribute()
    previous_amount = NumberAttribute()
    scheduled_at = UTCDateTimeAttribute()
    scheduled_by = UnicodeAttribute()
    # When the last affected owner's notice was recorded; effective_at is at least the notice
    # period after it.
    notices_recorded_at = UTCDateTimeAttribute()
    notified_accounts = NumberAttribute(default=0)


def changes_of(key: str) -> Iterator[PriceChange]:
    """The changes of one price list ("<plan>#<billing period>"), earliest first (one Query)."""
    return PriceChange.query(key, consistent_read=True)


def in_force(key: str, at: datetime) -> PriceChange | None:
    """The change of ``key`` in force at ``at``: the latest effective then (one Query, one item)."""
    found = PriceChange.query(
        key, PriceChange.effective_at <= at, scan_index_forward=False, limit=1, consistent_read=True
    )
    return next(iter(found), None)


def scheduled_at(key: str, effective_at: datetime) -> bool:
    """Whether a change of ``key`` takes effect at ``effective_at`` (one Query)."""
    return any(True for _ in PriceChange.query(key, PriceChange.effective_at == effective_at, consistent_read=True))


def all_changes() -> Iterator[PriceChange]:
    """Every change of every price list: one Scan (a staff listing of a small table, never a sweep)."""
    return PriceChange.scan(consistent_read=True)
