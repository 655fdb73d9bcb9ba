"""The BillingDetails table: every version of an account's billing details (R-VOUCH-8, R-PAY-14).

A version's details are never changed: new details are a new item keyed by the instant they
apply from, so an invoice reads the details valid at its issue time and details given later
never rewrite an invoice already issued (R-PAY-14). Only the VIES confirmation of its VAT ID
(``vat_checked_at``, ``vat_check_reference``) is renewed when it grows too old to reverse-charge.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute

from lifecycle.storage.base import LeanModel, update_if


class BillingDetailsVersion(LeanModel):
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
    # R-PAY-14: when VIES last confirmed ``vat_id`` valid and its consultation reference; absent
    # while it never has (not asked, not valid, or VIES did not answer).
    vat_checked_at = UTCDateTimeAttribute(null=True)
    vat_check_reference = UnicodeAttribute(null=True)


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


def keep_vat_check(
    account_id: str, valid_from: datetime, vat_id: str, checked_at: datetime, reference: str | None
) -> bool:
    """Keep VIES's confirmation of ``vat_id`` on the version valid from ``valid_from`` (one
    UpdateItem); False when that version does not exist or holds another VAT ID."""
    actions = [BillingDetailsVersion.vat_checked_at.set(checked_at)]
    if reference is None:
        actions.append(BillingDetailsVersion.vat_check_reference.remove())
    else:
        actions.append(BillingDetailsVersion.vat_check_reference.set(reference))
    return update_if(BillingDetailsVersion(account_id, valid_from), actions, BillingDetailsVersion.vat_id == vat_id)
