"""The BillingDetails table: every version of an account's billing details (R-VOUCH-8, R-PAY-14).

A version is never changed: new details are a new item keyed by the instant they apply
from, so an invoice reads the details valid at its issue time and details given later
never rewrite an invoice already issued (R-PAY-14).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model


class BillingDetailsVersion(Model):
    class Meta:
        table_name = "billing-details"

    account_id = UnicodeAttribute(hash_key=True)
    # The instant these details apply from; they hold until the next version's.
    valid_from = UTCDateTimeAttribute(range_key=True)
    first_name = UnicodeAttribute()
    last_name = UnicodeAttribute()
    email = UnicodeAttribute()
    company = UnicodeAttribute()
    street = UnicodeAttribute()
    city = UnicodeAttribute()
    postal_code = UnicodeAttribute()
    region = UnicodeAttribute(null=True)
    country = UnicodeAttribute()
    vat_id = UnicodeAttribute(null=True)
    company_registration = UnicodeAttribute(null=True)
    updated_by = UnicodeAttribute()


def valid_at(account_id: str, instant: datetime) -> BillingDetailsVersion | None:
    """The version in force at ``instant``: the latest valid from then (one Query, one item)."""
    found = BillingDetailsVersion.query(
        account_id,
        BillingDetailsVersion.valid_from <= instant,
        scan_index_forward=False,
        limit=1,
        consistent_read=True,
    )
    return next(iter(found), None)


def of_account(account_id: str, page_size: int | None = None) -> Iterator[BillingDetailsVersion]:
    """Every version of the account's billing details, oldest first (one consistent Query, paged)."""
    return BillingDetailsVersion.query(account_id, consistent_read=True, page_size=page_size)
