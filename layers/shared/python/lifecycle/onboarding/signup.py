"""Accounts come into being: trial signup (R-PAY-2), voucher redemption (R-VOUCH-1..5)
and a code applied to an existing account (R-VOUCH-4).

Each is one DynamoDB transaction: the account, its owner, the unique subdomain and
owner-email claims, the audit event, the welcome notice, the consents the form collected
(R-GDPR-1), the rate-limit counters (R-REG-2) and (for a voucher) the code's redemption and
its campaign's count commit together or not at all. Uniqueness and exactly-once are
conditions of that transaction, never a read-then-write. A redemption reads only the
voucher before it (issue 10: one read and one transaction on the main path).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from lifecycle import notifications
from lifecycle.accounts import audit, terms
from lifecycle.accounts.accounts import AccountView
from lifecycle.core import billing_periods, clock, errors
from lifecycle.core.observability import logger
from lifecycle.core.plans import BillingPeriod, Plan
from lifecycle.core.settings import Settings, get_settings
from lifecycle.privacy import consents
from lifecycle.privacy.privacy import Purpose
from lifecycle.registration import rate_limit, registration
from lifecycle.registration.human_check import check_human, verifier_for
from lifecycle.storage import Account, Campaign, Claim, Notification, User, Voucher
from lifecycle.storage.base import shard_of
from lifecycle.storage.claims import OWNER_EMAIL, SUBDOMAIN
from lifecycle.storage.transactions import Build, Outcome, commit, try_commit
from lifecycle.vouchers.vouchers import InvalidVoucherCode, code_hash, normalise_code

# ---------------------------------------------------------------- input


class Registrant(BaseModel):
    """The person and organisation registering (R-REG-1..3, R-TERMS-1..2, R-VOUCH-1)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    full_name: registration.LegalName
    email: registration.EmailAddress
    company_name: Annotated[str, Field(min_length=1, max_length=200)]
    birth_date: date
    accept_terms: bool
    authority_to_bind: bool = False
    human_token: Annotated[str, Field(min_length=1, max_length=4096, description="CAPTCHA token")]
    website: Annotated[str | None, Field(max_length=500, description="leave empty (bots fill it)")] = None
    subdomain: Annotated[str | None, Field(max_length=63, description="derived from company_name if absent")] = None
    # R-GDPR-1: only what the registrant ticked; nothing is pre-ticked, so absent means none.
    consents: list[Purpose] = Field(
        default_factory=list,
        max_length=3,
        description="R-GDPR-1: the purposes the registrant consents to (marketing, customer_service, profiling); "
        "none unless ticked",
    )

    @field_validator("birth_date")
    @classmethod
    def _born(cls, value: date) -> date:
        registration.age_on(value, registration.signup_date(clock.now()))  # refuses future dates
        return value

    @field_validator("subdomain")
    @classmethod
    def _subdomain(cls, value: str | None) -> str | None:
        return registration.validate_subdomain(value) if value is not None else None

    @field_validator("consents")
    @classmethod
    def _once_each(cls, value: list[Purpose]) -> list[Purpose]:
        if len(set(value)) != len(value):
            raise ValueError("each purpose may be given once")
        return value


class SignupInput(Registrant):
    """``POST /signups``: a trial of the chosen plan (R-PAY-2)."""

    plan: Plan
    billing_period: BillingPeriod = "monthly"


class RedemptionInput(Registrant):
    """``POST /redemptions``: a lifetime account from a voucher code."""

    code: Annotated[str, Field(min_length=1, max_length=100)]


class ApplyCodeInput(BaseModel):
    """``POST /accounts/{id}/redemptions``: a code for an account that has none (R-VOUCH-4)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: Annotated[str, Field(min_length=1, max_length=100)]


@dataclass(frozen=True)
class RequestMeta:
    """Where a request came from, as evidence of the terms acceptance (R-TERMS-1)."""

    ip: str
    user_agent: str


# ---------------------------------------------------------------- admission


def limits(form: Registrant, meta: RequestMeta, now: datetime, settings: Settings) -> rate_limit.Limits:
    """R-REG-2: the limits a registration counts against (per IP, per email); counted in
    its transaction, or by themselves when it is refused before (``counted_if_refused``)."""
    return rate_limit.signup_limits(meta.ip, form.email, settings, now)


def admit(form: Registrant, meta: RequestMeta, now: datetime, settings: Settings) -> None:
    """The checks before anything is written: the human check (R-REG-2), terms acceptance
    and authority to bind (R-TERMS-1, R-TERMS-2), age (R-REG-1)."""
    check_human(verifier_for(settings), form.human_token, meta.ip, form.website)
    if not form.accept_terms:
        raise errors.TermsNotAccepted("accept_terms must be true to register")
    if not form.authority_to_bind:
        raise errors.TermsNotAccepted(f"authority_to_bind must be true: you accept on behalf of {form.company_name!r}")
    if not registration.is_adult(form.birth_date, registration.signup_date(now), settings.minimum_age_years):
        raise errors.Underage(f"You must be at least {settings.minimum_age_years} to register")


def _subdomain(form: Registrant) -> str:
    if form.subdomain is not None:
        return form.subdomain
    try:
        return registration.subdomain_for(form.company_name)
    except registration.InvalidSubdomain as exc:
        raise errors.InvalidField("company_name", f"{exc}; give a subdomain explicitly") from exc


def _new_account(form: Registrant, meta: RequestMeta, now: datetime, settings: Settings) -> tuple[Account, User]:
    account_id, owner_id = f"acc_{uuid.uuid4().hex[:20]}", f"usr_{uuid.uuid4().hex[:20]}"
    account = Account(
        account_id,
        created_at=now,
        subdomain=_subdomain(form),
        company_name=form.company_name,
        owner_id=owner_id,
        owner_email=form.email,
        owner_email_canonical=registration.canonical_email(form.email),
        terms_version=terms.current_version(now),
        terms_accepted_at=now,
        terms_accepted_ip=meta.ip,
        terms_accepted_user_agent=meta.user_agent[:512],
        terms_acceptance="explicit",
        authority_to_bind=form.authority_to_bind,
        seats_used=1,
        # R-TERM-6: the inactivity sweep looks at it once it has gone unused for the warning period.
        inactivity_shard=shard_of(account_id, settings.sweep_shards),
        inactivity_due_at=now + timedelta(days=settings.inactivity_warning_days),
    )
    owner = User(account_id, owner_id, role="owner", full_name=form.full_name, email=form.email, created_at=now)
    return account, owner


# ---------------------------------------------------------------- the transaction


def _account_items(tx: TransactWrite, outcome: Outcome, account: Account, owner: User, event: Model) -> None:
    outcome.put(tx, "account", account, Account.id.does_not_exist())
    claim_at = account.created_at
    subdomain = Claim(SUBDOMAIN + str(account.subdomain), account_id=account.id, claimed_at=claim_at)
    outcome.put(tx, "subdomain", subdomain, Claim.claim.does_not_exist())
    email = Claim(OWNER_EMAIL + str(account.owner_email), account_id=account.id, claimed_at=claim_at)
    outcome.put(tx, "email", email, Claim.claim.does_not_exist())
    outcome.put(tx, "owner", owner, User.user_id.does_not_exist())
    outcome.put(tx, "audit", event, None)


def _welcome(account: Account, now: datetime) -> Notification:
    """API.md's ``welcome`` notice to the owner: saved in the account's own transaction (no
    account without its notice, no notice without its account), sent once it commits."""
    return notifications.compose(
        account.id, "welcome", str(account.owner_email), now, subdomain=account.subdomain, plan=account.plan
    )


def _put_welcome(tx: TransactWrite, outcome: Outcome, welcome: Notification) -> None:
    outcome.put(tx, "notice", welcome, Notification.notification_key.does_not_exist())


def _register(
    form: Registrant,
    meta: RequestMeta,
    now: datetime,
    settings: Settings,
    commit_account: Callable[[rate_limit.Limits], tuple[Account, Notification]],
) -> AccountView:
    """A registration's frame: ``commit_account`` counts the limits (R-REG-2) in its
    transaction, a refusal counts them by itself; the welcome is sent once it committed."""
    counted = limits(form, meta, now, settings)
    with counted.counted_if_refused():
        account, welcome = commit_account(counted)
    notifications.deliver(welcome, now, notifications.sender_for(settings))
    return AccountView.of(account)


def _claims_failed(account: Account, counted: rate_limit.Limits) -> Callable[[list[str]], None]:
    def raise_for(failed: list[str]) -> None:
        counted.raise_if_reached(failed)
        if "subdomain" in failed:
            slug = str(account.subdomain)
            suggestion = registration.suggest_subdomain(slug, _subdomain_taken)
            raise errors.SubdomainTaken(f"{slug!r} is taken; try {suggestion!r}", suggestion=suggestion)
        if "email" in failed:
            raise errors.EmailTaken("This email already owns an account; sign in instead")

    return raise_for


def _subdomain_taken(slug: str) -> bool:
    try:
        Claim.get(SUBDOMAIN + slug)
    except DoesNotExist:
        return False
    return True


# ---------------------------------------------------------------- trial signup


def sign_up(form: SignupInput, meta: RequestMeta, now: datetime, settings: Settings) -> AccountView:
    """R-PAY-2: a trial of ``settings.trial_days`` on the chosen plan, owned by the registrant."""
    return _register(form, meta, now, settings, lambda counted: _sign_up(form, meta, counted, now, settings))


def _sign_up(
    form: SignupInput, meta: RequestMeta, counted: rate_limit.Limits, now: datetime, settings: Settings
) -> tuple[Account, Notification]:
    admit(form, meta, now, settings)
    account, owner = _new_account(form, meta, now, settings)
    account.status = "trialing"
    account.plan = form.plan
    account.billing_period = form.billing_period
    account.trial_ends_at = now + timedelta(days=settings.trial_days)
    # Enters the trial sweep's index until a payment method is added (R-PAY-3).
    account.trial_sweep = shard_of(account.id, settings.sweep_shards)
    # R-PAY-9: a price change of this plan notifies this owner too.
    account.price_key = f"{form.plan}#{form.billing_period}"
    event = audit.event(account.id, "account_created", owner.user_id, now, via="trial_signup", plan=form.plan)
    welcome = _welcome(account, now)

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        counted.count_in(tx, outcome)
        _account_items(tx, outcome, account, owner, event)
        _put_welcome(tx, outcome, welcome)
        consents.record_given(tx, outcome, form.email, form.consents, "signup", account.id, now, settings)

    commit(build, _claims_failed(account, counted))
    return account, welcome


# ---------------------------------------------------------------- vouchers


def _voucher(raw_code: str, settings: Settings) -> tuple[str, Voucher]:
    try:
        hashed = code_hash(normalise_code(raw_code), settings.voucher_pepper)
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
    if now >= voucher.redeemable_until:
        raise errors.VoucherExpired("This code's campaign has ended")


def record_reuse_attempt(voucher: Voucher, now: datetime) -> None:
    """R-VOUCH-2: a second attempt is an abuse signal on the account that holds the code.

    Plain atomic ADDs, not a transaction: many losers of a race must not conflict
    with each other over the same two items.
    """
    if voucher.account_id:
        _add_if_exists(Account(voucher.account_id), Account.abuse_signals, Account.id)
        audit.event(voucher.account_id, "voucher_reuse_attempt", "anonymous", now).save()
    _add_if_exists(Campaign(voucher.campaign_id), Campaign.abuse_signals, Campaign.id)


def _add_if_exists(item: Model, counter: Any, key: Any) -> None:
    """ADD 1 to ``counter``, never creating a half item where the target is gone."""
    try:
        item.update(actions=[counter.add(1)], condition=key.exists())
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise


def _claim_voucher(tx: TransactWrite, outcome: Outcome, hashed: str, account_id: str, now: datetime) -> None:
    tx.update(
        Voucher(hashed),
        actions=[Voucher.redeemed_at.set(now), Voucher.account_id.set(account_id)],
        condition=(
            Voucher.code_hash.exists()
            & Voucher.redeemed_at.does_not_exist()
            & Voucher.revoked_at.does_not_exist()
            & (Voucher.redeemable_until > now)
        ),
    )
    outcome.labels.append("update:voucher")


def _count_redemption(tx: TransactWrite, outcome: Outcome, campaign_id: str, counted: bool) -> None:
    """The campaign's redeemed count, in the redemption's own transaction: counted after the
    commit, a throttled count was lost and the request answered 503 although the code was
    redeemed, so the client's retry read as a reuse of the code (R-VOUCH-2)."""
    if counted:
        tx.update(Campaign(campaign_id), actions=[Campaign.codes_redeemed.add(1)], condition=Campaign.id.exists())
        outcome.labels.append("update:campaign")


def _commit_counted(build_for: Callable[[bool], Build], on_failure: Callable[[list[str]], None]) -> None:
    """Commit a redemption with its campaign's count, unread: every code is made under an
    existing campaign (``campaigns.add_codes`` reads it), so reading it again on each
    redemption would only cost a round trip. Should the campaign item be gone all the same,
    the code is still honoured, uncounted (logged), rather than refused for our own gap."""
    failed = try_commit(build_for(True))
    if failed == ["update:campaign"]:
        logger.warning("redeemed a code whose campaign item is missing; not counted")
        failed = try_commit(build_for(False))
    if failed:
        on_failure(failed)
        # Only a random id colliding fails another condition; a retry draws new ones.
        raise errors.ServiceUnavailable("The account could not be recorded; retry shortly")


def _voucher_failed(hashed: str, now: datetime, then: Callable[[list[str]], None]) -> Callable[[list[str]], None]:
    def raise_for(failed: list[str]) -> None:
        if "update:voucher" in failed:
            # The read said redeemable; a concurrent redeemer won or the deadline passed.
            _check_redeemable(Voucher.get(hashed, consistent_read=True), now)
            raise errors.VoucherAlreadyRedeemed("This code has been redeemed already")
        then(failed)

    return raise_for


def _voucher_billing(now: datetime) -> tuple[datetime, datetime]:
    """R-VOUCH-6: a voucher account's extra seats are billed monthly in arrears, from now:
    (everything before ``now`` is billed, the billing run looks again at the period's end)."""
    return now, billing_periods.monthly_period(now, now).ends_at


def _apply_voucher_terms(account: Account, voucher: Voucher, hashed: str, now: datetime) -> None:
    """R-VOUCH-5: lifetime access for the package's seats on its plan, no subscription charge."""
    account.billed_through, account.bill_due_at = _voucher_billing(now)
    account.billing_anchor = now
    account.billing_shard = shard_of(account.id, get_settings().sweep_shards)
    account.price_key = None
    account.status = "active"
    account.lifetime = True
    account.plan = voucher.plan
    account.billing_period = "monthly"  # extra seats are billed monthly (R-VOUCH-6)
    account.included_seats = voucher.included_seats
    account.voucher_code_hash = hashed
    account.voucher_campaign_id = voucher.campaign_id
    account.voucher_redeemed_at = now


def redeem(form: RedemptionInput, meta: RequestMeta, now: datetime, settings: Settings) -> AccountView:
    """R-VOUCH-1..3, R-VOUCH-5: a new lifetime account from a code, exactly once ever.

    Round trips (issue 10): the voucher's read and one transaction, then the welcome's send
    and its "sent" mark. A code guessed wrong is refused after the read and still counts
    against the limits (R-REG-2), so guessing is limited like signing up."""
    return _register(form, meta, now, settings, lambda counted: _redeem(form, meta, counted, now, settings))


def _redeem(
    form: RedemptionInput, meta: RequestMeta, counted: rate_limit.Limits, now: datetime, settings: Settings
) -> tuple[Account, Notification]:
    admit(form, meta, now, settings)
    hashed, voucher = _voucher(form.code, settings)
    _check_redeemable(voucher, now)
    account, owner = _new_account(form, meta, now, settings)
    _apply_voucher_terms(account, voucher, hashed, now)
    event = audit.event(
        account.id, "account_created", owner.user_id, now, via="voucher", campaign_id=voucher.campaign_id
    )
    welcome = _welcome(account, now)

    def build_for(campaign_counted: bool) -> Build:
        def build(tx: TransactWrite, outcome: Outcome) -> None:
            counted.count_in(tx, outcome)
            _account_items(tx, outcome, account, owner, event)
            _put_welcome(tx, outcome, welcome)
            _claim_voucher(tx, outcome, hashed, account.id, now)
            _count_redemption(tx, outcome, voucher.campaign_id, campaign_counted)
            consents.record_given(tx, outcome, form.email, form.consents, "redemption", account.id, now, settings)

        return build

    _commit_counted(build_for, _voucher_failed(hashed, now, _claims_failed(account, counted)))
    return account, welcome


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
    _apply_voucher_terms(upgraded, voucher, hashed, now)

    def build_for(campaign_counted: bool) -> Build:
        def build(tx: TransactWrite, outcome: Outcome) -> None:
            tx.update(
                upgraded,
                actions=[
                    Account.status.set("active"),
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
            outcome.labels.append("update:account")
            _claim_voucher(tx, outcome, hashed, account.id, now)
            _count_redemption(tx, outcome, voucher.campaign_id, campaign_counted)
            outcome.put(tx, "audit", event, None)

        return build

    def on_failure(failed: list[str]) -> None:
        # A code applied concurrently to this account wins over anything the voucher says.
        if "update:account" in failed:
            raise errors.VoucherNotStackable("This account already has a voucher")
        _voucher_failed(hashed, now, lambda _: None)(failed)

    _commit_counted(build_for, on_failure)
    # The answer is the account as loaded with what the transaction set (its condition held,
    # so nothing else changed the voucher terms): no read back (issue 10).
    _apply_voucher_terms(account, voucher, hashed, now)
    account.access_blocked_reason = account.trial_sweep = account.trial_ends_at = None
    return AccountView.of(account)
