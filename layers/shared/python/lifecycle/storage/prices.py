"""The Prices table: scheduled price changes of the plans (R-PAY-9).

The settings hold each plan's standing prices; an item here replaces a plan's price for
one billing period kind from ``effective_at`` on. Staff schedule it only once every
affected owner has been notified at least the notice period before.
"""

from __future__ import annotations

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
