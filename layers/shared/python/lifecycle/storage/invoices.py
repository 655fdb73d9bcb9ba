"""The Invoices and InvoiceSeries tables: invoices and credit notes (R-PAY-1, R-PAY-11, R-PAY-13).

An invoice is issued once, in one transaction with its series' counter, so numbers have
no gaps. What it says (number, lines, amounts, billing details, period) never changes
after that; only its payment state moves (``open`` → ``paid``) and a correction marks it
``corrected_by`` the credit note that cancels it.
"""

from __future__ import annotations

from collections.abc import Iterator

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from lifecycle.storage.base import LeanModel


class Invoice(LeanModel):
    class Meta:
        table_name = "invoices"

    account_id = UnicodeAttribute(hash_key=True)
    # "inv_<issued yyyymmddHHMMSSffffff>_<hex>": an account's invoices sort by issue time.
    invoice_id = UnicodeAttribute(range_key=True)
    number = UnicodeAttribute()  # "INV-000042" or "CN-000007"
    kind = UnicodeAttribute()  # "invoice" or "credit_note"
    status = UnicodeAttribute()  # "open" (being charged), "paid", "credited" (a credit note's own: "issued")
    issued_at = UTCDateTimeAttribute()
    period_start = UTCDateTimeAttribute(null=True)
    period_end = UTCDateTimeAttribute(null=True)
    currency = UnicodeAttribute()
    lines = JSONAttribute()  # [{description, quantity, unit_price, amount, rule, period_start, period_end, …}]
    subtotal = NumberAttribute()  # integer cents
    tax = NumberAttribute()
    tax_rate_basis_points = NumberAttribute(default=0)
    tax_note = UnicodeAttribute(null=True)
    total = NumberAttribute()
    # The billing details valid at issue time (R-PAY-14: never rewritten later).
    billing_details = JSONAttribute(null=True)
    # Why it was issued, unique per account (a claim guards it): "first-period", "renewal#<start>" …
    purpose = UnicodeAttribute()
    # R-PAY-14: the VIES confirmation that justified a reverse charge, {vat_id, checked_at, reference}
    # (a credit note and a reissue copy their original's, as they copy its tax).
    vat_check = JSONAttribute(null=True)
    corrects = UnicodeAttribute(null=True)  # a credit note's or reissued invoice's original
    corrected_by = UnicodeAttribute(null=True)  # the credit note that cancelled this invoice
    reissued_as = UnicodeAttribute(null=True)
    # The payment: the provider's charge (never card data, R-PAY-12), attempts of the billing run.
    charge_id = UnicodeAttribute(null=True)
    # The method the charge was made with, as the account showed it then ({"type": "card", "brand",
    # "last4", "exp_month", "exp_year"} or {"type": "paypal"}); a reissue keeps its original's.
    paid_with = JSONAttribute(null=True)
    paid_at = UTCDateTimeAttribute(null=True)
    charge_attempts = NumberAttribute(default=0)
    refund_id = UnicodeAttribute(null=True)


class InvoiceSeries(LeanModel):
    """One counter per numbering series; advanced only in the transaction that issues a number."""

    class Meta:
        table_name = "invoice-series"

    series = UnicodeAttribute(hash_key=True)  # "INV", "CN"
    last_number = NumberAttribute()


def of_account(account_id: str, page_size: int | None = None) -> Iterator[Invoice]:
    """The account's invoices and credit notes, oldest first (one Query, paged)."""
    return Invoice.query(account_id, consistent_read=True, page_size=page_size)


def newest_first(account_id: str) -> Iterator[Invoice]:
    """The account's invoices and credit notes, newest first (one Query, paged)."""
    return Invoice.query(account_id, scan_index_forward=False, consistent_read=True)


def with_purpose(account_id: str, prefix: str) -> Iterator[Invoice]:
    """The account's invoices whose purpose starts with ``prefix``, oldest first (one Query)."""
    return Invoice.query(account_id, filter_condition=Invoice.purpose.startswith(prefix), consistent_read=True)
