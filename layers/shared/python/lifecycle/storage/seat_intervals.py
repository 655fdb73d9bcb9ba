"""The SeatIntervals table: the time each extra user held a seat (R-VOUCH-6).

A user added beyond the account's included seats opens an interval (``end`` null); its
removal closes it (``end`` = the removal time). Billing prices intervals by the second;
an account's intervals are one Query, never a Scan.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute, UTCDateTimeAttribute

from lifecycle.storage.base import LeanModel


class SeatInterval(LeanModel):
    class Meta:
        table_name = "seat-intervals"

    account_id = UnicodeAttribute(hash_key=True)
    # "<user_id>#<start ISO>": one user's intervals sort together, by start.
    interval_key = UnicodeAttribute(range_key=True)
    user_id = UnicodeAttribute()
    start = UTCDateTimeAttribute()
    # None while the user still holds the seat.
    end = UTCDateTimeAttribute(null=True)
    billable = BooleanAttribute()


def unbilled(account_id: str, billed_through: datetime, before: datetime) -> Iterator[SeatInterval]:
    """The account's billable intervals that start before ``before`` and were open after
    ``billed_through`` (one Query)."""
    return SeatInterval.query(
        account_id,
        filter_condition=(
            (SeatInterval.billable == True)  # noqa: E712 - pynamodb condition
            & (SeatInterval.start < before)
            & (SeatInterval.end.does_not_exist() | (SeatInterval.end > billed_through))
        ),
        consistent_read=True,
    )
