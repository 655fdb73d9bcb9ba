"""The Vouchers table: one item per code, keyed by a keyed hash of the normalised code.

A leaked dump holds no redeemable code (only HMACs). The campaign's terms are copied
onto each code at import, so redemption needs no read of the campaign: the deadline
is a condition of the redemption transaction itself (R-VOUCH-2, R-VOUCH-3).
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from lifecycle.storage.base import LeanModel


class Voucher(LeanModel):
    class Meta:
        table_name = "vouchers"

    code_hash = UnicodeAttribute(hash_key=True)
    campaign_id = UnicodeAttribute()
    plan = UnicodeAttribute()
    included_seats = NumberAttribute()
    price_amount = NumberAttribute()
    price_currency = UnicodeAttribute()
    # Exclusive end: the campaign's redeem-by instant plus one second ("inclusive of the last second").
    redeemable_until = UTCDateTimeAttribute()
    imported_at = UTCDateTimeAttribute()
    redeemed_at = UTCDateTimeAttribute(null=True)
    account_id = UnicodeAttribute(null=True)
    revoked_at = UTCDateTimeAttribute(null=True)
    revoke_reason = UnicodeAttribute(null=True)
    # R-VOUCH-2: attempts to redeem the code again, each an ADD on this item alone (the campaign's
    # abuse signals are counted from the table's stream).
    reuse_attempts = NumberAttribute(null=True)
