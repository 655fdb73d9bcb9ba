"""The Campaigns table: voucher campaigns (the Terms' lifetime deal and any later ones)."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from lifecycle.storage.base import LeanModel


class Campaign(LeanModel):
    class Meta:
        table_name = "campaigns"

    id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    plan = UnicodeAttribute()
    included_seats = NumberAttribute()
    price_amount = NumberAttribute()
    price_currency = UnicodeAttribute()
    # The deadline as an instant, and as the staff member wrote it (local time or instant).
    redeem_by = UTCDateTimeAttribute()
    redeem_by_input = UnicodeAttribute()
    time_zone = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    created_by = UnicodeAttribute()
    # ADDs, never recounted: codes_total by code import; codes_redeemed and abuse_signals by the
    # counter on the Vouchers table's stream (lifecycle.vouchers.counters), off the redemption's path.
    codes_total = NumberAttribute(default=0)
    codes_redeemed = NumberAttribute(default=0)
    abuse_signals = NumberAttribute(default=0)
    # The newest stream record the counts include (its approximate creation time); None: none yet.
    counted_through = UTCDateTimeAttribute(null=True)
