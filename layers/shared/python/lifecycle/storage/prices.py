"""The Prices table: scheduled price changes of the plans (R-PAY-9).

The settings hold each plan's standing prices; an item here replaces a plan's price for
one billing period kind from ``effective_at`` on, for each owner from the notice period
after their own notice was sent (R-PAY-9). Saving a change starts its fan-out: the owners'
notices are recorded after the request (lifecycle.billing.price_fanout); while it runs the
change carries ``fanout_pending``, so the sparse ``fanout-pending`` index holds exactly the
changes whose fan-out a run must resume.
"""

from __future__ import annotations

from collections.abc import Iterator

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection

from lifecycle.storage.base import LeanModel


class FanoutPendingIndex(GlobalSecondaryIndex["PriceChange"]):  # type: ignore[no-untyped-call]  # pynamodb
    """Sparse: changes whose owners are not all notified yet, by shard and when scheduled."""

    class Meta:
        index_name = "fanout-pending"
        projection = KeysOnlyProjection()

    fanout_pending = UnicodeAttribute(hash_key=True)
    scheduled_at = UTCDateTimeAttribute(range_key=True)


class PriceChange(LeanModel):
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
    # Changes scheduled while owners were notified within the request: when the last notice
    # was recorded. Changes fanned out carry ``fanout_completed_at`` instead.
    notices_recorded_at = UTCDateTimeAttribute(null=True)
    # Owners whose notice is recorded (ADDed page by page as the fan-out goes).
    notified_accounts = NumberAttribute(default=0)
    # The fan-out (lifecycle.billing.price_fanout): its shard while unfinished, the by-price
    # index key it has reached, when a run last moved it on, and when it finished.
    fanout_pending = UnicodeAttribute(null=True)
    fanout_cursor = JSONAttribute(null=True)
    fanout_progress_at = UTCDateTimeAttribute(null=True)
    fanout_completed_at = UTCDateTimeAttribute(null=True)

    fanout_pending_index = FanoutPendingIndex()

    @property
    def fanout_complete(self) -> bool:
        """Every owner of the plan when the fan-out ran has their notice recorded."""
        return self.fanout_pending is None


def changes_of(key: str) -> Iterator[PriceChange]:
    """The changes of one price list ("<plan>#<billing period>"), earliest first (one Query)."""
    return PriceChange.query(key, consistent_read=True)


def all_changes() -> Iterator[PriceChange]:
    """Every change of every price list: one Scan (a staff listing of a small table, never a sweep)."""
    return PriceChange.scan(consistent_read=True)
