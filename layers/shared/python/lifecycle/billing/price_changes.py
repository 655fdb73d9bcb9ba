"""Scheduled price changes of the plans (R-PAY-9): refused unless ``effective_at`` is at least
``price_notice_days`` away, then the change saved with its fan-out pending; the owners'
``price_change_notice`` records are committed after the request by ``price_fanout``. It applies
to each owner from the first period starting on or after ``effective_at`` and the notice period
after their own notice was sent (``pricing``). docs/ARCHITECTURE.md "Corrections and price changes".
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from lifecycle.accounts import accounts, audit
from lifecycle.billing import pricing
from lifecycle.core import clock
from lifecycle.core.auth import Principal, require_member, require_staff
from lifecycle.core.errors import Conflict, InvalidField, NoticeTooShort
from lifecycle.core.money import Money
from lifecycle.core.observability import logger
from lifecycle.core.plans import BillingPeriod, Plan
from lifecycle.core.settings import Settings
from lifecycle.storage import PriceChange
from lifecycle.storage import prices as price_table
from lifecycle.storage.base import put_if, shard_of

PLANS: tuple[Plan, ...] = get_args(Plan)
BILLING_PERIODS: tuple[BillingPeriod, ...] = get_args(BillingPeriod)


class PriceChangeInput(BaseModel):
    """``POST /admin/prices``."""

    model_config = ConfigDict(extra="forbid")

    plan: Plan
    billing_period: BillingPeriod = "monthly"
    price: Money = Field(description="per seat and billing period")
    effective_at: AwareDatetime = Field(description="an instant, with `Z` or an offset")

    @field_validator("effective_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        # An offset at the edge of the calendar (0001-01-01T00:00+00:01) has no UTC instant:
        # the client's error (422), not an OverflowError in the logic.
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("the instant is outside the calendar") from None


class PriceChangeView(BaseModel):
    """A scheduled change, as staff see it."""

    id: str
    plan: Plan
    billing_period: BillingPeriod
    price: Money
    previous_price: Money
    effective_at: str
    notified_accounts: int = Field(description="owners whose notice is recorded; grows while `fanout` is pending")
    fanout: Literal["pending", "complete"] = Field(description="whether every owner's notice is recorded")
    fanout_completed_at: str | None

    @classmethod
    def of(cls, item: PriceChange, previous: Money | None = None) -> PriceChangeView:
        """``previous``: the price it replaces now; by default the one when it was scheduled."""
        return cls(
            id=item.id,
            plan=item.plan,  # type: ignore[arg-type]  # stored from a validated Plan
            billing_period=item.billing_period,  # type: ignore[arg-type]
            price=_price(item),
            previous_price=previous or Money(amount=int(item.previous_amount), currency=item.currency),
            effective_at=clock.to_iso(item.effective_at),
            notified_accounts=int(item.notified_accounts),
            fanout="complete" if item.fanout_complete else "pending",
            fanout_completed_at=_iso(item.fanout_completed_at or item.notices_recorded_at),
        )


def _iso(instant: datetime | None) -> str | None:
    return clock.to_iso(instant) if instant is not None else None


def _price(item: PriceChange) -> Money:
    return Money(amount=int(item.amount), currency=item.currency)


class PriceChangeList(BaseModel):
    items: list[PriceChangeView]


class UpcomingPrice(BaseModel):
    """A change of the account's plan that is not in force for it yet, as its members see it."""

    plan: Plan
    billing_period: BillingPeriod
    price: Money
    previous_price: Money
    effective_at: str = Field(
        description=(
            "the first instant the price can apply to this account: the change's own, or the notice period "
            "after this owner's notice was sent if later (while unsent: after now)"
        )
    )
    notice_sent_at: str | None = Field(description="when this owner's notice was sent; null while unsent")


class UpcomingPriceList(BaseModel):
    items: list[UpcomingPrice]


# ---------------------------------------------------------------- scheduling


def schedule(principal: Principal, form: PriceChangeInput, now: datetime, settings: Settings) -> PriceChangeView:
    """R-PAY-9: save the change with its fan-out pending (module doc); two DynamoDB calls
    whatever the number of owners: the Query of the plan's changes (the price it replaces)
    and the Put, whose condition is the one change per plan, billing period and instant."""
    require_staff(principal)
    _check_price(form.price, settings)
    effective_at = form.effective_at.astimezone(UTC)
    earliest = now + timedelta(days=settings.price_notice_days)
    if effective_at < earliest:
        raise NoticeTooShort(
            f"Owners are notified from now on, so the price can take effect at {clock.to_iso(earliest)} at the "
            f"earliest: {settings.price_notice_days} days' notice (R-PAY-9)"
        )
    key = pricing.price_key(form.plan, form.billing_period)
    previous = pricing.seat_price(form.plan, form.billing_period, effective_at, settings, None)
    change_id = f"price_{uuid.uuid4().hex[:16]}"
    change = PriceChange(
        key,
        effective_at,
        id=change_id,
        plan=form.plan,
        billing_period=form.billing_period,
        amount=form.price.amount,
        currency=form.price.currency,
        previous_amount=previous.amount,
        scheduled_at=now,
        scheduled_by=principal.user_id,
        notified_accounts=0,
        fanout_pending=shard_of(change_id, settings.sweep_shards),
    )
    if not put_if(change, PriceChange.price_key.does_not_exist()):
        raise Conflict("A price change of this plan and billing period takes effect at that instant already")
    logger.info("price change scheduled", extra={"price_key": key, "price_change_id": change_id})
    return PriceChangeView.of(change)


def _check_price(price: Money, settings: Settings) -> None:
    if price.currency != settings.currency:
        raise InvalidField("price.currency", f"prices are in {settings.currency}")
    if price.amount < 0:
        raise InvalidField("price.amount", "must not be negative")


# ---------------------------------------------------------------- reading


def changes_of(plan: Plan, billing_period: BillingPeriod, settings: Settings) -> list[tuple[PriceChange, Money]]:
    """The plan's changes, earliest first, each with the price it replaces: the change
    before it or the standing price (a change scheduled later may have come in between)."""
    changes = price_table.changes_of(pricing.price_key(plan, billing_period))
    return _with_previous(plan, billing_period, list(changes), settings)


def _with_previous(
    plan: Plan, billing_period: BillingPeriod, changes: list[PriceChange], settings: Settings
) -> list[tuple[PriceChange, Money]]:
    previous = Money(amount=pricing.standing_price(plan, billing_period, settings), currency=settings.currency)
    found = []
    for change in sorted(changes, key=lambda change: change.effective_at):
        found.append((change, previous))
        previous = _price(change)
    return found


def list_all(principal: Principal, settings: Settings) -> PriceChangeList:
    """Every scheduled change, by plan and billing period, earliest first.

    One Scan of the price table (1 round trip, not one Query per plan and billing
    period): it holds a handful of changes per price list a year, written only by staff, so
    reading all of it is reading what is asked. The sweeps never Scan; this is a listing."""
    require_staff(principal)
    by_key: dict[str, list[PriceChange]] = {}
    for change in price_table.all_changes():
        by_key.setdefault(change.price_key, []).append(change)
    items = [
        PriceChangeView.of(change, previous)
        for plan in PLANS
        for billing_period in BILLING_PERIODS
        for change, previous in _with_previous(
            plan, billing_period, by_key.get(pricing.price_key(plan, billing_period), []), settings
        )
    ]
    return PriceChangeList(items=items)


def upcoming_for(principal: Principal, account_id: str, now: datetime, settings: Settings) -> UpcomingPriceList:
    """The changes of the account's plan not in force for it yet: the notices its owner
    received or will receive, each at the account's own effective time (R-PAY-9 per owner)."""
    require_member(principal, account_id)
    account = accounts.load(account_id)
    audit.record_staff_access(principal, account_id, "price_changes", now)
    if not account.price_key:
        return UpcomingPriceList(items=[])
    # The key the notices went out by: "<plan>#<billing period>".
    plan, _, billing_period = account.price_key.partition("#")
    own = pricing.PriceNotices.of(account)
    items = []
    for change, previous in changes_of(plan, billing_period, settings):  # type: ignore[arg-type]
        sent = own.sent.get(change.id)
        # Unknown while the notice is unsent: it cannot apply before the notice period from now.
        effective = pricing.effective_for(change, own, settings) or max(
            change.effective_at, now + timedelta(days=settings.price_notice_days)
        )
        if effective <= now:
            continue
        items.append(
            UpcomingPrice(
                plan=plan,  # type: ignore[arg-type]  # stored from a validated Plan
                billing_period=billing_period,  # type: ignore[arg-type]
                price=_price(change),
                previous_price=previous,
                effective_at=clock.to_iso(effective),
                notice_sent_at=_iso(sent),
            )
        )
    return UpcomingPriceList(items=items)
