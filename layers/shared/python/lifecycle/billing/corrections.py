"""Corrections of the billing details on the latest invoice (R-PAY-13): within the correction window a
credit note (series CN) cancels it and a reissue (series INV) made out to the new details replaces it,
each in one transaction guarded by its purpose's claim, so a retry finishes a half-done correction. The
reissue keeps the original's tax and money, and the VIES confirmation behind its reverse charge
(R-PAY-14). docs/ARCHITECTURE.md "Corrections and price changes".
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict
from pynamodb.transactions import TransactWrite

from lifecycle.accounts import audit
from lifecycle.billing import billing_details, invoicing
from lifecycle.billing.billing_details import BillingDetails, BillingDetailsView
from lifecycle.billing.invoicing import CREDITED, ISSUED, PAID, AccountChange, InvoiceView, Line
from lifecycle.core import clock
from lifecycle.core.auth import Principal
from lifecycle.core.errors import AlreadyCorrected, Conflict, CorrectionWindowClosed, InvalidField, NotFound
from lifecycle.core.money import Money
from lifecycle.core.settings import Settings
from lifecycle.storage import Account, AuditEvent, Invoice
from lifecycle.storage.transactions import Outcome, read_together

RULE = "R-PAY-13"
CREDIT = "credit#"
REISSUE = "reissue#"


class CorrectionInput(BaseModel):
    """``POST /accounts/{id}/invoices/{invoice_id}/corrections``."""

    model_config = ConfigDict(extra="forbid")

    billing_details: BillingDetails


class CorrectionView(BaseModel):
    """201 ``{credit_note, invoice}``: the credit note and the reissued invoice."""

    credit_note: InvoiceView
    invoice: InvoiceView


def correct_for(
    principal: Principal, account_id: str, invoice_id: str, form: CorrectionInput, now: datetime, settings: Settings
) -> CorrectionView:
    """R-PAY-13: credit the invoice and reissue it to the new details (module doc)."""
    billing_details.require_owner(principal, account_id)
    details = _validated(form.billing_details)
    account, original, credit_notes, invoices = _read(account_id, invoice_id)
    if original.corrected_by is None:
        _check_window(account, original, now, settings)
        credit_note = _credit(account, original, now, credit_notes)
    else:
        credit_note = _unfinished(original)
    reissued = _reissue(principal, account, original, credit_note, details, now, invoices)
    return CorrectionView(credit_note=InvoiceView.of(credit_note), invoice=InvoiceView.of(reissued))


def _read(account_id: str, invoice_id: str) -> tuple[Account, Invoice, int, int]:
    """The account, the invoice and the last numbers of the credit note and invoice series
    (first guesses for ``invoicing.issue``), in one TransactGetItems; 404 for either item."""
    account, original, credit_notes, invoices = read_together(
        (Account, account_id, None),
        (Invoice, account_id, invoice_id),
        invoicing.series_key("credit_note"),
        invoicing.series_key("invoice"),
    )
    if not isinstance(account, Account):
        raise NotFound("No such account")
    if not isinstance(original, Invoice):
        raise NotFound("No such invoice")
    return account, original, invoicing.last_number_of(credit_notes), invoicing.last_number_of(invoices)


def _validated(details: BillingDetails) -> BillingDetails:
    """As ``PUT …/billing-details`` validates them; errors name the field in this body."""
    try:
        return billing_details.validated(details)
    except InvalidField as error:
        for item in error.extra.get("errors", []):
            item["field"] = f"billing_details.{item['field']}"
        raise


def window_closes_at(account: Account, original: Invoice, settings: Settings) -> datetime:
    """The window opens with the latest invoice; a reissue keeps its original's window,
    because a reissue leaves ``last_invoice_at`` as it was."""
    opened = account.last_invoice_at or original.issued_at
    return opened + timedelta(seconds=settings.correction_window_seconds)


def _check_window(account: Account, original: Invoice, now: datetime, settings: Settings) -> None:
    """Only the latest invoice, and only before its window closes (to the second)."""
    if original.kind != "invoice" or account.last_invoice_id != original.invoice_id:
        raise CorrectionWindowClosed("Only the latest invoice can be corrected; this one can no longer be (R-PAY-13)")
    closes_at = window_closes_at(account, original, settings)
    if now >= closes_at:
        raise CorrectionWindowClosed(
            f"The billing details of an invoice can be corrected until {clock.to_iso(closes_at)}; "
            "corrections are possible again for the next invoice (R-PAY-13)"
        )
    if original.status != PAID:
        raise Conflict("This invoice is still being charged; correct it once it is paid")


def _unfinished(original: Invoice) -> Invoice:
    """The credit note of a correction whose reissue failed; its retry finishes it."""
    credit_note = invoicing.issued_for(original.account_id, CREDIT + original.invoice_id)
    if credit_note is None or invoicing.issued_for(original.account_id, REISSUE + original.invoice_id) is not None:
        raise AlreadyCorrected("This invoice has been credited and reissued; correct the reissued invoice instead")
    return credit_note


def _new_id(prefix: str, now: datetime) -> str:
    # The form invoicing.prepare gives ids: an account's items sort by issue time.
    return f"{prefix}_{now.strftime('%Y%m%d%H%M%S%f')}_{uuid.uuid4().hex[:8]}"


def _negative(money: Money) -> Money:
    return Money(amount=-money.amount, currency=money.currency)


def credit_note_of(original: Invoice, now: datetime) -> Invoice:
    """The unsaved credit note: the original mirrored, to the cent, to the original's details."""
    lines = [
        line.model_copy(
            update={
                "description": f"Credit for invoice {original.number}: {line.description}",
                "unit_price": _negative(line.unit_price),
                "amount": _negative(line.amount),
                "rule": RULE,
            }
        )
        for line in (Line.model_validate(item) for item in original.lines or [])
    ]
    return Invoice(
        original.account_id,
        _new_id("cn", now),
        number="",
        kind="credit_note",
        status=ISSUED,
        issued_at=now,
        period_start=original.period_start,
        period_end=original.period_end,
        currency=original.currency,
        lines=[line.model_dump(mode="json") for line in lines],
        subtotal=-int(original.subtotal),
        tax=-int(original.tax),
        tax_rate_basis_points=int(original.tax_rate_basis_points or 0),
        tax_note=original.tax_note,
        total=-int(original.total),
        billing_details=original.billing_details,
        vat_check=original.vat_check,
        purpose=CREDIT + original.invoice_id,
        corrects=original.invoice_id,
    )


def _credit(account: Account, original: Invoice, now: datetime, last: int | None = None) -> Invoice:
    """Step 1: the credit note, and the original marked credited by it, in one transaction.
    The account's condition keeps it the latest invoice while the note is issued. ``last``:
    the credit note series' last number as read."""
    note = credit_note_of(original, now)

    def build(tx: TransactWrite, outcome: Outcome, issued: Invoice) -> None:
        tx.update(
            Invoice(original.account_id, original.invoice_id),
            actions=[Invoice.corrected_by.set(issued.invoice_id), Invoice.status.set(CREDITED)],
            condition=Invoice.corrected_by.does_not_exist() & (Invoice.status == PAID),
        )
        outcome.labels.append("update:original")
        tx.update(
            Account(account.id),
            actions=[Account.last_invoice_id.set(original.invoice_id)],
            condition=Account.last_invoice_id == original.invoice_id,
        )
        outcome.labels.append("update:account")

    try:
        invoicing.issue(note, now, AccountChange(build), last=last)
    except invoicing.AccountMoved as exc:
        raise CorrectionWindowClosed("A newer invoice was issued meanwhile; only the latest can be corrected") from exc
    except invoicing.PurposeIssued as exc:
        raise AlreadyCorrected("This invoice is being corrected by another request") from exc
    return note


def _reissue(
    principal: Principal,
    account: Account,
    original: Invoice,
    credit_note: Invoice,
    details: BillingDetails,
    now: datetime,
    last: int | None = None,
) -> Invoice:
    """Step 2: the reissued invoice with the new details, which become the account's too
    (``last``: the invoice series' last number as read)."""
    try:
        return _issue_reissue(principal, account, original, credit_note, details, now, becomes_latest=True, last=last)
    except invoicing.AccountMoved:
        # A newer invoice was issued between the credit note and the reissue. The credit
        # note stands, so the reissue must too; it is just not the latest invoice.
        return _issue_reissue(principal, account, original, credit_note, details, now, becomes_latest=False)


def reissue_of(original: Invoice, details: BillingDetailsView, now: datetime) -> Invoice:
    """The unsaved reissue: the original's lines, period and money, to the new details."""
    return Invoice(
        original.account_id,
        _new_id("inv", now),
        number="",
        kind="invoice",
        status=PAID,
        issued_at=now,
        period_start=original.period_start,
        period_end=original.period_end,
        currency=original.currency,
        lines=original.lines,
        subtotal=int(original.subtotal),
        tax=int(original.tax),
        tax_rate_basis_points=int(original.tax_rate_basis_points or 0),
        tax_note=original.tax_note,
        total=int(original.total),
        billing_details=details.model_dump(mode="json"),
        # The tax is the original's, so is the confirmation that justified its reverse charge.
        vat_check=original.vat_check,
        purpose=REISSUE + original.invoice_id,
        corrects=original.invoice_id,
        charge_id=original.charge_id,
        paid_at=original.paid_at,
        paid_with=original.paid_with,
    )


def _issue_reissue(
    principal: Principal,
    account: Account,
    original: Invoice,
    credit_note: Invoice,
    details: BillingDetails,
    now: datetime,
    *,
    becomes_latest: bool,
    last: int | None = None,
) -> Invoice:
    applies_from = clock.to_iso(now)
    view = BillingDetailsView.model_validate(
        {**details.model_dump(mode="json"), "applies_from": applies_from, "updated_at": applies_from}
    )
    reissued = reissue_of(original, view, now)
    version = billing_details.version_of(account.id, details, principal.user_id, now)
    events = [
        audit.event(account.id, "billing_details_updated", principal.user_id, now, vat_id_given=bool(details.vat_id)),
        audit.event(
            account.id,
            "invoice_corrected",
            principal.user_id,
            now,
            rule=RULE,
            invoice=original.invoice_id,
            credit_note=credit_note.invoice_id,
            reissued_as=reissued.invoice_id,
        ),
    ]

    def build(tx: TransactWrite, outcome: Outcome, issued: Invoice) -> None:
        outcome.put(tx, "details", version, None)
        for index, event in enumerate(events):
            outcome.put(tx, f"audit{index}", event, AuditEvent.event_key.does_not_exist())
        tx.update(
            Invoice(original.account_id, original.invoice_id),
            actions=[Invoice.reissued_as.set(issued.invoice_id)],
            condition=Invoice.corrected_by == credit_note.invoice_id,
        )
        outcome.labels.append("update:original")
        if becomes_latest:
            # last_invoice_at stays: the reissue keeps the original's correction window.
            tx.update(
                Account(account.id),
                actions=[Account.last_invoice_id.set(issued.invoice_id)],
                condition=Account.last_invoice_id == original.invoice_id,
            )
            outcome.labels.append("update:account")

    try:
        invoicing.issue(reissued, now, AccountChange(build), last=last)
    except invoicing.PurposeIssued as exc:
        raise AlreadyCorrected("This invoice has been reissued by another request") from exc
    return reissued
