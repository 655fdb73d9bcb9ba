"""What an account owes and billing it (R-PAY-1, R-PAY-8, R-PAY-9, R-PAY-11, R-VOUCH-6, R-VOUCH-9,
R-VOUCH-10, R-USE-2, R-CREDIT-1): a subscription's next period in advance, a voucher account's extra
seats in arrears, the shared-login fees, less what prepaid credit paid for; each bill is one
``invoicing`` transaction with the account's move. The billing run and a new payment method
(``settle``) both bill through here. docs/ARCHITECTURE.md "The billing run".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import Attribute
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from lifecycle.accounts import audit
from lifecycle.billing import billing_details, credit, invoicing, metering, payments, pricing, proration, subscriptions
from lifecycle.billing.invoicing import AccountChange, Draft, Line
from lifecycle.billing.pricing import price_key
from lifecycle.core import clock
from lifecycle.core.billing_periods import Period, following, midnight, monthly_period, period_of, whole_second
from lifecycle.core.errors import (
    AuthenticationRequired,
    Conflict,
    PaymentDeclined,
)
from lifecycle.core.money import Money
from lifecycle.core.plans import BillingPeriod
from lifecycle.core.settings import Settings
from lifecycle.storage import (
    Account,
    AuditEvent,
    Invoice,
    SharedLoginDetection,
    seat_intervals,
    shared_logins,
)
from lifecycle.storage.accounts import AccountStatus
from lifecycle.storage.base import apply_values, set_or_remove, shard_of
from lifecycle.storage.transactions import Outcome, try_commit
from lifecycle.usage.shared_logins import PENDING, fee_month

INVOICED = "invoiced"


RUN = "billing-run"
# The operation a late-confirmed settlement's charge finishes (lifecycle.billing.webhooks).
SETTLE = "settle"


class ChargeDeclined(PaymentDeclined):
    """A declined charge of a bill (402 ``payment_declined``), with the amount it asked for."""

    def __init__(self, amount: Money) -> None:
        super().__init__("The payment method was declined")
        self.amount = amount


class ChargeNeedsAuthentication(AuthenticationRequired):
    """R-PAY-12: a charge made off session (the billing run) that the card holder must
    authenticate, who was not there to: not paid, with the amount it asked for. Nobody can
    authenticate it later; the owner completes it on session by giving the method again."""

    def __init__(self, amount: Money) -> None:
        super().__init__("The card holder must authenticate this payment; it was made without them (off session)")
        self.amount = amount


class Moved(Exception):
    """The account changed since it was read (another run, a cancellation, a plan change)."""


@dataclass
class Bill:
    """One period's bill: its draft, the fees it invoices, the account's values after it and
    the condition that the account is still where the bill was computed from; the audit
    events saved with it."""

    draft: Draft
    fees: list[SharedLoginDetection]
    values: dict[str, Any]
    condition: Condition
    events: list[AuditEvent] = field(default_factory=list)


def settle(account: Account, now: datetime, settings: Settings, actor: str | None = None) -> Invoice | None:
    """R-VOUCH-10: a ``payment_required`` account whose owner just gave a payment method.

    ``account`` carries the method just attached, not stored yet: everything due is billed
    to it, period by period (each bill's transaction stores it), then access is restored at
    once. A declined charge raises ``PaymentDeclined`` (402) and that bill saves nothing,
    so the status does not improve. A subscription resumes with the period containing now:
    the periods it spent blocked are not charged. Returns the last invoice issued, if any.
    R-PAY-12: the owner's request (an ``actor``) charges on session, so a card that needs its
    holder's authentication raises ``AuthenticationRequired`` and the retry after it is paid
    once; without an actor (the billing run) off session.
    """
    method = {
        "has_payment_method": True,
        "payment_method_type": account.payment_method_type,
        "payment_method_ref": account.payment_method_ref,
        "payment_method_display": account.payment_method_display,
        "payment_customer_id": account.payment_customer_id,
    }
    resume = {"operation": SETTLE, "actor": actor or RUN, **payments.method_metadata(account)}
    # Twice at most: the owner's retry and the payment's webhook settle the same account at once
    # (R-PAY-12). The one that finds the other's invoice issued but access not yet restored reads
    # the account again and finishes: nothing is due any more, so it only restores access.
    for attempt in range(2):
        try:
            last, _ = bill_due(
                account,
                AccountStatus.PAYMENT_REQUIRED,
                now,
                settings,
                resuming=True,
                extra=method,
                off_session=actor is None,
                resume=resume,
            )
        except Moved as exc:
            settled = _settled_by_another(account)
            if settled is not None:
                return settled
            current = None if attempt else _reread_with(account.id, method)
            if current is None:
                raise Conflict("The account changed meanwhile; reload it") from exc
            account = current
            continue
        if _restore(account, method, now, settings, actor or RUN):
            # Restored after the other's issuing: the invoice is the one it issued.
            return last if last is not None or not attempt else _last_invoice(account.id)
        settled = _settled_by_another(account)
        if settled is not None:
            return settled
        raise Conflict("The account changed meanwhile; reload it")
    raise AssertionError("unreachable: the second attempt returns or raises")


def _reread_with(account_id: str, method: dict[str, Any]) -> Account | None:
    """The stored account, still ``payment_required``, carrying the method being settled with;
    None when it is not blocked for payment any more (settled, ended, or another change)."""
    current = Account.get(account_id, consistent_read=True)
    if current.status != AccountStatus.PAYMENT_REQUIRED:
        return None
    apply_values(current, method)
    return current


def _settled_by_another(account: Account) -> Invoice | None:
    """The last invoice when a concurrent settlement with this very method restored the account
    (the owner's retry racing the payment's webhook, R-PAY-12): the retry's answer, not a 409."""
    current = Account.get(account.id, consistent_read=True)
    if current.status != AccountStatus.ACTIVE or current.payment_method_ref != account.payment_method_ref:
        return None
    return _last_invoice(account.id, current)


def _last_invoice(account_id: str, current: Account | None = None) -> Invoice | None:
    current = current or Account.get(account_id, consistent_read=True)
    if current.last_invoice_id is None:
        return None
    return Invoice.get(account_id, current.last_invoice_id, consistent_read=True)


def _restore(account: Account, method: dict[str, Any], now: datetime, settings: Settings, actor: str) -> bool:
    """Access back (R-VOUCH-10); False when the account is not where this settlement left it."""
    values = {
        **method,
        "status": AccountStatus.ACTIVE,
        "access_blocked_reason": None,
        "charge_attempts": 0,
        "bill_due_at": next_due(account),
        "billing_shard": shard_of(account.id, settings.sweep_shards),
    }
    event = audit.event(account.id, "access_restored", actor, now, rule="R-VOUCH-10")
    condition = (Account.status == AccountStatus.PAYMENT_REQUIRED) & position(account)

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        tx.update(Account(account.id), actions=set_or_remove(Account, values), condition=condition)
        outcome.labels.append("update:account")
        outcome.put(tx, "audit", event, AuditEvent.event_key.does_not_exist())

    if try_commit(build):
        return False
    apply_values(account, values)
    return True


def bill_due(
    account: Account,
    status: str,
    now: datetime,
    settings: Settings,
    resuming: bool,
    extra: dict[str, Any] | None = None,
    off_session: bool = True,
    resume: dict[str, str] | None = None,
) -> tuple[Invoice | None, int]:
    """Bill every period due, oldest first: the last invoice issued and how many periods
    moved on (0: nothing was due). ``off_session``: charged without the card holder (the
    billing run); the owner's request charges on session. ``resume``: how a charge confirmed
    later finishes (``Draft.resume``)."""
    last: Invoice | None = None
    bills = 0
    while (bill := _next_bill(account, status, now, settings, resuming)) is not None:
        bill.values.update(extra or {})
        bill.draft.resume = dict(resume or {})
        last = _issue(account, bill, now, settings, off_session) or last
        bills += 1
    return last, bills


def _next_bill(account: Account, status: str, now: datetime, settings: Settings, resuming: bool) -> Bill | None:
    if account.lifetime:
        return _seats_bill(account, status, now, settings)
    return _renewal_bill(account, status, now, settings, resuming)


def _seats_bill(account: Account, status: str, now: datetime, settings: Settings) -> Bill | None:
    """R-VOUCH-6: the month after ``billed_through``, in arrears, once it has ended."""
    anchor, billed_through = voucher_anchor(account), _billed_through(account)
    period = monthly_period(anchor, billed_through)
    if period.ends_at > now:
        return None
    intervals = _intervals(account.id, billed_through, period)
    price = settings.extra_seat_price_cents
    used = metering.seat_lines(intervals, period, price)
    paid = _credit_windows(account, period, now) if used else []
    # R-CREDIT-1: the seconds the credit paid for are not billed again.
    seats = metering.seat_lines(_uncovered(intervals, paid), period, price) if paid else used
    fees = _pending_fees(account, period.starts_at, period.ends_at)
    if not used and fees and not _can_charge(account, now):
        fees = []  # R-VOUCH-9: no extra users, nobody is asked; the fee stays pending for staff
    lines = [_seat_line(line, settings, paid) for line in seats] + [_fee_line(fee) for fee in fees]
    condition = (Account.status == status) & position(account)
    events = []
    if paid and not seats:
        events.append(_covered_event(account, period, paid, now))
        if not fees:
            condition &= credit.unchanged(account)  # nothing charged: a settlement meanwhile recomputes it
    return Bill(
        draft=Draft(
            account_id=account.id,
            purpose=f"seats#{clock.to_iso(period.starts_at)}",
            lines=lines,
            period_start=period.starts_at,
            period_end=period.ends_at,
        ),
        fees=fees,
        values={
            "billed_through": period.ends_at,
            "bill_due_at": monthly_period(anchor, period.ends_at).ends_at,
            "charge_attempts": 0,
        },
        condition=condition,
        events=events,
    )


def _renewal_bill(account: Account, status: str, now: datetime, settings: Settings, resuming: bool) -> Bill | None:
    """R-PAY-1: the next period in advance, once the paid one has ended (R-PAY-8, R-PAY-9).

    R-CREDIT-1: the prepaid credit pays what it covers of the period and the card the rest;
    the split is stored with the credit settled now (``credit_pays_from``/``credit_pays_until``:
    the credit never runs down in the part the card paid). What the credit was left to pay
    of the period just ended and did not (seats added made it run out sooner) is billed here.
    """
    if account.period_start is None or account.period_end is None or account.period_end > now:
        return None
    current = Period(account.period_start, account.period_end)
    billing_period: BillingPeriod = account.billing_period  # type: ignore[assignment]  # validated on write
    anchor = account.billing_anchor or account.period_start
    plan, seats, next_billing_period = subscriptions.next_period_terms(account)
    # A blocked subscription resumes with the period containing now (settle).
    boundary = period_of(billing_period, anchor, now).starts_at if resuming else current.ends_at
    if next_billing_period != billing_period:
        anchor = boundary  # a new billing period is anchored where it starts
        period = period_of(next_billing_period, anchor, boundary)  # type: ignore[arg-type]
    elif resuming:
        period = period_of(billing_period, anchor, boundary)
    else:
        period = following(current, billing_period, anchor)
    notices = pricing.PriceNotices.of(account)
    line = subscriptions.period_line(plan, next_billing_period, seats, period, "R-PAY-1", settings, notices)  # type: ignore[arg-type]
    fees = _pending_fees(account, account.period_start, boundary)
    reseated = (plan, seats) != (account.plan, subscriptions.billed_seats(account))
    had_credit = int(account.credit_balance or 0) > 0
    # R-CREDIT-1: at the seats of the new period when they change (as stored with it).
    cost = _monthly_seat_cost(account, plan, seats, now, settings) if had_credit and reseated else None
    paid = _credit_windows(account, period, now, cost)
    owed = _owed_by_credit(account, current, now, settings)
    condition = (Account.status == status) & position(account) & _terms_unchanged(account)
    events = []
    if paid == [(period.starts_at, period.ends_at)]:
        lines = []  # all paid by the credit: nothing charged for the plan
        if not owed:
            events.append(_covered_event(account, period, paid, now))
    elif paid:
        lines = [_credit_line(line, period, paid)]
    else:
        lines = [line]
    values = {
        # subscriptions.applying_pending's values, with the period moved on.
        "plan": plan,
        "seats": seats,
        "billing_period": next_billing_period,
        "price_key": price_key(plan, next_billing_period),
        "pending_plan": None,
        "pending_seats": None,
        "pending_billing_period": None,
        "billing_anchor": anchor,
        "period_start": period.starts_at,
        "period_end": period.ends_at,
        "bill_due_at": period.ends_at,
        "charge_attempts": 0,
        **_credit_split(account, period, paid, now, cost),
    }
    # The split and the settlement are of the credit read: a purchase or a seat change meanwhile
    # recomputes them (the next run), or credit bought during this renewal would wait for a
    # part of the period the card did not pay.
    condition &= credit.unchanged(account)
    return Bill(
        draft=Draft(
            account_id=account.id,
            purpose=f"renewal#{clock.to_iso(period.starts_at)}",
            lines=owed + lines + [_fee_line(fee) for fee in fees],
            period_start=period.starts_at,
            period_end=period.ends_at,
        ),
        fees=fees,
        values=values,
        condition=condition,
        events=events,
    )


def _credit_split(
    account: Account, period: Period, paid: list[credit.Window], now: datetime, cost: int | None
) -> dict[str, Any]:
    """The renewal's split of ``period`` (R-CREDIT-1): the credit pays its last window
    ``[credit_pays_from, credit_pays_until)``, the card the rest (everything before it is in the
    past and billed now). A credit still running is settled now, at the new seats' ``cost`` when
    they change, so the part the card paid of the period before never counts again."""
    since, until = paid[-1] if paid else (period.starts_at, period.starts_at)
    values: dict[str, Any] = {"credit_pays_from": since, "credit_pays_until": until}
    stored = credit.Credit.of(account)
    if stored.balance > 0:
        now_credit = credit.settled(stored, now) if cost is None else credit.rebased(stored, now, cost)
        if now_credit.balance > 0:
            values |= {
                "credit_balance": now_credit.balance,
                "credit_updated_at": now_credit.updated_at,
                "credit_valid_until": now_credit.valid_until,
            }
    return values


def _owed_by_credit(account: Account, ended: Period, now: datetime, settings: Settings) -> list[Line]:
    """R-CREDIT-1: the seconds of the period just ended that its renewal left to the prepaid
    credit and the credit did not pay (seats added after the renewal made it run out sooner,
    bought again later), billed in arrears at the subscription's price for that period."""
    since, until = account.credit_pays_from, account.credit_pays_until
    if since is None or until is None or since >= until:
        return []
    gaps, cursor = [], since
    for paid_from, paid_until in credit.covered(account, since, until, now):
        if paid_from > cursor:
            gaps.append((cursor, paid_from))
        cursor = max(cursor, paid_until)
    if cursor < until:
        gaps.append((cursor, until))
    if not gaps:
        return []
    billing_period: BillingPeriod = account.billing_period  # type: ignore[assignment]  # validated on write
    plan_line = subscriptions.period_line(
        account.plan,  # type: ignore[arg-type]  # a stored Plan
        billing_period,
        subscriptions.billed_seats(account),
        ended,
        "R-CREDIT-1",
        settings,
        pricing.PriceNotices.of(account),
    )
    seconds = sum((end - start) // timedelta(seconds=1) for start, end in gaps)
    spans = " and ".join(f"from {clock.to_iso(start)} until {clock.to_iso(end)}" for start, end in gaps)
    return [
        Line(
            description=(
                f"{plan_line.description}, left to prepaid credit that did not pay it ({spans}): "
                f"{seconds:,} of {ended.seconds:,} seconds billed"
            ),
            quantity=plan_line.quantity,
            unit_price=plan_line.unit_price,
            amount=Money(
                amount=proration.prorate(plan_line.amount.amount, seconds, ended.seconds),
                currency=plan_line.amount.currency,
            ),
            rule="R-CREDIT-1",
            period_start=clock.to_iso(gaps[0][0]),
            period_end=clock.to_iso(gaps[-1][1]),
            seconds=seconds,
            period_seconds=ended.seconds,
        )
    ]


def _issue(account: Account, bill: Bill, now: datetime, settings: Settings, off_session: bool) -> Invoice | None:
    """Charge the bill and issue it with the account's move, or only move the account when
    there is nothing to charge (no invoice, R-VOUCH-9)."""

    def build(tx: TransactWrite, outcome: Outcome, invoice: Invoice | None) -> None:
        values = dict(bill.values)
        if invoice is not None:
            values |= {"last_invoice_id": invoice.invoice_id, "last_invoice_at": invoice.issued_at}
            for fee in bill.fees:
                tx.update(
                    SharedLoginDetection(account.id, fee.detection_key),
                    actions=[
                        SharedLoginDetection.status.set(INVOICED),
                        SharedLoginDetection.invoice_id.set(invoice.invoice_id),
                        SharedLoginDetection.invoiced_at.set(now),
                    ],
                    condition=SharedLoginDetection.status == PENDING,
                )
                outcome.labels.append("update:fee")
        tx.update(Account(account.id), actions=set_or_remove(Account, values), condition=bill.condition)
        outcome.labels.append("update:account")
        for event in bill.events:
            outcome.put(tx, "audit", event, AuditEvent.event_key.does_not_exist())

    invoice: Invoice | None = None
    if bill.draft.subtotal <= 0:
        if failed := try_commit(lambda tx, outcome: build(tx, outcome, None)):
            raise Moved(", ".join(failed))
    else:
        invoice = _charge_and_issue(account, bill.draft, now, AccountChange(build), settings, off_session)
        bill.values |= {"last_invoice_id": invoice.invoice_id, "last_invoice_at": invoice.issued_at}
    apply_values(account, bill.values)
    return invoice


def _charge_and_issue(
    account: Account, draft: Draft, now: datetime, change: AccountChange, settings: Settings, off_session: bool
) -> Invoice:
    """``invoicing.charge_then_issue`` with the account's failed attempts in the provider's
    key: a rerun of the same attempt (a crash after the charge, a concurrent run) replays
    the provider's first outcome and never charges twice; a retry after a decline is a new
    attempt and is really tried again. A purpose issued by someone else raises ``Moved``:
    the account moved on with it. A charge waiting for the card holder's authentication (on
    session) is raised as it is, with its URL; off session it raises ``ChargeNeedsAuthentication``."""
    if invoicing.issued_for(account.id, draft.purpose) is not None:
        raise Moved("issued already")  # with the account's move: this read of it is stale
    try:
        return invoicing.charge_then_issue(
            account, draft, now, change, settings, attempt=int(account.charge_attempts or 0), off_session=off_session
        )
    except PaymentDeclined as exc:
        if isinstance(exc, AuthenticationRequired) and exc.next_action_url is not None:
            raise  # the card holder can authenticate it, then the retry is paid
        # The total the charge was for: VIES is not asked a second time (a confirmation it gave is kept).
        total = invoicing.prepare(draft, now, settings, ask_vies=False).total
        amount = Money(amount=int(total), currency=settings.currency)
        if isinstance(exc, AuthenticationRequired):
            raise ChargeNeedsAuthentication(amount) from exc
        raise ChargeDeclined(amount) from exc
    except invoicing.PurposeIssued as exc:
        raise Moved("issued by a concurrent run") from exc
    except invoicing.AccountMoved as exc:
        raise Moved(str(exc)) from exc


def _intervals(account_id: str, billed_through: datetime, period: Period) -> list[metering.Interval]:
    """The extra users' seat intervals not billed yet that meet the period (one Query)."""
    found = seat_intervals.unbilled(account_id, billed_through, period.ends_at)
    return [metering.Interval(item.user_id, max(item.start, billed_through), item.end) for item in found]


def _seat_line(line: metering.SeatLine, settings: Settings, paid: list[credit.Window] | None = None) -> Line:
    before = [until for _, until in paid or [] if until == line.start]
    after = [since for since, _ in paid or [] if since == line.end]
    notes = [f"before it, covered by prepaid credit until {clock.to_iso(until)}" for until in before]
    notes += [f"after it, {'' if notes else 'covered by prepaid credit '}from {clock.to_iso(since)}" for since in after]
    note = f" ({'; '.join(notes)})" if notes else ""
    return Line(
        description=(
            f"Extra user {line.user_id}, {line.start:%Y-%m-%d %H:%M} to {line.end:%Y-%m-%d %H:%M}, "
            f"{line.seconds:,} of {line.period_seconds:,} seconds{note}"
        ),
        quantity=1,
        unit_price=Money(amount=line.unit_price_cents, currency=settings.currency),
        amount=Money(amount=line.amount_cents, currency=settings.currency),
        rule="R-VOUCH-6",
        period_start=clock.to_iso(line.start),
        period_end=clock.to_iso(line.end),
        seconds=line.seconds,
        period_seconds=line.period_seconds,
    )


def _credit_windows(
    account: Account, period: Period, now: datetime, monthly_seat_cost: int | None = None
) -> list[credit.Window]:
    """The parts of ``period`` the prepaid credit pays for (``credit.covered``); cheap without credit."""
    if int(account.credit_balance or 0) <= 0:
        return []
    return credit.covered(account, period.starts_at, period.ends_at, now, monthly_seat_cost)


def _monthly_seat_cost(account: Account, plan: str, seats: int, now: datetime, settings: Settings) -> int:
    """``credit.seat_cost`` of the subscription after the renewal: its billed seats at the plan's
    monthly price now."""
    billed = max(seats, int(account.seats_used or 1))
    return billed * pricing.seat_price(plan, "monthly", now, settings, pricing.PriceNotices.of(account)).amount  # type: ignore[arg-type]  # a stored Plan


def _uncovered(intervals: list[metering.Interval], paid: list[credit.Window]) -> list[metering.Interval]:
    """The seat intervals without the time the credit paid for (each window splits an
    interval in at most two pieces)."""
    for since, until in paid:
        pieces = []
        for interval in intervals:
            if interval.start < since:
                end = since if interval.end is None else min(interval.end, since)
                pieces.append(metering.Interval(interval.user_id, interval.start, end))
            if interval.end is None or interval.end > until:
                pieces.append(metering.Interval(interval.user_id, max(interval.start, until), interval.end))
        intervals = pieces
    return intervals


def _credit_line(line: Line, period: Period, paid: list[credit.Window]) -> Line:
    """The renewal's plan line for the seconds the credit does not pay for, prorated by the
    second and rounded half-up (R-CREDIT-1; the plan line's seat count and unit price)."""
    covered_seconds = sum((until - since) // timedelta(seconds=1) for since, until in paid)
    seconds = period.seconds - covered_seconds
    amount = proration.prorate(line.amount.amount, seconds, period.seconds)
    (first_since, first_until), (last_since, last_until) = paid[0], paid[-1]
    billed_from = period.starts_at if first_since > period.starts_at else first_until
    billed_to = period.ends_at if last_until < period.ends_at else last_since
    spans = []
    for since, until in paid:
        if since > period.starts_at and until < period.ends_at:
            spans.append(f"from {clock.to_iso(since)} until {clock.to_iso(until)}")
        elif since > period.starts_at:
            spans.append(f"from {clock.to_iso(since)}")
        else:
            spans.append(f"until {clock.to_iso(until)}")
    covered_by = "covered by prepaid credit " + " and ".join(spans)
    return Line(
        description=f"{line.description}, {covered_by}: {seconds:,} of {period.seconds:,} seconds billed",
        quantity=line.quantity,
        unit_price=line.unit_price,
        amount=Money(amount=amount, currency=line.amount.currency),
        rule="R-CREDIT-1",
        period_start=clock.to_iso(billed_from),
        period_end=clock.to_iso(billed_to),
        seconds=seconds,
        period_seconds=period.seconds,
    )


def _covered_event(account: Account, period: Period, paid: list[credit.Window], now: datetime) -> AuditEvent:
    return audit.event(
        account.id,
        "period_covered_by_credit",
        RUN,
        now,
        rule="R-CREDIT-1",
        period_start=clock.to_iso(period.starts_at),
        period_end=clock.to_iso(period.ends_at),
        covered_until=clock.to_iso(paid[-1][1]),
    )


def _pending_fees(account: Account, since: datetime, until: datetime) -> list[SharedLoginDetection]:
    """R-USE-2: the pending fees of the fee months (``shared_logins.fee_month``, as
    ``lifecycle.usage.shared_logins`` keys them) that ended in ``(since, until]``."""
    found = []
    month, last = fee_month(account, since), fee_month(account, until)
    while month.starts_at < last.starts_at:
        fee = shared_logins.fee(account.id, month.key)
        if fee is not None and fee.status == PENDING:
            found.append(fee)
        month = fee_month(account, month.ends_at)
    return found


def _fee_line(fee: SharedLoginDetection) -> Line:
    amount = Money(amount=int(fee.amount or 0), currency=str(fee.currency))
    return Line(
        description=(
            f"Shared-login fee, {fee.period_start:%Y-%m-%d} to {fee.period_end:%Y-%m-%d}: "
            "a login was used by more than one person"
        ),
        quantity=1,
        unit_price=amount,
        amount=amount,
        rule="R-USE-2",
        period_start=clock.to_iso(fee.period_start),
        period_end=clock.to_iso(fee.period_end),
    )


def _can_charge(account: Account, now: datetime) -> bool:
    has_method = bool(account.payment_method_ref and account.payment_customer_id)
    return has_method and billing_details.valid_at(account.id, now) is not None


def voucher_anchor(account: Account) -> datetime:
    """Where a voucher account's months are anchored: its redemption (``billing_anchor``), at
    its time of day. An account billed before periods kept the anchor's time of day was billed
    through a midnight that its anchor's months do not start at: its months stay anchored at
    the anchor day's midnight, so they go on from where they were billed."""
    anchor = account.billing_anchor or account.created_at
    through = account.billed_through
    if through is not None and whole_second(through).time() != whole_second(anchor).time():
        return midnight(anchor)
    return anchor


def _billed_through(account: Account) -> datetime:
    return account.billed_through or voucher_anchor(account)


def next_due(account: Account) -> datetime:
    """When the next bill is due: a month's end in arrears, or the paid period's end."""
    if account.lifetime:
        return monthly_period(voucher_anchor(account), _billed_through(account)).ends_at
    return account.period_end or account.bill_due_at


def position(account: Account) -> Condition:
    """Where the account's billing stands: every write is conditioned on it being unchanged."""
    if account.lifetime:
        return _same(Account.billed_through, account.billed_through)
    return _same(Account.period_end, account.period_end)


def _terms_unchanged(account: Account) -> Condition:
    """The terms a renewal was computed from (a plan change or a new pending change moves them)."""
    condition: Condition = (Account.plan == account.plan) & (Account.billing_period == account.billing_period)
    for attribute, value in (
        (Account.seats, account.seats),
        (Account.pending_plan, account.pending_plan),
        (Account.pending_seats, account.pending_seats),
        (Account.pending_billing_period, account.pending_billing_period),
    ):
        condition &= _same(attribute, value)
    return condition


def _same(attribute: Attribute[Any], value: Any) -> Condition:
    return attribute.does_not_exist() if value is None else attribute == value
