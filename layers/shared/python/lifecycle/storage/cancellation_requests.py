"""The CancellationRequests table: cancellations asked by email (R-TERM-2).

A request is ``pending`` until staff confirm it. While pending and not yet escalated it
carries ``sla_sweep`` (its shard), which puts it into the sparse ``sla-due`` index the
``cancellation-sla-sweep`` schedule queries for ``due_by < now``; confirming or
escalating removes it, so each request is escalated at most once.
"""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection

from lifecycle.storage.base import LeanModel

PENDING = "pending"
CONFIRMED = "confirmed"


class SlaDueIndex(GlobalSecondaryIndex["CancellationRequest"]):  # type: ignore[no-untyped-call]  # pynamodb
    """Sparse: only pending, not yet escalated requests carry ``sla_sweep``."""

    class Meta:
        index_name = "sla-due"
        projection = KeysOnlyProjection()

    sla_sweep = UnicodeAttribute(hash_key=True)
    due_by = UTCDateTimeAttribute(range_key=True)


class CancellationRequest(LeanModel):
    class Meta:
        table_name = "cancellation-requests"

    id = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    status = UnicodeAttribute()  # pending → confirmed
    requested_at = UTCDateTimeAttribute()
    requested_by = UnicodeAttribute()
    # R-TERM-2: staff act within 1 business day: the end (last microsecond) of the next business
    # day of the vendor's calendar in its time zone, as UTC (lifecycle.ending.cancellation.due_by).
    due_by = UTCDateTimeAttribute()
    sla_sweep = UnicodeAttribute(null=True)
    escalated_at = UTCDateTimeAttribute(null=True)
    confirmed_at = UTCDateTimeAttribute(null=True)
    confirmed_by = UnicodeAttribute(null=True)

    sla_due = SlaDueIndex()
