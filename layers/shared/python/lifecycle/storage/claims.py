"""The Claims table: names that must be unique across all accounts.

``subdomain#<slug>`` and ``owner-email#<address>`` items are written in the same
transaction as the account, with ``attribute_not_exists``: uniqueness is a DynamoDB
condition, never a read-then-write. ``user-email#<account id>#<address>`` does the same
for the users added to an account, and is deleted with the user.
"""

from __future__ import annotations

from pynamodb.attributes import TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute

from lifecycle.storage.base import LeanModel

SUBDOMAIN = "subdomain#"
OWNER_EMAIL = "owner-email#"
# "user-email#<account id>#<address>": one user per address within an account.
USER_EMAIL = "user-email#"
# "invoice#<account id>#<purpose>": one invoice per account and purpose (a period's renewal, the
# first period, a correction), so a retried charge or billing run never issues a second one.
INVOICE = "invoice#"
# "payment-action#<account id>#<notice id>": one payment_action_required notice per authentication
# link (the notice's id is a hash of it), so a retry answered with the same waiting payment sends
# no second one; the purge finds the claim from the notice.
PAYMENT_ACTION = "payment-action#"
# "payment-event#<provider event id>": a payment provider's webhook event was applied, written in the
# transaction of its effect so a redelivery changes nothing (lifecycle.billing.webhooks).
PAYMENT_EVENT = "payment-event#"
# "price-notice#<price change id>#<account id>": the owner's notice of a price change is recorded,
# written in the transaction of the notice so two fan-out runs record it once (R-PAY-9).
PRICE_NOTICE = "price-notice#"
# "counted#<stream record's eventID>": a Vouchers stream record was counted on its campaign, written
# in the transaction of the count so a redelivered record counts once (lifecycle.vouchers.counters).
# Its account_id is the code's account ("" for a code the purge unlinked); it expires (TTL) after the
# stream's 24 h, when no delivery of the record can come any more.
COUNTED = "counted#"


def payment_action_claim(account_id: str, notice_id: str) -> str:
    return f"{PAYMENT_ACTION}{account_id}#{notice_id}"


def price_notice_claim(change_id: str, account_id: str) -> str:
    return f"{PRICE_NOTICE}{change_id}#{account_id}"


class Claim(LeanModel):
    class Meta:
        table_name = "claims"

    claim = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    claimed_at = UTCDateTimeAttribute()
    # What the claim is held for, where that is not the account itself (an invoice's id).
    ref = UnicodeAttribute(null=True)
    # DynamoDB's TTL deletes the item after this instant; only claims that need not last have one.
    expires_at = TTLAttribute(null=True)
