"""Invoices and credit notes (R-PAY-1, R-PAY-11, R-PAY-13, R-PAY-14): computed, charged under a key of
account, purpose and payment method, then issued in one transaction (the purpose's claim, a gap-free
number, the caller's account change, the receipt), so money and records never disagree.
docs/ARCHITECTURE.md "Billing" (Charging).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from pynamodb.exceptions import DoesNotExist
from pynamodb.transactions import TransactWrite

from lifecycle import notifications
from lifecycle.accounts import audit
from lifecycle.accounts.accounts import PaymentMethodShown, payment_method_shown
from lifecycle.billing import billing_details, payments, tax, vies
from lifecycle.core import clock
from lifecycle.core.auth import Principal, require_member
from lifecycle.core.errors import (
    AuthenticationRequired,
    BillingDetailsRequired,
    Conflict,
    NotFound,
    PaymentMethodRequired,
    ServiceUnavailable,
)
from lifecycle.core.money import Money
from lifecycle.core.observability import logger
from lifecycle.core.settings import Settings, get_settings
from lifecycle.storage import Account, Claim, Invoice, InvoiceSeries, Notification, invoices
from lifecycle.storage.claims import INVOICE, payment_action_claim
from lifecycle.storage.transactions import Key, Outcome, is_transient, read_together, try_commit

INVOICE_SERIES = "INV"
CREDIT_NOTE_SERIES = "CN"
PAID = "paid"
ISSUED = "issued"  # a credit note's state
CREDITED = "credited"  # an invoice a credit note cancelled (R-PAY-13)
SERIES_RETRIES = 20

Kind = Literal["invoice", "credit_note"]


class Line(BaseModel):
    """One line and why it costs what it costs (period, seconds, unit price, rule)."""

    description: str
    quantity: int
    unit_price: Money
    amount: Money
    rule: str
    period_start: str | None = None
    period_end: str | None = None
    # Lines priced by time: the seconds they price out of the period's seconds.
    seconds: int | None = None
    period_seconds: int | None = None


class VatCheck(BaseModel):
    """R-PAY-14: the VIES confirmation that justified an invoice's reverse charge."""

    vat_id: str
    checked_at: str
    reference: str | None


class InvoiceView(BaseModel):
    """API.md "Invoice" (and credit note)."""

    id: str
    number: str
    kind: Kind
    status: str
    issued_at: str
    period_start: str | None
    period_end: str | None
    lines: list[Line]
    subtotal: Money
    tax: Money
    tax_rate_basis_points: int
    tax_note: str | None
    total: Money
    billing_details: dict[str, Any] | None
    corrects: str | None
    corrected_by: str | None
    paid_at: str | None
    vat_check: VatCheck | None
    # R-PAY-12: the method the charge was made with; null for credit notes and invoices not charged.
    paid_with: PaymentMethodShown | None

    @classmethod
    def of(cls, item: Invoice) -> InvoiceView:
        def money(cents: Any) -> Money:
            return Money(amount=int(cents), currency=item.currency)

        return cls(
            id=item.invoice_id,
            number=item.number,
            kind=item.kind,  # type: ignore[arg-type]  # written from Kind
            status=item.status,
            issued_at=clock.to_iso(item.issued_at),
            period_start=_iso(item.period_start),
            period_end=_iso(item.period_end),
            lines=[Line.model_validate(line) for line in item.lines or []],
            subtotal=money(item.subtotal),
            tax=money(item.tax),
            tax_rate_basis_points=int(item.tax_rate_basis_points or 0),
            tax_note=item.tax_note,
            total=money(item.total),
            billing_details=item.billing_details,
            corrects=item.corrects,
            corrected_by=item.corrected_by,
            paid_at=_iso(item.paid_at),
            vat_check=VatCheck.model_validate(item.vat_check) if item.vat_check else None,
            paid_with=payment_method_shown(item.paid_with, None) if item.paid_with else None,
        )


class InvoiceList(BaseModel):
    items: list[InvoiceView]


def _iso(instant: datetime | None) -> str | None:
    return clock.to_iso(instant) if instant is not None else None


@dataclass
class Draft:
    """What an invoice is for, before it has a number."""

    account_id: str
    purpose: str
    lines: list[Line]
    period_start: datetime | None = None
    period_end: datetime | None = None
    kind: Kind = "invoice"
    corrects: str | None = None
    # A credit note or reissue copies the original's tax instead of recomputing it, and with it
    # the VIES confirmation that justified a reverse charge (API.md "Invoice" ``vat_check``).
    fixed_tax: tax.Treatment | None = None
    fixed_vat_check: dict[str, Any] | None = None
    # The details in force at issue when the caller read them already (else ``prepare`` reads them).
    details: billing_details.InForce | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # True when a retry of the request makes this same purpose (a period, the first period),
    # so it replays the provider key: a charge interrupted by contention then stands for the
    # retry to issue. A purpose of the instant (a credit purchase) is new on each retry: its
    # interrupted charge is refunded instead, or the retry would charge a second time.
    replayable: bool = True
    # How to finish the request that charges this draft when the provider confirms its payment
    # later (R-PAY-12: after the card holder's authentication, or processing): the operation
    # and its arguments, sent with the charge as its metadata (``lifecycle.billing.webhooks``).
    resume: dict[str, str] = field(default_factory=dict)

    @property
    def subtotal(self) -> int:
        return sum(line.amount.amount for line in self.lines)


Build = Callable[[TransactWrite, Outcome, Invoice], None]


@dataclass
class AccountChange:
    """The caller's part of the issuing transaction: usually the account's update and its
    condition (labelled ``update:account``). When that condition fails, the charge is
    refunded and ``AccountMoved`` is raised for the caller to answer; a caller whose
    ``build`` reads the account again may let it be built again ``rebuilds`` times first
    (a failure beside a moved invoice series is always built again)."""

    build: Build | None = None
    rebuilds: int = 0
    # The invoice of each issuing transaction built with this change, in order.
    built_for: list[str] = field(default_factory=list)

    def made(self, invoice: Invoice) -> bool:
        """Whether ``invoice`` was issued by the last transaction built with this change (so
        what the caller's part wrote is stored), not by an earlier attempt of its purpose."""
        return bool(self.built_for) and self.built_for[-1] == invoice.invoice_id


@dataclass(frozen=True)
class Settled:
    """A payment the provider confirmed after the request that made it had answered (R-PAY-12):
    its webhook event finishes that request, and the charge of ``purpose`` is this payment
    intent, not a new one. ``event`` (the event's record) is put in the issuing transaction, so
    the event is applied exactly when its invoice is issued."""

    intent_id: str
    amount: Money
    purpose: str
    event: Claim | None = None
    # The invoice this request issued with the payment (and so with ``event``), if it did: a
    # concurrent delivery of the same event that lost the race issued none.
    issued: list[str] = field(default_factory=list, compare=False)


_SETTLED: ContextVar[Settled | None] = ContextVar("settled", default=None)


@contextmanager
def settling(settled: Settled) -> Iterator[None]:
    """Within it, the charge of ``settled.purpose`` is ``settled``'s payment (see ``Settled``)."""
    token = _SETTLED.set(settled)
    try:
        yield
    finally:
        _SETTLED.reset(token)


def _settled_for(purpose: str) -> Settled | None:
    settled = _SETTLED.get()
    return settled if settled is not None and settled.purpose == purpose else None


class PaymentNoLongerMatches(Conflict):
    """A payment confirmed late no longer matches what its purpose costs now; it was refunded."""


class AccountMoved(Exception):
    """The condition of the caller's part of an issuing transaction failed."""

    def __init__(self, labels: list[str]) -> None:
        super().__init__(", ".join(labels))
        self.labels = labels


@dataclass(frozen=True)
class Known:
    """What a caller read with the account in one round trip (``read_with_account``), so that
    ``charge_and_issue`` does not read it again: the claim of ``purpose`` (None: nothing was
    issued for it) and the last number of the invoice's series, a first guess that a
    concurrent issuer meanwhile makes the counter's condition refuse (it is then read again)."""

    purpose: str
    claim: Claim | None
    last_number: int


def read_with_account(account_id: str, purpose: str, kind: Kind = "invoice") -> tuple[Account, Known]:
    """The account (404 if none, as ``accounts.load``), the claim of ``purpose`` and the
    series' last number: one TransactGetItems."""
    account, claim, counter = read_together(
        (Account, account_id, None), (Claim, _claim(account_id, purpose), None), series_key(kind)
    )
    if not isinstance(account, Account):
        raise NotFound("No such account")
    return account, Known(purpose, claim if isinstance(claim, Claim) else None, last_number_of(counter))


def series_key(kind: str) -> Key:
    """The counter of ``kind``'s series, for ``read_together``."""
    return (InvoiceSeries, _series(kind), None)


def last_number_of(counter: object) -> int:
    """The last number a series' counter as read holds (0: none issued yet)."""
    return int(counter.last_number) if isinstance(counter, InvoiceSeries) else 0


def prepare(draft: Draft, now: datetime, settings: Settings, ask_vies: bool = True) -> Invoice:
    """The unsaved invoice: lines, the details valid now (R-PAY-14), VAT, totals. A reverse charge
    needs VIES's confirmation of the VAT ID, kept from an earlier check or asked for now
    (``ask_vies``) and kept; it is copied onto the invoice as ``vat_check``."""
    in_force = draft.details if draft.details is not None else billing_details.in_force_at(draft.account_id, now)
    details = in_force.details if in_force is not None else None
    if draft.fixed_tax is not None:
        treatment, vat_check = draft.fixed_tax, draft.fixed_vat_check
    else:
        treatment, confirmation = _vat(draft.account_id, in_force, now, settings, ask_vies)
        vat_check = confirmation.as_json() if confirmation is not None else None
    subtotal = draft.subtotal
    tax_cents = treatment.tax_on(subtotal)
    prefix = "inv" if draft.kind == "invoice" else "cn"
    return Invoice(
        draft.account_id,
        f"{prefix}_{now.strftime('%Y%m%d%H%M%S%f')}_{uuid.uuid4().hex[:8]}",
        number="",
        kind=draft.kind,
        status=PAID if draft.kind == "invoice" else ISSUED,
        issued_at=now,
        period_start=draft.period_start,
        period_end=draft.period_end,
        currency=settings.currency,
        lines=[line.model_dump(mode="json") for line in draft.lines],
        subtotal=subtotal,
        tax=tax_cents,
        tax_rate_basis_points=treatment.rate_basis_points,
        tax_note=treatment.note,
        total=subtotal + tax_cents,
        billing_details=details.model_dump(mode="json") if details is not None else None,
        purpose=draft.purpose,
        corrects=draft.corrects,
        vat_check=vat_check,
    )


def _vat(
    account_id: str, in_force: billing_details.InForce | None, now: datetime, settings: Settings, ask_vies: bool
) -> tuple[tax.Treatment, vies.Confirmation | None]:
    """R-PAY-14: the VAT treatment and the confirmation that justified a reverse charge. A kept
    confirmation too old (or none) is asked for again, once; unconfirmed (invalid, VIES down or
    slow) the customer is invoiced as a consumer of their country, and the invoice still issues."""
    if in_force is None:
        return tax.treatment(None, settings), None
    details, kept = in_force.details, in_force.confirmation
    treatment = tax.treatment(details, settings, kept, now)
    if treatment.note == tax.REVERSE_CHARGE:
        return treatment, kept
    if not ask_vies or not tax.reverse_charged_once_confirmed(details, settings):
        return treatment, None
    asked = vies.ask(str(details.vat_id), now, settings, account_id)
    if asked is None:
        return treatment, None
    billing_details.keep_confirmation(account_id, in_force, asked)
    return tax.treatment(details, settings, asked, now), asked


def charge_key(account_id: str, purpose: str, method_ref: str) -> str:
    """The provider's idempotency key: one charge per account, purpose and payment method.

    A retry with the same method replays the first outcome (a success is never charged
    twice); a declined method does not poison the purpose for the next method.
    """
    return f"{account_id}:{purpose}:{method_ref}"


def charge_and_issue(
    account: Account,
    draft: Draft,
    now: datetime,
    change: AccountChange,
    settings: Settings | None = None,
    off_session: bool = False,
    known: Known | None = None,
) -> Invoice:
    """Charge the draft's total to the account's payment method, then issue it as paid
    with the caller's account change and the receipt, in one transaction (module doc).
    A purpose issued before answers the invoice issued for it. The owner's request charges
    on session (the card holder can authenticate); a schedule says ``off_session``. What
    the caller read with the account (``known``) is not read again."""
    settings = settings or get_settings()
    last: int | None = None
    if known is not None and known.purpose == draft.purpose:
        existing = _invoice_of(account.id, known.claim)
        last = known.last_number
    else:
        existing = issued_for(account.id, draft.purpose)
    if existing is not None:
        return existing
    try:
        return charge_then_issue(account, draft, now, change, settings, off_session=off_session, last=last)
    except PurposeIssued:
        # An earlier attempt of the same purpose committed: the provider answered its charge.
        return issued_for(account.id, draft.purpose) or prepare(draft, now, settings)


def charge_then_issue(
    account: Account,
    draft: Draft,
    now: datetime,
    change: AccountChange,
    settings: Settings,
    attempt: int = 0,
    off_session: bool = True,
    last: int | None = None,
) -> Invoice:
    """The charge and the issuing transaction; raises ``PurposeIssued`` when another attempt
    issued the purpose first. ``off_session``: made by a schedule (the billing run), without
    the card holder (R-PAY-12: a card that needs authentication then fails).

    ``attempt`` > 0 is a retry after a decline: a new provider key, so the provider really
    tries again (the same key would replay the decline). A charge whose issuing fails is
    refunded, unless a concurrent attempt issued the purpose with this very charge (it then
    stands) or the failure was contention only (a conflict past its retries or a DynamoDB
    throttle, 503) on a ``replayable`` purpose: a retry replays this charge's key and issues
    it. Contention is always answered 503, refunded or not. ``last``: the series' last
    number as read before (``issue``).
    """
    invoice = prepare(draft, now, settings)
    if invoice.billing_details is None:
        raise BillingDetailsRequired("Give the billing details first: an invoice is made out to them")
    if not account.payment_method_ref or not account.payment_customer_id:
        raise PaymentMethodRequired("Add a card or PayPal first")
    provider = payments.provider_for(settings)
    total = Money(amount=int(invoice.total), currency=invoice.currency)
    key = charge_key(account.id, draft.purpose, account.payment_method_ref)
    settled = _settled_for(draft.purpose)
    if settled is not None:
        charge = _settled_charge(settled, total, provider)
    else:
        try:
            charge = provider.charge(
                account.payment_customer_id,
                account.payment_method_ref,
                total,
                idempotency_key=key + (f":retry-{attempt}" if attempt else ""),
                description=_description(account, draft),
                off_session=off_session,
                metadata=_metadata(account, draft),
            )
        except AuthenticationRequired as exc:
            if exc.next_action_url is not None:
                _ask_for_authentication(account, total, exc.next_action_url, now, settings)
            raise
    invoice.charge_id, invoice.paid_at, invoice.charge_attempts = charge.id, now, attempt + 1
    invoice.paid_with = paid_with(account)
    try:
        issue(invoice, now, change, notice_for=lambda issued: _receipt(account, issued, now), last=last)
    except Exception as exc:
        # Contention: a conflict past its retries (already a 503) or DynamoDB busy (throttled, transient).
        busy = not isinstance(exc, ServiceUnavailable) and is_transient(exc)
        contention = busy or isinstance(exc, ServiceUnavailable)
        if contention and draft.replayable:
            # Refunded, the charge would be replayed by the retry's same provider key and
            # its invoice issued as paid by a refunded charge.
            if busy:
                raise ServiceUnavailable("The database is busy; retry shortly") from exc
            raise
        issued = issued_for(account.id, draft.purpose)
        if issued is None or issued.charge_id != charge.id:
            refund_unissued(provider, charge.id, total)
        if busy:
            raise ServiceUnavailable("The database is busy; retry shortly") from exc
        raise
    return invoice


def refund_unissued(provider: payments.PaymentProvider, charge_id: str, amount: Money) -> None:
    """Refund a charge whose purpose was not issued. One key per charge, whoever refunds it (the
    request whose issuing failed, a late payment that no longer matches, its webhook), so two of
    them refunding the same charge refund it once."""
    provider.refund(charge_id, amount, idempotency_key="refund:" + charge_id)


def _settled_charge(settled: Settled, total: Money, provider: payments.PaymentProvider) -> payments.Charge:
    """The payment confirmed late as this draft's charge, when it is for the draft's total; one
    for another amount (the price or the VAT changed since it was asked for) is refunded."""
    if settled.amount != total:
        logger.warning(
            "late payment does not match its purpose; refunded",
            extra={"payment_intent": settled.intent_id, "paid": settled.amount.amount, "due": total.amount},
        )
        refund_unissued(provider, settled.intent_id, settled.amount)
        raise PaymentNoLongerMatches("The payment confirmed no longer matches what it was for; it was refunded")
    return payments.Charge(settled.intent_id, total)


def _metadata(account: Account, draft: Draft) -> dict[str, str]:
    """What the charge is for, sent back with its webhook events: the account, the purpose and
    how to finish the request if the payment is confirmed after it answered."""
    return {"account_id": account.id, "purpose": draft.purpose, **draft.resume}


def paid_with(account: Account) -> dict[str, Any] | None:
    """What the invoice records of the method charged: the account's display of it (a method saved
    before displays were kept shows its type only)."""
    if account.payment_method_display:
        return dict(account.payment_method_display)
    return {"type": account.payment_method_type} if account.payment_method_type else None


def _description(account: Account, draft: Draft) -> str:
    """The charge's description at the provider: the account and the purpose, which a retry
    repeats exactly (the provider refuses a replayed key with other parameters), whereas the
    lines of a period paid "from now" (the first period) name a later instant on a retry."""
    return f"Help desk {account.subdomain or account.id}: {draft.purpose}"


def _receipt(account: Account, invoice: Invoice, now: datetime) -> Notification | None:
    """R-PAY-11: the owner's receipt, saved with the invoice and sent after the commit."""
    if not account.owner_email:
        return None
    return notifications.compose(
        account.id,
        "receipt",
        account.owner_email,
        now,
        amount=Money(amount=int(invoice.total), currency=invoice.currency),
        subdomain=account.subdomain or account.id,
        paid_at=now,
        invoice_number=invoice.number,
    )


def _ask_for_authentication(account: Account, amount: Money, url: str, now: datetime, settings: Settings) -> None:
    """R-PAY-12 (API.md "Payment tokens"): the owner's ``payment_action_required`` notice with the
    provider's authentication link, once per link: its id is a hash of the link and it is saved
    with the claim of that id, so a retry answered with the same waiting payment sends none.
    Contention leaves it to that retry; the caller's 402 stands either way."""
    if not account.owner_email:
        return
    notice = notifications.compose_as(
        "ntf_" + hashlib.sha256(url.encode("utf-8")).hexdigest()[:20],
        account.id,
        "payment_action_required",
        account.owner_email,
        now,
        amount=amount,
        subdomain=account.subdomain or account.id,
        next_action_url=url,
    )
    claim = Claim(payment_action_claim(account.id, notice.id), account_id=account.id, claimed_at=now)

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        outcome.put(tx, "claim", claim, Claim.claim.does_not_exist())
        outcome.put(tx, "notice", notice, Notification.notification_key.does_not_exist())

    try:
        failed = try_commit(build)
    except ServiceUnavailable:
        logger.warning("authentication notice not saved; a retry sends it", extra={"account_id": account.id})
        return
    if failed:
        return  # this link's notice was recorded before


class PurposeIssued(Exception):
    """The purpose's claim exists: an invoice was issued for it before."""


NoticeFor = Callable[[Invoice], Notification | None]


def issue(
    invoice: Invoice,
    now: datetime,
    change: AccountChange,
    notice_for: NoticeFor | None = None,
    last: int | None = None,
) -> Notification | None:
    """Give ``invoice`` the next number of its series and save it with the caller's change
    and the notice ``notice_for`` composes, in one transaction; the unsent notice is
    returned for the caller to deliver. A concurrent issuer of the same series makes the
    counter's condition fail; the number is then read again. ``last``: the series' last
    number as the caller read it (with other items), tried first instead of a read."""
    series = _series(invoice.kind)
    account_failures = 0
    for attempt in range(SERIES_RETRIES):
        if attempt or last is None:
            last = _last_number(series)
        invoice.number = f"{series}-{last + 1:06d}"
        notice = notice_for(invoice) if notice_for is not None else None
        failed = try_commit(_issuing(invoice, series, last, now, change, notice))
        if not failed:
            settled = _settled_for(invoice.purpose)
            if settled is not None:
                settled.issued.append(invoice.invoice_id)
            return notice
        if "purpose" in failed or "event" in failed:
            raise PurposeIssued
        if "update:account" in failed:
            account_failures += "update:series" not in failed
            if account_failures > change.rebuilds:
                raise AccountMoved(failed)
        elif "update:series" not in failed:
            raise RuntimeError(f"issuing failed on {failed}")
    raise RuntimeError("the invoice series stayed contended")  # pragma: no cover - 20 lost races


def _issuing(
    invoice: Invoice,
    series: str,
    last: int,
    now: datetime,
    change: AccountChange,
    notice: Notification | None,
) -> Callable[[TransactWrite, Outcome], None]:
    def build(tx: TransactWrite, outcome: Outcome) -> None:
        guard = Claim(_claim(invoice.account_id, invoice.purpose), account_id=invoice.account_id, claimed_at=now)
        guard.ref = invoice.invoice_id
        outcome.put(tx, "purpose", guard, Claim.claim.does_not_exist())
        outcome.put(tx, "invoice", invoice, Invoice.invoice_id.does_not_exist())
        if notice is not None:
            outcome.put(tx, "notice", notice, Notification.notification_key.does_not_exist())
        settled = _settled_for(invoice.purpose)
        if settled is not None and settled.event is not None:
            outcome.put(tx, "event", settled.event, Claim.claim.does_not_exist())
        counter_condition = InvoiceSeries.series.does_not_exist() if last == 0 else InvoiceSeries.last_number == last
        tx.update(
            InvoiceSeries(series),
            actions=[InvoiceSeries.last_number.set(last + 1)],
            condition=counter_condition,
        )
        outcome.labels.append("update:series")
        change.built_for.append(invoice.invoice_id)
        if change.build is not None:
            change.build(tx, outcome, invoice)

    return build


def _claim(account_id: str, purpose: str) -> str:
    return f"{INVOICE}{account_id}#{purpose}"


def _series(kind: str) -> str:
    return INVOICE_SERIES if kind == "invoice" else CREDIT_NOTE_SERIES


def _last_number(series: str) -> int:
    try:
        return int(InvoiceSeries.get(series, consistent_read=True).last_number)
    except DoesNotExist:
        return 0


def issued_for(account_id: str, purpose: str) -> Invoice | None:
    """The invoice already issued for this purpose, if any."""
    try:
        claim = Claim.get(_claim(account_id, purpose), consistent_read=True)
    except DoesNotExist:
        return None
    return _invoice_of(account_id, claim)


def _invoice_of(account_id: str, claim: Claim | None) -> Invoice | None:
    """The invoice a purpose's claim names (None: no claim)."""
    if claim is None:
        return None
    try:
        return Invoice.get(account_id, str(claim.ref), consistent_read=True)
    except DoesNotExist:  # pragma: no cover - the claim and the invoice are one transaction
        return None


# ---------------------------------------------------------------- reading


def list_for(principal: Principal, account_id: str, now: datetime) -> InvoiceList:
    """Invoices and credit notes, newest first (by issue time, then number: a credit note and
    its reissued invoice share an instant); staff reads are audited (R-USE-4)."""
    require_member(principal, account_id)
    audit.record_staff_access(principal, account_id, "invoices", now)
    items = sorted(
        invoices.of_account(account_id),
        key=lambda item: (item.issued_at, item.number),
        reverse=True,
    )
    return InvoiceList(items=[InvoiceView.of(item) for item in items])


def get_for(principal: Principal, account_id: str, invoice_id: str, now: datetime) -> InvoiceView:
    require_member(principal, account_id)
    audit.record_staff_access(principal, account_id, "invoices", now)
    try:
        return InvoiceView.of(Invoice.get(account_id, invoice_id, consistent_read=True))
    except DoesNotExist as exc:
        raise NotFound("No such invoice") from exc
