"""Voucher redemption: a new lifetime account from a code (R-VOUCH-1..3, R-VOUCH-5) and a
code applied to an existing account (R-VOUCH-4). Each reads the code, checks it, then
commits one transaction (the code's redemption and the account) and turns the labels of its
failed conditions into the client's error. Exactly once is that transaction's condition; the
read is for clear errors (one read, one transaction). No item shared by the campaign is
written: its counts come from the Vouchers table's stream (lifecycle.vouchers.counters).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, NoReturn

from pydantic import BaseModel, ConfigDict, Field
from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from lifecycle.accounts import audit, identities
from lifecycle.accounts.accounts import AccountView
from lifecycle.core import billing_periods, errors, secrets
from lifecycle.core.settings import Settings
from lifecycle.onboarding import signup
from lifecycle.onboarding.signup import Registrant, RequestMeta
from lifecycle.privacy import consents
from lifecycle.storage import Account, Voucher
from lifecycle.storage.accounts import AccountStatus
from lifecycle.storage.base import shard_of, update_if
from lifecycle.storage.transactions import Outcome, try_commit
from lifecycle.vouchers.campaigns import redeemable, still_redeemable
from lifecycle.vouchers.vouchers import InvalidVoucherCode, code_hash, normalise_code

# The labels of the code's and the account's updates in a redemption's transaction.
VOUCHER = "update:voucher"
ACCOUNT = "update:account"


class RedemptionInput(Registrant):
    """``POST /redemptions``: a lifetime account from a voucher code."""

    code: Annotated[str, Field(min_length=1, max_length=100)]


class ApplyCodeInput(BaseModel):
    """``POST /accounts/{id}/redemptions``: a code for an account that has none (R-VOUCH-4)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: Annotated[str, Field(min_length=1, max_length=100)]


# ---------------------------------------------------------------- a new account


def redeem(form: RedemptionInput, meta: RequestMeta, now: datetime, settings: Settings) -> AccountView:
    """R-VOUCH-1..3, R-VOUCH-5: a new lifetime account from a code, exactly once ever.

    Round trips: the voucher's read and one transaction, then the welcome's send
    and its "sent" mark. A code guessed wrong is refused after the read and still counts
    against the limits (R-REG-2), so guessing is limited like signing up."""
    counted = signup.limits(form, meta, now, settings)
    with counted.counted_if_refused():
        signup.admit(form, meta, now, settings)
        hashed, voucher = _voucher(form.code, settings)
        _check_redeemable(voucher, now)
        account, owner = signup.new_account(form, meta, now, settings)
        _apply_voucher_terms(account, voucher, hashed, now, settings)
        event = audit.event(
            account.id, "account_created", owner.user_id, now, via="voucher", campaign_id=voucher.campaign_id
        )
        notice = signup.welcome(account, now, invited=form.password is None)
        identity = signup.owner_identity(owner, now)

        def build(tx: TransactWrite, outcome: Outcome) -> None:
            counted.count_in(tx, outcome)
            signup.put_account(tx, outcome, account, owner, event, notice, identity)
            _claim_voucher(tx, outcome, hashed, account.id, now)
            consents.record_given(tx, outcome, form.email, form.consents, "redemption", account.id, now, settings)

        failed = try_commit(build)
        if VOUCHER in failed:
            _raise_lost(hashed, now)
        counted.raise_if_reached(failed)
        signup.raise_if_taken(account, failed)
        _raise_if_failed(failed)
    identities.apply_now([identity], signup.password_of(form))
    return AccountView.of(account)


# ---------------------------------------------------------------- an existing account


def apply_code(account: Account, form: ApplyCodeInput, actor: str, now: datetime, settings: Settings) -> AccountView:
    """R-VOUCH-4: one code per account; a trial becomes a lifetime account.

    A second code fails the account's condition, so the transaction also leaves the
    rejected code unredeemed.
    """
    if account.voucher_code_hash is not None:
        raise errors.VoucherNotStackable("This account already has a voucher")
    hashed, voucher = _voucher(form.code, settings)
    _check_redeemable(voucher, now)
    event = audit.event(account.id, "voucher_applied", actor, now, campaign_id=voucher.campaign_id)
    upgraded = Account(account.id)
    _apply_voucher_terms(upgraded, voucher, hashed, now, settings)

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        tx.update(
            upgraded,
            actions=[
                Account.status.set(AccountStatus.ACTIVE),
                Account.lifetime.set(True),
                Account.plan.set(voucher.plan),
                Account.billing_period.set("monthly"),
                Account.included_seats.set(voucher.included_seats),
                Account.voucher_code_hash.set(hashed),
                Account.voucher_campaign_id.set(voucher.campaign_id),
                Account.voucher_redeemed_at.set(now),
                Account.access_blocked_reason.remove(),
                Account.trial_sweep.remove(),
                Account.trial_ends_at.remove(),
                # No subscription any more (R-VOUCH-5): extra seats are billed in arrears from now.
                Account.price_key.remove(),
                Account.billing_anchor.set(upgraded.billing_anchor),
                Account.billed_through.set(upgraded.billed_through),
                Account.billing_shard.set(upgraded.billing_shard),
                Account.bill_due_at.set(upgraded.bill_due_at),
            ],
            condition=Account.id.exists() & Account.voucher_code_hash.does_not_exist(),
        )
        outcome.labels.append(ACCOUNT)
        _claim_voucher(tx, outcome, hashed, account.id, now)
        outcome.put(tx, "audit", event, None)

    failed = try_commit(build)
    # A code applied concurrently to this account wins over anything the voucher says.
    if ACCOUNT in failed:
        raise errors.VoucherNotStackable("This account already has a voucher")
    if VOUCHER in failed:
        _raise_lost(hashed, now)
    _raise_if_failed(failed)
    # The answer is the account as loaded with what the transaction set (its condition held,
    # so nothing else changed the voucher terms): no read back.
    _apply_voucher_terms(account, voucher, hashed, now, settings)
    account.access_blocked_reason = account.trial_sweep = account.trial_ends_at = None
    return AccountView.of(account)


# ---------------------------------------------------------------- the code


def _voucher(raw_code: str, settings: Settings) -> tuple[str, Voucher]:
    try:
        hashed = code_hash(normalise_code(raw_code), secrets.voucher_pepper(settings))
    except InvalidVoucherCode as exc:
        raise errors.VoucherNotFound("No such voucher code") from exc
    try:
        return hashed, Voucher.get(hashed, consistent_read=True)
    except DoesNotExist as exc:
        raise errors.VoucherNotFound("No such voucher code") from exc


def _check_redeemable(voucher: Voucher, now: datetime) -> None:
    """R-VOUCH-3 and R-VOUCH-2, as far as a read can tell; the transaction re-checks."""
    if voucher.revoked_at is not None:
        raise errors.VoucherRevoked("This code was revoked")
    if voucher.redeemed_at is not None:
        record_reuse_attempt(voucher, now)
        raise errors.VoucherAlreadyRedeemed("This code has been redeemed already")
    if not redeemable(voucher, now):
        raise errors.VoucherExpired("This code's campaign has ended")


def _raise_lost(hashed: str, now: datetime) -> NoReturn:
    """The code's condition failed although the read said redeemable: a concurrent redeemer
    won, or it was revoked or its deadline passed in between (read again to tell which)."""
    _check_redeemable(Voucher.get(hashed, consistent_read=True), now)
    raise errors.VoucherAlreadyRedeemed("This code has been redeemed already")


def record_reuse_attempt(voucher: Voucher, now: datetime) -> None:
    """R-VOUCH-2: a second attempt is an abuse signal on the account that holds the code.

    Plain atomic ADDs, not a transaction: many losers of a race must not conflict
    with each other over the same two items. The code's own ``reuse_attempts`` is what
    its campaign's abuse signals are counted from (off this path, from the table's stream).
    """
    if voucher.account_id:
        _add_if_exists(Account(voucher.account_id), Account.abuse_signals, Account.id)
        audit.event(voucher.account_id, "voucher_reuse_attempt", "anonymous", now).save()
    _add_if_exists(Voucher(voucher.code_hash), Voucher.reuse_attempts, Voucher.code_hash)


def _add_if_exists(item: Model, counter: Any, key: Any) -> None:
    """ADD 1 to ``counter``, never creating a half item where the target is gone."""
    update_if(item, [counter.add(1)], key.exists())  # False: the target is gone, nothing to count on


# ---------------------------------------------------------------- the transaction


def _claim_voucher(tx: TransactWrite, outcome: Outcome, hashed: str, account_id: str, now: datetime) -> None:
    tx.update(
        Voucher(hashed),
        actions=[Voucher.redeemed_at.set(now), Voucher.account_id.set(account_id)],
        condition=(
            Voucher.code_hash.exists()
            & Voucher.redeemed_at.does_not_exist()
            & Voucher.revoked_at.does_not_exist()
            & still_redeemable(now)
        ),
    )
    outcome.labels.append(VOUCHER)


def _raise_if_failed(failed: list[str]) -> None:
    # Only a random id colliding fails another condition; a retry draws new ones.
    if failed:
        raise errors.ServiceUnavailable("The account could not be recorded; retry shortly")


# ---------------------------------------------------------------- the account's terms


def _voucher_billing(now: datetime) -> tuple[datetime, datetime]:
    """R-VOUCH-6: a voucher account's extra seats are billed monthly in arrears, from now:
    (everything before ``now`` is billed, the billing run looks again at the period's end)."""
    return now, billing_periods.monthly_period(now, now).ends_at


def _apply_voucher_terms(account: Account, voucher: Voucher, hashed: str, now: datetime, settings: Settings) -> None:
    """R-VOUCH-5: lifetime access for the package's seats on its plan, no subscription charge."""
    account.billed_through, account.bill_due_at = _voucher_billing(now)
    account.billing_anchor = now
    account.billing_shard = shard_of(account.id, settings.sweep_shards)
    account.price_key = None
    account.status = AccountStatus.ACTIVE
    account.lifetime = True
    account.plan = voucher.plan
    account.billing_period = "monthly"  # extra seats are billed monthly (R-VOUCH-6)
    account.included_seats = voucher.included_seats
    account.voucher_code_hash = hashed
    account.voucher_campaign_id = voucher.campaign_id
    account.voucher_redeemed_at = now
