"""The Campaigns table: voucher campaigns (the Terms' lifetime deal and any later ones)."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model


class Campaign(Model):
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
    # Maintained atomically by code import and redemption (ADD updates), never recounted.
    codes_total = NumberAttribute(default=0)
    codes_redeemed = NumberAttribute(default=0)
    abuse_signals = NumberAttribute(default=0)
