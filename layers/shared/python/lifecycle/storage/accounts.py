"""The Accounts table: one item per customer account."""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection

from lifecycle.storage.base import LeanModel


class AccountStatus(StrEnum):
    """An account's ``status`` (API.md "Account"); members are the strings stored and answered."""

    TRIALING = "trialing"
    ACTIVE = "active"
    TRIAL_EXPIRED = "trial_expired"
    PAYMENT_REQUIRED = "payment_required"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"
    TERMINATED = "terminated"


# The statuses the end of an account leaves: the owner cancelled (R-TERM-1) or staff
# terminated it (R-TERM-4). An account in these is not cancelled again.
ENDED = (AccountStatus.CANCELLED, AccountStatus.TERMINATED)
# A trial, running or expired without a payment method.
TRIAL = (AccountStatus.TRIALING, AccountStatus.TRIAL_EXPIRED)
# Statuses whose access is full; any other status is itself the reason access is blocked.
FULL_ACCESS = frozenset({AccountStatus.TRIALING, AccountStatus.ACTIVE})
# Statuses without access even where no reason is set (API.md "Account": ``access``).
BLOCKED = frozenset(
    {
        AccountStatus.SUSPENDED,
        AccountStatus.CANCELLED,
        AccountStatus.TERMINATED,
        AccountStatus.TRIAL_EXPIRED,
        AccountStatus.PAYMENT_REQUIRED,
    }
)


class TrialDueIndex(GlobalSecondaryIndex["Account"]):  # type: ignore[no-untyped-call]  # pynamodb
    """Sparse: only trialing accounts without a payment method carry ``trial_sweep``.

    The trial sweep (R-PAY-3) queries each shard for ``trial_ends_at <= now``.
    """

    class Meta:
        index_name = "trial-due"
        projection = KeysOnlyProjection()

    trial_sweep = UnicodeAttribute(hash_key=True)
    trial_ends_at = UTCDateTimeAttribute(range_key=True)


class OwnerEmailIndex(GlobalSecondaryIndex["Account"]):  # type: ignore[no-untyped-call]  # pynamodb
    """Accounts by their owner's canonical email: R-VOUCH-11 finds the same owner's other accounts."""

    class Meta:
        index_name = "by-owner-email"
        projection = KeysOnlyProjection()

    owner_email_canonical = UnicodeAttribute(hash_key=True)


class BillingDueIndex(GlobalSecondaryIndex["Account"]):  # type: ignore[no-untyped-call]  # pynamodb
    """Sparse: accounts the billing run must look at, by when (R-PAY-1, R-VOUCH-6/10).

    Subscriptions carry their period's end (billed in advance), voucher accounts their
    monthly period's end (extra seats billed in arrears), failed charges their next retry.
    Ended accounts leave it (R-TERM-1: no further charges).
    """

    class Meta:
        index_name = "billing-due"
        projection = KeysOnlyProjection()

    billing_shard = UnicodeAttribute(hash_key=True)
    bill_due_at = UTCDateTimeAttribute(range_key=True)


class PriceKeyIndex(GlobalSecondaryIndex["Account"]):  # type: ignore[no-untyped-call]  # pynamodb
    """Sparse: subscriptions (trials included) by "<plan>#<billing period>", the owners a
    price change of that plan must notify first (R-PAY-9)."""

    class Meta:
        index_name = "by-price"
        projection = KeysOnlyProjection()

    price_key = UnicodeAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)


class InactivityDueIndex(GlobalSecondaryIndex["Account"]):  # type: ignore[no-untyped-call]  # pynamodb
    """Sparse: accounts by when the inactivity sweep must next look at them (R-TERM-6).

    ``inactivity_due_at`` is the last activity (or creation) plus the warning threshold;
    after the warning, plus the termination threshold. Activity moves it forward.
    """

    class Meta:
        index_name = "inactivity-due"
        projection = KeysOnlyProjection()

    inactivity_shard = UnicodeAttribute(hash_key=True)
    inactivity_due_at = UTCDateTimeAttribute(range_key=True)


class PurgeDueIndex(GlobalSecondaryIndex["Account"]):  # type: ignore[no-untyped-call]  # pynamodb
    """Sparse: cancelled or terminated accounts waiting for the purge procedure (R-TERM-3)."""

    class Meta:
        index_name = "purge-due"
        projection = KeysOnlyProjection()

    purge_shard = UnicodeAttribute(hash_key=True)
    purge_after = UTCDateTimeAttribute(range_key=True)


class Account(LeanModel):
    class Meta:
        table_name = "accounts"

    id = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute()
    plan = UnicodeAttribute()
    billing_period = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    # None while access is full; otherwise the reason shown as ``access`` (API.md).
    access_blocked_reason = UnicodeAttribute(null=True)
    subdomain = UnicodeAttribute(null=True)
    company_name = UnicodeAttribute(null=True)
    owner_id = UnicodeAttribute(null=True)
    owner_email = UnicodeAttribute(null=True)
    owner_email_canonical = UnicodeAttribute(null=True)
    lifetime = BooleanAttribute(default=False)
    included_seats = NumberAttribute(default=1)
    # Users holding a seat (owner included); kept by conditional ADDs when users come and go.
    seats_used = NumberAttribute(default=1)
    # Users holding one of the included seats (owner included); the others hold extra seats
    # with a seat interval each (R-VOUCH-6). Kept by the same conditional ADDs.
    included_seats_used = NumberAttribute(default=1)
    # R-USE-3: staff's per-account seat limit; None means the plan's (setting ``seat_limits``).
    seat_limit = NumberAttribute(null=True)
    trial_ends_at = UTCDateTimeAttribute(null=True)
    trial_sweep = UnicodeAttribute(null=True)
    has_payment_method = BooleanAttribute(default=False)
    # The voucher applied to this account (R-VOUCH-4: at most one, ever).
    voucher_code_hash = UnicodeAttribute(null=True)
    voucher_campaign_id = UnicodeAttribute(null=True)
    voucher_redeemed_at = UTCDateTimeAttribute(null=True)
    # R-TERMS-1..3: the terms version accepted last, and how.
    terms_version = UnicodeAttribute(null=True)
    terms_accepted_at = UTCDateTimeAttribute(null=True)
    terms_accepted_ip = UnicodeAttribute(null=True)
    terms_accepted_user_agent = UnicodeAttribute(null=True)
    terms_acceptance = UnicodeAttribute(null=True)  # "explicit" or "continued_use"
    authority_to_bind = BooleanAttribute(default=False)
    # The last login or use of the help desk (API.md "Activity"; R-TERM-6).
    last_active_at = UTCDateTimeAttribute(null=True)
    # R-VOUCH-2: attempts to redeem this account's code again.
    abuse_signals = NumberAttribute(default=0)
    # R-FAIR-1: staff's per-account usage limits; None means the plan's (setting ``usage_limits``).
    usage_limit_tickets_per_month = NumberAttribute(null=True)
    usage_limit_storage_bytes = NumberAttribute(null=True)
    # Set when the account is due for deletion by the purge procedure (R-TERM-3, R-VOUCH-11).
    purge_after = UTCDateTimeAttribute(null=True)
    # Set with ``purge_after``: puts the account into the sparse ``purge-due`` index.
    purge_shard = UnicodeAttribute(null=True)
    # R-TERM-6: when the inactivity sweep looks next (see InactivityDueIndex), and the warning.
    inactivity_shard = UnicodeAttribute(null=True)
    inactivity_due_at = UTCDateTimeAttribute(null=True)
    inactivity_warned_at = UTCDateTimeAttribute(null=True)
    # R-TERM-4, R-TERM-5: staff's suspension or termination, and why.
    suspended_at = UTCDateTimeAttribute(null=True)
    status_reason = UnicodeAttribute(null=True)
    # The status to return to when staff reinstate a suspended account.
    status_before_suspension = UnicodeAttribute(null=True)
    ended_at = UTCDateTimeAttribute(null=True)

    # ---- billing (R-PAY-*, R-VOUCH-6..10, R-CREDIT-*)
    # Seats a subscription bills for (API.md "Subscription"); None on voucher accounts.
    seats = NumberAttribute(null=True)
    # "<plan>#<billing period>" while the account is a subscription that is not ended (by-price).
    price_key = UnicodeAttribute(null=True)
    # R-PAY-9 per owner: ids of price changes whose notice to this owner is recorded but not yet
    # sent, and "<change id>@<ISO instant>" for each sent (the notifier moves an id from one to
    # the other in one transaction). A change applies to the owner from the notice period after
    # its notice was sent (lifecycle.billing.pricing).
    price_notices_unsent = UnicodeSetAttribute(null=True)
    price_notices_sent = UnicodeSetAttribute(null=True)
    # Periods are anchored here (API.md "Billing periods"): a subscription's first paid instant,
    # a voucher account's creation.
    billing_anchor = UTCDateTimeAttribute(null=True)
    # The period a subscription has paid for, [period_start, period_end).
    period_start = UTCDateTimeAttribute(null=True)
    period_end = UTCDateTimeAttribute(null=True)
    # Voucher accounts: everything before this is invoiced (extra seats are billed in arrears).
    billed_through = UTCDateTimeAttribute(null=True)
    billing_shard = UnicodeAttribute(null=True)
    bill_due_at = UTCDateTimeAttribute(null=True)
    # The payment method: only the provider's references, never card data (R-PAY-12).
    payment_method_type = UnicodeAttribute(null=True)  # "card" or "paypal"
    payment_method_ref = UnicodeAttribute(null=True)
    # What the provider shows of the method (API.md "Account" ``payment_method``): {"type": "card",
    # "brand", "last4", "exp_month", "exp_year"} (not card data under PCI DSS) or {"type": "paypal"}.
    payment_method_display = JSONAttribute(null=True)
    payment_customer_id = UnicodeAttribute(null=True)
    # R-PAY-12: the latest dispute opened at the provider against a payment, for staff:
    # {id, payment_intent, amount, currency, reason, opened_at}.
    payment_dispute = JSONAttribute(null=True)
    # Failed charges of the invoice being collected; reset by a successful charge.
    charge_attempts = NumberAttribute(default=0)
    # R-PAY-8: a confirmed downgrade waiting for the next period.
    pending_plan = UnicodeAttribute(null=True)
    pending_seats = NumberAttribute(null=True)
    pending_billing_period = UnicodeAttribute(null=True)
    # R-PAY-13: the latest invoice, whose correction window is open for a while.
    last_invoice_id = UnicodeAttribute(null=True)
    last_invoice_at = UTCDateTimeAttribute(null=True)
    # R-CREDIT-1..2: prepaid credit in cents and until when it lasts at the current seats.
    credit_balance = NumberAttribute(default=0)
    credit_valid_until = UTCDateTimeAttribute(null=True)
    credit_updated_at = UTCDateTimeAttribute(null=True)
    # R-CREDIT-1: when the current run of credit began (bought with none left); not paid before.
    credit_since = UTCDateTimeAttribute(null=True)
    # R-PAY-1 with R-CREDIT-1: a subscription's current period as its renewal split it: the credit
    # pays [credit_pays_from, credit_pays_until), the card paid [credit_pays_until, period_end)
    # (the credit does not run down there); the time before credit_pays_from was settled by that
    # renewal's invoice. Absent on periods renewed before the split was kept.
    credit_pays_from = UTCDateTimeAttribute(null=True)
    credit_pays_until = UTCDateTimeAttribute(null=True)
    # R-PAY-9: price changes whose notice to this account is recorded but not yet sent (change
    # ids), and those sent ("<change id>@<ISO instant sent>"), stamped when the notice is marked sent.
    price_notices_unsent = UnicodeSetAttribute(null=True)
    price_notices_sent = UnicodeSetAttribute(null=True)

    trial_due = TrialDueIndex()
    billing_due = BillingDueIndex()
    by_price = PriceKeyIndex()
    inactivity_due = InactivityDueIndex()
    purge_due = PurgeDueIndex()
    by_owner_email = OwnerEmailIndex()


def keys_by_owner_email(canonical_email: str) -> Iterator[Account]:
    """Keys of the accounts owned by ``canonical_email`` (the ``by-owner-email`` index: eventually
    consistent, keys only; read each account again)."""
    return Account.by_owner_email.query(canonical_email)


def keys_by_price(price_key: str, page_size: int) -> Iterator[Account]:
    """Keys of the subscriptions of one price list ("<plan>#<billing period>"), page by page (the
    sparse ``by-price`` index: eventually consistent, keys only; read each account again)."""
    return Account.by_price.query(price_key, page_size=page_size)
