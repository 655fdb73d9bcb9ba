"""Changing a subscription's plan, seats or billing period, and previewing it (R-PAY-5..8): upgrades apply
now (prorated on non-monthly periods), downgrades and billing-period changes wait for the period's end
once confirmed, nothing is refunded, and during a trial (R-PAY-4) every change applies at once.
docs/ARCHITECTURE.md "Subscription changes".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from lifecycle.accounts import accounts, audit
from lifecycle.billing import credit, pricing, proration, subscriptions
from lifecycle.billing.invoicing import AccountChange, AccountMoved, Draft, InvoiceView, Line, charge_and_issue, prepare
from lifecycle.billing.proration import ProrationView
from lifecycle.core import billing_periods, clock
from lifecycle.core.auth import Principal, require_member
from lifecycle.core.billing_periods import Period
from lifecycle.core.errors import Conflict, DowngradeNeedsConfirmation, Forbidden, InvalidField
from lifecycle.core.money import Money
from lifecycle.core.plans import PLAN_NAMES, BillingPeriod, Plan
from lifecycle.core.settings import Settings, UsageLimits
from lifecycle.storage import Account, AuditEvent, Invoice
from lifecycle.storage.accounts import TRIAL, AccountStatus
from lifecycle.storage.transactions import Build, Outcome, commit

if TYPE_CHECKING:
    from lifecycle.billing import webhooks

# Plans from the lowest to the highest: a move down this list is a downgrade (R-PAY-8).
PLAN_ORDER: tuple[Plan, ...] = ("free", "ticket", "ticket-chat", "all-inclusive")

# What each plan includes, in plain words: a lower plan's losses are listed from it (R-PAY-8).
FEATURES: dict[Plan, tuple[str, ...]] = {
    "free": ("tickets",),
    "ticket": ("tickets", "email"),
    "ticket-chat": ("tickets", "email", "chat"),
    "all-inclusive": ("tickets", "email", "chat", "calls", "knowledge base"),
}

CHANGE_PURPOSE = "change#"
MAX_SEATS = 10_000


# ---------------------------------------------------------------- the contract


class SubscriptionChange(BaseModel):
    """API.md "Subscription": each field optional; ``seats`` is the total the plan bills for."""

    model_config = ConfigDict(extra="forbid")

    plan: Plan | None = None
    seats: StrictInt | None = Field(default=None, ge=1, le=MAX_SEATS)
    billing_period: BillingPeriod | None = None
    confirm_downgrade: StrictBool = Field(
        default=False, description="R-PAY-8: true after the owner has seen what the lower plan loses"
    )


class PendingView(BaseModel):
    """A change scheduled for the next period (R-PAY-8)."""

    plan: Plan
    seats: int
    billing_period: BillingPeriod
    effective_at: str


class SubscriptionView(BaseModel):
    plan: Plan
    seats: int
    billing_period: BillingPeriod
    period_start: str | None = Field(description="null during the trial: no period is paid yet")
    period_end: str | None
    pending: PendingView | None


class ChangeView(BaseModel):
    """``PUT …/subscription``: the subscription after the change, its proration, its invoice."""

    subscription: SubscriptionView
    proration: ProrationView | None
    invoice: InvoiceView | None


class Loss(BaseModel):
    """One thing the lower plan (or billing period) gives up (R-PAY-8)."""

    kind: Literal["feature", "seats", "seat_limit", "usage_limit", "billing_period"]
    name: str
    detail: str


class InvoicePreview(BaseModel):
    """An invoice as it would be issued: its lines say why each amount (period, seconds,
    unit price, rule), then the totals with VAT as the billing details valid now give it."""

    period_start: str | None
    period_end: str | None
    lines: list[Line]
    subtotal: Money
    tax: Money
    tax_rate_basis_points: int
    tax_note: str | None
    total: Money


class PreviewView(ChangeView):
    """``POST …/subscription/preview``: what the same ``PUT`` would do, with nothing saved or charged."""

    amount_due_now: Money
    due_now: InvoicePreview | None = Field(description="the invoice the PUT would issue at once (R-PAY-5)")
    next_invoice: InvoicePreview = Field(description="the next period at the new values (R-PAY-1)")
    needs_confirmation: bool = Field(description="the PUT needs confirm_downgrade: true (R-PAY-8)")
    losses: list[Loss]


# ---------------------------------------------------------------- deciding


@dataclass(frozen=True)
class Terms:
    plan: Plan
    seats: int
    billing_period: BillingPeriod


@dataclass(frozen=True)
class Decision:
    """What a request does to one account read at one instant."""

    account: Account
    now: datetime
    in_trial: bool
    current: Terms
    target: Terms
    applied: Terms  # the subscription from now on
    pending: Terms | None  # what the next period changes to
    period: Period | None  # the paid period (None during the trial)
    proration: ProrationView | None
    draft: Draft | None  # the charge at once, when there is an amount
    needs_confirmation: bool
    losses: list[Loss]

    @property
    def changes_nothing(self) -> bool:
        return self.applied == self.current and self.pending == _scheduled_change(self.account)

    def view(self) -> SubscriptionView:
        pending = None
        if self.pending is not None and self.period is not None:
            pending = PendingView(
                plan=self.pending.plan,
                seats=self.pending.seats,
                billing_period=self.pending.billing_period,
                effective_at=clock.to_iso(self.period.ends_at),
            )
        return SubscriptionView(
            plan=self.applied.plan,
            seats=self.applied.seats,
            billing_period=self.applied.billing_period,
            period_start=clock.to_iso(self.period.starts_at) if self.period is not None else None,
            period_end=clock.to_iso(self.period.ends_at) if self.period is not None else None,
            pending=pending,
        )


def decide(account: Account, form: SubscriptionChange, now: datetime, settings: Settings) -> Decision:
    """What ``form`` does to ``account`` at ``now`` (module doc); reads prices, writes nothing."""
    # Whole seconds: the amount, and so the charge's idempotency key, is the same for the
    # whole second (proration counts whole seconds anyway).
    now = now.replace(microsecond=0)
    in_trial = _in_trial(account)
    current = _current(account)
    target = _target(account, form, current, settings)
    _require_seats_for_users(account, target, settings)
    period = None if in_trial else _paid_period(account)
    priced_at = period.starts_at if period is not None else now
    # Both priced for the current billing period: a billing-period change only waits (module doc).
    notices = pricing.PriceNotices.of(account)
    old_amount = _per_period(current, current.billing_period, priced_at, settings, notices)
    new_amount = _per_period(target, current.billing_period, priced_at, settings, notices)
    downgrade = (target.plan, target.seats) != (current.plan, current.seats) and (
        _rank(target.plan) < _rank(current.plan) or target.seats < current.seats or new_amount < old_amount
    )
    gives_up_annual = current.billing_period != "monthly" and target.billing_period == "monthly"
    losses = _losses(account, current, target, in_trial, priced_at, settings)
    needs_confirmation = downgrade or (gives_up_annual and not in_trial)
    decision = Decision(
        account, now, in_trial, current, target, target, None, period, None, None, needs_confirmation, losses
    )
    if period is not None:  # during the trial everything applies at once
        decision = _within_period(decision, period, downgrade, new_amount - old_amount, settings)
    # Nothing new to confirm when nothing changes (``{}`` after a confirmed downgrade, say).
    return replace(decision, needs_confirmation=False) if decision.changes_nothing else decision


def _within_period(
    decision: Decision, period: Period, downgrade: bool, difference: int, settings: Settings
) -> Decision:
    """An active subscription: an upgrade applies now (prorated on a non-monthly period), the
    rest waits for the next period."""
    current, target = decision.current, decision.target
    upgrade = (target.plan, target.seats) != (current.plan, current.seats) and not downgrade
    applied = replace(target, billing_period=current.billing_period) if upgrade else current
    decision = replace(decision, applied=applied, pending=target if target != applied else None)
    if not upgrade or current.billing_period == "monthly":
        return decision  # R-PAY-6: monthly billing is never prorated
    charged_from = decision.now
    if credit_pays_now(decision.account, decision.now):
        # R-CREDIT-1: prepaid credit pays this period's seats; the added seats make it run out
        # sooner (rebased after the change) instead of a card charge for the same time. Only
        # the part of the period the card paid for (after the credit's share) is charged.
        pause = credit.paused(decision.account)
        if pause is None:
            return decision
        charged_from = pause[0]
    explained = upgrade_charge(0, difference, period, charged_from, settings.currency)
    if explained.amount.amount == 0:
        return replace(decision, proration=explained)
    draft = _proration_draft(decision.account, current, applied, period, explained, difference, decision.now)
    return replace(decision, proration=explained, draft=draft)


def credit_pays_now(account: Account, now: datetime) -> bool:
    """Prepaid credit is running now: it began (``credit_since``), has not run out, and now is
    not in the part of the period the card paid for."""
    stored = credit.Credit.of(account)
    current = credit.settled(stored, now)
    began = account.credit_since or account.credit_updated_at
    pause = stored.paused
    return (
        current.balance > 0
        and current.valid_until is not None
        and began is not None
        and began <= now < current.valid_until
        and not (pause is not None and pause[0] <= now < pause[1])
    )


def _in_trial(account: Account) -> bool:
    """True for a trial (changes apply at once), False for an active subscription; 409 otherwise."""
    if account.lifetime or account.voucher_code_hash:
        raise Conflict("A lifetime voucher account has no subscription to change")
    if account.status in TRIAL and not account.has_payment_method:
        return True
    if account.status == AccountStatus.ACTIVE and account.period_start and account.period_end:
        return False
    raise Conflict(f"Only an active subscription or a trial can change; this account is {account.status}")


def _current(account: Account) -> Terms:
    return Terms(_plan(account.plan), subscriptions.billed_seats(account), _billing_period(account.billing_period))


def _scheduled_change(account: Account) -> Terms | None:
    if not subscriptions.has_pending(account):
        return None
    plan, seats, billing_period = subscriptions.next_period_terms(account)
    return Terms(_plan(plan), seats, _billing_period(billing_period))


def _target(account: Account, form: SubscriptionChange, current: Terms, settings: Settings) -> Terms:
    """The wanted subscription: the form's values over the scheduled (else current) ones. Seats
    left out shrink to a lower plan's limit; seats asked beyond the plan's limit are refused."""
    scheduled = _scheduled_change(account) or current
    plan = form.plan or scheduled.plan
    limit = seat_limit(account, plan, settings)
    if form.seats is not None and form.seats > limit:
        raise InvalidField("seats", f"the {_name(plan)} plan allows at most {limit} seats")
    seats = form.seats if form.seats is not None else min(scheduled.seats, limit)
    return Terms(plan, seats, form.billing_period or scheduled.billing_period)


def _require_seats_for_users(account: Account, target: Terms, settings: Settings) -> None:
    """Every user holds a seat: fewer seats than users is refused until users are removed."""
    users = int(account.seats_used or 1)
    if target.seats >= users:
        return
    limit = seat_limit(account, target.plan, settings)
    if users > limit:
        raise Conflict(
            f"The {_name(target.plan)} plan allows {limit} users and the account has {users}: "
            f"remove {users - limit} users first"
        )
    raise Conflict(f"The account has {users} users, each holding a seat: remove users first or keep {users} seats")


def seat_limit(account: Account, plan: Plan, settings: Settings) -> int:
    """R-USE-3: the users ``plan`` allows this account: staff's own limit for it, else the plan's."""
    if account.seat_limit is not None:
        return int(account.seat_limit)
    return int(settings.seat_limits.get(plan, min(settings.seat_limits.values())))


def _paid_period(account: Account) -> Period | None:
    if account.period_start is None or account.period_end is None:
        return None
    return Period(account.period_start, account.period_end)


def _per_period(
    terms: Terms, billing_period: BillingPeriod, priced_at: datetime, settings: Settings, notices: pricing.PriceNotices
) -> int:
    return terms.seats * pricing.seat_price(terms.plan, billing_period, priced_at, settings, notices).amount


def upgrade_charge(old_amount: int, new_amount: int, period: Period, now: datetime, currency: str) -> ProrationView:
    """R-PAY-5: the difference of two per-period amounts for the seconds left of ``period``."""
    return proration.explain(new_amount - old_amount, period, now, currency, rule="R-PAY-5")


def _proration_draft(
    account: Account,
    current: Terms,
    applied: Terms,
    period: Period,
    explained: ProrationView,
    difference: int,
    now: datetime,
) -> Draft:
    """One line that says why: the difference, the seconds left of the seconds of the period."""
    amount = explained.amount
    charged_from = period.ends_at - timedelta(seconds=explained.seconds_remaining)
    description = (
        f"Upgrade from {_name(current.plan)} ({_seats(current.seats)}) to {_name(applied.plan)} "
        f"({_seats(applied.seats)}) for the rest of the {applied.billing_period} period, "
        f"{clock.to_iso(charged_from)} to {clock.to_iso(period.ends_at)}: the price difference of "
        f"{_money(difference, amount.currency)} a period for {explained.seconds_remaining:,} of its "
        f"{explained.period_seconds:,} seconds"
    )
    line = Line(
        description=description,
        quantity=1,
        unit_price=amount,
        amount=amount,
        rule="R-PAY-5",
        period_start=clock.to_iso(charged_from),
        period_end=clock.to_iso(period.ends_at),
        seconds=explained.seconds_remaining,
        period_seconds=explained.period_seconds,
    )
    purpose = f"{CHANGE_PURPOSE}{clock.to_iso(now)}#{current.plan}/{current.seats}>{applied.plan}/{applied.seats}"
    # Of the instant (and prorated to it): a retry is a new purpose, so a charge interrupted
    # by contention is refunded rather than left for a replay that never comes.
    return Draft(
        account_id=account.id,
        purpose=purpose,
        lines=[line],
        period_start=charged_from,
        period_end=period.ends_at,
        replayable=False,
    )


# ---------------------------------------------------------------- what a lower plan loses (R-PAY-8)


def _losses(
    account: Account, current: Terms, target: Terms, in_trial: bool, priced_at: datetime, settings: Settings
) -> list[Loss]:
    when = "at once" if in_trial else f"from {clock.to_iso(account.period_end)}" if account.period_end else ""
    losses = [
        Loss(
            kind="feature", name=feature, detail=f"{feature.capitalize()} is not part of the {_name(target.plan)} plan"
        )
        for feature in FEATURES[current.plan]
        if feature not in FEATURES[target.plan]
    ]
    if target.seats < current.seats:
        losses.append(
            Loss(kind="seats", name="seats", detail=f"The paid seats go from {current.seats} to {target.seats} {when}")
        )
    old_limit, new_limit = seat_limit(account, current.plan, settings), seat_limit(account, target.plan, settings)
    if new_limit < old_limit:
        losses.append(
            Loss(
                kind="seat_limit",
                name="users",
                detail=(
                    f"The {_name(target.plan)} plan allows at most {new_limit} users (now {old_limit}); "
                    f"the account has {int(account.seats_used or 1)}"
                ),
            )
        )
    losses += _usage_losses(account, current.plan, target.plan, settings)
    if not in_trial and current.billing_period != "monthly" and target.billing_period == "monthly":
        monthly = pricing.seat_price(target.plan, "monthly", priced_at, settings, pricing.PriceNotices.of(account))
        losses.append(
            Loss(
                kind="billing_period",
                name=current.billing_period,
                detail=(
                    f"Monthly billing at {_money(monthly.amount, monthly.currency)} per seat a month replaces "
                    f"the {current.billing_period} price {when}; the paid period is not refunded (R-PAY-7)"
                ),
            )
        )
    return losses


def _usage_losses(account: Account, old: Plan, new: Plan, settings: Settings) -> list[Loss]:
    """R-FAIR-1 capacity: limits the lower plan sets or lowers (staff's own limits stay)."""
    before, after = settings.usage_limits.get(old, UsageLimits()), settings.usage_limits.get(new, UsageLimits())
    checks: list[tuple[str, int | None, int | None, Any, str]] = [
        (
            "tickets_per_month",
            before.tickets_per_month,
            after.tickets_per_month,
            account.usage_limit_tickets_per_month,
            "tickets a month",
        ),
        ("storage_bytes", before.storage_bytes, after.storage_bytes, account.usage_limit_storage_bytes, "storage"),
    ]
    losses = []
    for name, was, becomes, own, words in checks:
        if own is not None or becomes is None or (was is not None and becomes >= was):
            continue
        shown = _bytes(becomes) if name == "storage_bytes" else f"{becomes:,}"
        previous = "unlimited" if was is None else (_bytes(was) if name == "storage_bytes" else f"{was:,}")
        losses.append(Loss(kind="usage_limit", name=name, detail=f"At most {shown} {words} (now {previous})"))
    return losses


# ---------------------------------------------------------------- the routes' logic


def put_for(
    principal: Principal, account_id: str, form: SubscriptionChange, now: datetime, settings: Settings
) -> ChangeView:
    """``PUT /accounts/{id}/subscription`` (owner): apply, schedule or charge, as decided."""
    _require_owner(principal, account_id)
    with pricing.one_read():
        return _put(principal, accounts.load(account_id), form, now, settings)


def _put(
    principal: Principal, account: Account, form: SubscriptionChange, now: datetime, settings: Settings
) -> ChangeView:
    decision = decide(account, form, now, settings)
    if decision.needs_confirmation and not form.confirm_downgrade:
        raise DowngradeNeedsConfirmation(
            "This change takes effect at the next period and the lower plan loses what `losses` lists; "
            "send it again with confirm_downgrade: true",
            losses=[loss.model_dump() for loss in decision.losses],
        )
    invoice = None if decision.changes_nothing else _save(principal, decision, settings, form)
    return ChangeView(
        subscription=decision.view(),
        proration=decision.proration,
        invoice=InvoiceView.of(invoice) if invoice is not None else None,
    )


def preview_for(
    principal: Principal, account_id: str, form: SubscriptionChange, now: datetime, settings: Settings
) -> PreviewView:
    """``POST /accounts/{id}/subscription/preview`` (owner): the same decision, nothing saved or charged."""
    _require_owner(principal, account_id)
    with pricing.one_read():
        return _preview_of(decide(accounts.load(account_id), form, now, settings), settings)


def _preview_of(decision: Decision, settings: Settings) -> PreviewView:
    due_now = _preview(decision.draft, decision.now, settings) if decision.draft is not None else None
    return PreviewView(
        subscription=decision.view(),
        proration=decision.proration,
        invoice=None,
        amount_due_now=due_now.total if due_now is not None else Money(amount=0, currency=settings.currency),
        due_now=due_now,
        next_invoice=_preview(_next_invoice(decision, settings), decision.now, settings),
        needs_confirmation=decision.needs_confirmation,
        losses=decision.losses,
    )


def _require_owner(principal: Principal, account_id: str) -> None:
    require_member(principal, account_id, roles=("owner",))
    if principal.is_staff:
        raise Forbidden("Only the account's owner changes its subscription")


def _save(principal: Principal, decision: Decision, settings: Settings, form: SubscriptionChange) -> Invoice | None:
    """One transaction: the account's change (conditioned on what it was computed from), its
    audit event and, when an amount is due at once, the paid invoice and its receipt."""
    account, now = decision.account, decision.now
    event = audit.event(
        account.id,
        "subscription_changed",
        principal.user_id,
        now,
        plan=decision.applied.plan,
        seats=decision.applied.seats,
        billing_period=decision.applied.billing_period,
        pending=_terms_dict(decision.pending),
        prorated_cents=decision.proration.amount.amount if decision.proration is not None else 0,
    )

    def build(tx: TransactWrite, outcome: Outcome, invoice: Invoice | None, credit_free: bool = False) -> None:
        condition = _unchanged(decision)
        if credit_free:
            condition &= credit.still_none_left()
        tx.update(Account(account.id), actions=_actions(decision, invoice), condition=condition)
        outcome.labels.append("update:account")
        outcome.put(tx, "audit", event, AuditEvent.event_key.does_not_exist())

    moved = Conflict("The subscription or its users changed meanwhile; reload it and try again")

    def failed(labels: list[str]) -> None:
        raise moved

    def without_invoice(credit_free: bool) -> Build:
        return partial(build, invoice=None, credit_free=credit_free)

    current, applied = decision.current, decision.applied
    reprices = (applied.plan, applied.seats) != (current.plan, current.seats)
    if decision.draft is not None:
        decision.draft.resume = _resume_with(principal, form, now)
        try:
            invoice = charge_and_issue(account, decision.draft, now, AccountChange(build), settings)
        except AccountMoved as exc:
            raise moved from exc
    elif reprices and credit.committed_without_credit(account, without_invoice):
        return None  # no credit to rebase
    else:
        commit(without_invoice(False), failed)
        invoice = None
    if reprices:
        credit.rebase(account.id, now, settings)  # R-CREDIT-1: the seat cost changed; a no-op without credit
    return invoice


# ---------------------------------------------------------------- a payment confirmed later (R-PAY-12)

RESUME = "subscription_change"


def _resume_with(principal: Principal, form: SubscriptionChange, now: datetime) -> dict[str, str]:
    """The charge's metadata that lets its webhook apply the change as it was priced (``resume``)."""
    fields = form.model_dump(exclude_none=True)
    return {
        "operation": RESUME,
        "actor": principal.user_id,
        "priced_at": clock.to_iso(now),
        **{name: str(value).lower() if isinstance(value, bool) else str(value) for name, value in fields.items()},
    }


def resume(account: Account, intent: webhooks.Intent, now: datetime, settings: Settings) -> None:
    """The upgrade whose prorated charge the card holder authenticated after the owner's request
    answered: decided again at the instant it was priced (so the charge is the same amount), and
    saved if the account is still what it was then (else ``Conflict``, and the payment is refunded)."""
    meta = intent.metadata
    form = SubscriptionChange.model_validate(
        {
            **({"plan": meta["plan"]} if "plan" in meta else {}),
            **({"seats": int(meta["seats"])} if "seats" in meta else {}),
            **({"billing_period": meta["billing_period"]} if "billing_period" in meta else {}),
            "confirm_downgrade": meta.get("confirm_downgrade") == "true",
        }
    )
    priced_at = clock.parse_iso(meta["priced_at"])
    principal = Principal(user_id=meta.get("actor") or "payment-provider", account_id=account.id, role="owner")
    with pricing.one_read():
        decision = decide(account, form, priced_at, settings)
        if decision.draft is None or decision.changes_nothing:
            raise Conflict("The subscription changed meanwhile; the change no longer charges")
        _save(principal, decision, settings, form)


def _actions(decision: Decision, invoice: Invoice | None) -> list[Any]:
    applied, pending = decision.applied, decision.pending
    actions: list[Any] = [
        Account.plan.set(applied.plan),
        Account.seats.set(applied.seats),
        Account.billing_period.set(applied.billing_period),
        Account.price_key.set(pricing.price_key(applied.plan, applied.billing_period)),
    ]
    if pending is None:
        actions += [
            Account.pending_plan.remove(),
            Account.pending_seats.remove(),
            Account.pending_billing_period.remove(),
        ]
    else:
        actions += [
            Account.pending_plan.set(pending.plan),
            Account.pending_seats.set(pending.seats),
            Account.pending_billing_period.set(pending.billing_period),
        ]
    if invoice is not None:
        actions += [Account.last_invoice_id.set(invoice.invoice_id), Account.last_invoice_at.set(invoice.issued_at)]
    return actions


def _unchanged(decision: Decision) -> Condition:
    """The account is still what the decision was computed from, and its users fit the seats."""
    account = decision.account
    condition: Condition = (
        (Account.status == account.status)
        & (Account.plan == account.plan)
        & (Account.billing_period == account.billing_period)
        & Account.voucher_code_hash.does_not_exist()
        & (Account.seats_used <= min(decision.current.seats, decision.target.seats))
    )
    for attribute, value in (
        (Account.seats, account.seats),
        (Account.pending_plan, account.pending_plan),
        (Account.pending_seats, account.pending_seats),
        (Account.pending_billing_period, account.pending_billing_period),
        (Account.period_end, account.period_end),
    ):
        condition &= attribute.does_not_exist() if value is None else attribute == value
    if decision.in_trial:
        # A card added meanwhile charged the first period at the values it read (R-PAY-4).
        condition &= Account.has_payment_method == False  # noqa: E712
    return condition


# ---------------------------------------------------------------- previews


def _preview(draft: Draft, now: datetime, settings: Settings) -> InvoicePreview:
    invoice = prepare(draft, now, settings)  # computed, never saved

    def money(cents: Any) -> Money:
        return Money(amount=int(cents), currency=invoice.currency)

    return InvoicePreview(
        period_start=clock.to_iso(draft.period_start) if draft.period_start is not None else None,
        period_end=clock.to_iso(draft.period_end) if draft.period_end is not None else None,
        lines=draft.lines,
        subtotal=money(invoice.subtotal),
        tax=money(invoice.tax),
        tax_rate_basis_points=int(invoice.tax_rate_basis_points or 0),
        tax_note=invoice.tax_note,
        total=money(invoice.total),
    )


def _next_invoice(decision: Decision, settings: Settings) -> Draft:
    """The next period at the new values: after the paid period (re-anchored there when the
    billing period changes), or during a trial the first period, from the trial's end."""
    terms = decision.pending or decision.applied
    if decision.period is None:
        trial_end = decision.account.trial_ends_at
        starts = trial_end if trial_end is not None and trial_end > decision.now else decision.now
        period, rule = billing_periods.period_of(terms.billing_period, starts, starts), "R-PAY-4"
    else:
        paid_end = decision.period.ends_at
        anchor = decision.account.billing_anchor or decision.period.starts_at
        if terms.billing_period != decision.applied.billing_period:
            anchor = paid_end
        period, rule = billing_periods.period_of(terms.billing_period, anchor, paid_end), "R-PAY-1"
    notices = pricing.PriceNotices.of(decision.account)
    line = subscriptions.period_line(terms.plan, terms.billing_period, terms.seats, period, rule, settings, notices)
    return Draft(
        account_id=decision.account.id,
        purpose="preview",
        lines=[line],
        period_start=period.starts_at,
        period_end=period.ends_at,
    )


# ---------------------------------------------------------------- words and values


def _rank(plan: Plan) -> int:
    return PLAN_ORDER.index(plan)


def _plan(value: str) -> Plan:
    if value not in get_args(Plan):
        raise ValueError(f"unknown plan {value!r}")
    return value  # type: ignore[return-value]  # checked against Plan's values


def _billing_period(value: str) -> BillingPeriod:
    if value not in get_args(BillingPeriod):
        raise ValueError(f"unknown billing period {value!r}")
    return value  # type: ignore[return-value]  # checked against BillingPeriod's values


def _terms_dict(terms: Terms | None) -> dict[str, Any] | None:
    if terms is None:
        return None
    return {"plan": terms.plan, "seats": terms.seats, "billing_period": terms.billing_period}


def _name(plan: str) -> str:
    return PLAN_NAMES.get(plan, plan)


def _seats(seats: int) -> str:
    return f"{seats} seat{'s' if seats != 1 else ''}"


def _money(cents: int, currency: str) -> str:
    return f"{cents // 100:,}.{cents % 100:02d} {currency}"


def _bytes(count: int) -> str:
    for unit, size in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6)):
        if count >= size and count % size == 0:
            return f"{count // size:,} {unit}"
    return f"{count:,} bytes"
