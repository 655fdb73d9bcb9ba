"""A subscription's paid periods (R-PAY-1, R-PAY-3, R-PAY-4): what a period costs and the
account change that starts it.

Plans are billed in advance for a calendar month or year anchored at the instant the first
period was paid for (API.md "Billing periods"). A subscription bills for its ``seats``, at
least one per user the account has.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.transactions import TransactWrite

from lifecycle.billing import pricing
from lifecycle.billing.invoicing import Draft, Line
from lifecycle.core import billing_periods, clock
from lifecycle.core.billing_periods import Period
from lifecycle.core.money import Money
from lifecycle.core.plans import PLAN_NAMES, BillingPeriod, Plan
from lifecycle.core.settings import Settings
from lifecycle.storage import Account, Invoice
from lifecycle.storage.accounts import TRIAL, AccountStatus
from lifecycle.storage.base import shard_of
from lifecycle.storage.transactions import Outcome

FIRST_PERIOD = "first-period"


def billed_seats(account: Account) -> int:
    """The seats a subscription pays for: its own count, never fewer than its users."""
    return max(int(account.seats or 1), int(account.seats_used or 1))


def period_line(
    plan: Plan,
    billing_period: BillingPeriod,
    seats: int,
    period: Period,
    rule: str,
    settings: Settings,
    notices: pricing.PriceNotices,
) -> Line:
    """One period of the plan, in advance: seats times the price in force for the account of
    ``notices`` when it starts (R-PAY-9 per owner)."""
    unit = pricing.seat_price(plan, billing_period, period.starts_at, settings, notices)
    return Line(
        description=(
            f"{PLAN_NAMES.get(plan, plan)} plan, {billing_period} subscription, {seats} seat"
            f"{'s' if seats != 1 else ''}, {clock.to_iso(period.starts_at)} to {clock.to_iso(period.ends_at)}"
        ),
        quantity=seats,
        unit_price=unit,
        amount=Money(amount=unit.amount * seats, currency=unit.currency),
        rule=rule,
        period_start=clock.to_iso(period.starts_at),
        period_end=clock.to_iso(period.ends_at),
        period_seconds=period.seconds,
        seconds=period.seconds,
    )


def first_period(account: Account, now: datetime, rule: str, settings: Settings) -> tuple[Period, Draft]:
    """R-PAY-4 (or R-PAY-3's reactivation): the first paid period starts at the instant paid
    (``now``, to the second) and is charged at once (R-PAY-1); it anchors the periods after it."""
    billing_period: BillingPeriod = account.billing_period  # type: ignore[assignment]  # validated on write
    period = billing_periods.period_of(billing_period, now, now)
    seats = billed_seats(account)
    notices = pricing.PriceNotices.of(account)
    line = period_line(account.plan, billing_period, seats, period, rule, settings, notices)  # type: ignore[arg-type]
    draft = Draft(
        account_id=account.id,
        purpose=FIRST_PERIOD,
        lines=[line],
        period_start=period.starts_at,
        period_end=period.ends_at,
    )
    return period, draft


def start_paid_period(
    tx: TransactWrite, outcome: Outcome, account: Account, period: Period, invoice: Invoice | None, settings: Settings
) -> None:
    """The account update that ends a trial (or its expiry) with a paid period. Its
    condition is the trial's states, so a trial sweep that expired the trial a moment
    earlier does not stop the card (the account is reactivated), and a sweep that comes a
    moment later finds a payment method and changes nothing (R-PAY-3, R-PAY-4)."""
    actions: list[Any] = [
        Account.status.set(AccountStatus.ACTIVE),
        Account.access_blocked_reason.remove(),
        Account.trial_sweep.remove(),
        Account.has_payment_method.set(True),
        Account.payment_method_type.set(account.payment_method_type),
        Account.payment_method_ref.set(account.payment_method_ref),
        Account.payment_method_display.set(account.payment_method_display),
        Account.payment_customer_id.set(account.payment_customer_id),
        Account.seats.set(billed_seats(account)),
        Account.billing_anchor.set(period.starts_at),
        Account.period_start.set(period.starts_at),
        Account.period_end.set(period.ends_at),
        # R-CREDIT-1: the card paid the whole period; credit bought during it starts at its end.
        Account.credit_pays_from.set(period.starts_at),
        Account.credit_pays_until.set(period.starts_at),
        Account.billing_shard.set(shard_of(account.id, settings.sweep_shards)),
        Account.bill_due_at.set(period.ends_at),
        Account.charge_attempts.set(0),
    ]
    if invoice is not None:
        actions += [Account.last_invoice_id.set(invoice.invoice_id), Account.last_invoice_at.set(invoice.issued_at)]
    tx.update(
        Account(account.id),
        actions=actions,
        # The plan it was priced at is still the plan: a concurrent change fails this card.
        condition=(
            Account.status.is_in(*TRIAL)
            & (Account.has_payment_method == False)  # noqa: E712 - pynamodb condition
            & (Account.plan == account.plan)
            & (Account.billing_period == account.billing_period)
        ),
    )
    outcome.labels.append("update:account")


# ---------------------------------------------------------------- scheduled changes (R-PAY-8)


def has_pending(account: Account) -> bool:
    """A change is scheduled for the next period (a confirmed downgrade or a billing-period change)."""
    return (
        account.pending_plan is not None
        or account.pending_seats is not None
        or account.pending_billing_period is not None
    )


def next_period_terms(account: Account) -> tuple[str, int, str]:
    """The plan, seats and billing period the next period is billed at: the scheduled change
    where there is one (``lifecycle.subscriptions.subscription_changes`` stores all three), else the current ones."""
    return (
        account.pending_plan or account.plan,
        int(account.pending_seats) if account.pending_seats is not None else billed_seats(account),
        account.pending_billing_period or account.billing_period,
    )


def applying_pending(account: Account) -> list[Any]:
    """The update actions that make the scheduled change the subscription (for the billing run,
    at the period it takes effect): plan, seats, billing period and price key set, pending removed.
    A billing-period change re-anchors the periods at that instant
    (``lifecycle.subscriptions.subscription_changes``)."""
    plan, seats, billing_period = next_period_terms(account)
    return [
        Account.plan.set(plan),
        Account.seats.set(seats),
        Account.billing_period.set(billing_period),
        Account.price_key.set(pricing.price_key(plan, billing_period)),
        Account.pending_plan.remove(),
        Account.pending_seats.remove(),
        Account.pending_billing_period.remove(),
    ]
