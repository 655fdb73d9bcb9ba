"""Accounts as members see them (``GET /accounts/{id}``, API.md "Account")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field
from pynamodb.exceptions import DoesNotExist

from lifecycle.accounts import audit
from lifecycle.core import clock
from lifecycle.core.auth import Principal, require_member
from lifecycle.core.errors import NotFound
from lifecycle.core.money import Money
from lifecycle.core.plans import BillingPeriod, Plan
from lifecycle.storage import Account


class Seats(BaseModel):
    included: int
    used: int
    extra: int


class VoucherInfo(BaseModel):
    campaign_id: str
    redeemed_at: str


class CardShown(BaseModel):
    """A card as the payment provider shows it (R-PAY-12: never its number)."""

    type: Literal["card"]
    brand: str | None = Field(description='the card network as the provider names it ("visa", "mastercard", …)')
    last4: str | None = Field(description="the card number's last four digits; null where not known")
    exp_month: int | None
    exp_year: int | None


class PayPalShown(BaseModel):
    """A PayPal account: only that it is one (never the payer's address)."""

    type: Literal["paypal"]


PaymentMethodShown = Annotated[CardShown | PayPalShown, Field(discriminator="type")]


def payment_method_shown(display: dict[str, Any] | None, method_type: str | None) -> CardShown | PayPalShown | None:
    """The stored display of a payment method; a card's fields are null where it is not known
    (a method saved before its display was kept, or erased with the invoice's personal data)."""
    kind = (display or {}).get("type") or method_type
    if kind == "paypal":
        return PayPalShown(type="paypal")
    if kind != "card":
        return None
    shown = display or {}
    return CardShown(
        type="card",
        brand=shown.get("brand"),
        last4=_kept(shown.get("last4")),
        exp_month=_number(shown.get("exp_month")),
        exp_year=_number(shown.get("exp_year")),
    )


def _kept(value: Any) -> str | None:
    return value if isinstance(value, str) and value.isdigit() else None


def _number(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class PaymentDispute(BaseModel):
    """R-PAY-12: the latest dispute opened at the payment provider against a payment of the account."""

    id: str
    payment_intent: str
    amount: Money
    reason: str
    opened_at: str


class AccountView(BaseModel):
    id: str
    subdomain: str | None
    status: str
    plan: Plan
    billing_period: BillingPeriod
    lifetime: bool
    owner_id: str | None
    seats: Seats
    trial_ends_at: str | None
    voucher: VoucherInfo | None
    access: str
    created_at: str
    payment_method: PaymentMethodShown | None
    payment_dispute: PaymentDispute | None = None

    @classmethod
    def of(cls, item: Account) -> AccountView:
        included, used = int(item.included_seats), int(item.seats_used)
        # Users beyond the included seats hold extra seats, even while an included one is free.
        extra = used - min(int(item.included_seats_used), included)
        voucher = None
        if item.voucher_campaign_id and item.voucher_redeemed_at:
            voucher = VoucherInfo(
                campaign_id=item.voucher_campaign_id, redeemed_at=clock.to_iso(item.voucher_redeemed_at)
            )
        return cls(
            id=item.id,
            subdomain=item.subdomain,
            status=item.status,
            plan=item.plan,  # type: ignore[arg-type]  # stored from a validated Plan
            billing_period=item.billing_period,  # type: ignore[arg-type]
            lifetime=bool(item.lifetime),
            owner_id=item.owner_id,
            seats=Seats(included=included, used=used, extra=max(0, extra)),
            trial_ends_at=_iso(item.trial_ends_at),
            voucher=voucher,
            access=item.access_blocked_reason or "full",
            created_at=clock.to_iso(item.created_at),
            payment_method=(
                payment_method_shown(item.payment_method_display, item.payment_method_type)
                if item.has_payment_method
                else None
            ),
            payment_dispute=_dispute(item.payment_dispute),
        )


def _dispute(flag: dict[str, Any] | None) -> PaymentDispute | None:
    if not flag:
        return None
    return PaymentDispute(
        id=str(flag.get("id", "")),
        payment_intent=str(flag.get("payment_intent", "")),
        amount=Money(amount=int(flag.get("amount", 0)), currency=str(flag.get("currency") or "USD")),
        reason=str(flag.get("reason", "")),
        opened_at=str(flag.get("opened_at", "")),
    )


def _iso(instant: datetime | None) -> str | None:
    return clock.to_iso(instant) if instant is not None else None


def load(account_id: str) -> Account:
    """The account, or 404; an account marked for deletion is already gone for the API."""
    try:
        account = Account.get(account_id, consistent_read=True)
    except DoesNotExist as exc:
        raise NotFound("No such account") from exc
    return account


def get_for(principal: Principal, account_id: str, now: datetime) -> AccountView:
    """A member's (or staff's) view of the account; anyone else gets 404, never 403.
    R-USE-4: a support staff read is recorded in the account's audit log."""
    require_member(principal, account_id)
    account = load(account_id)
    audit.record_staff_access(principal, account_id, "account", now)
    return AccountView.of(account)
