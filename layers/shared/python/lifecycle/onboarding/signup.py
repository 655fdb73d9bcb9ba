"""Trial signup (R-PAY-2) and what every registration shares: its input, the checks before
anything is written, the new account with its owner, claims and welcome notice, and the
refusals of a taken subdomain or email. Voucher redemption, the other registration, is
``lifecycle.onboarding.redemption``. One DynamoDB transaction per registration; uniqueness
is its conditions, never a read-then-write.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from lifecycle import notifications
from lifecycle.accounts import audit, identities, terms
from lifecycle.accounts.accounts import AccountView
from lifecycle.core import clock, errors, notices
from lifecycle.core.plans import BillingPeriod, Plan
from lifecycle.core.settings import Settings
from lifecycle.privacy import consents
from lifecycle.privacy.privacy import Purpose
from lifecycle.registration import rate_limit, registration
from lifecycle.registration.human_check import check_human, verifier_for
from lifecycle.storage import Account, Claim, IdentityChange, Notification, User
from lifecycle.storage.accounts import AccountStatus
from lifecycle.storage.base import shard_of
from lifecycle.storage.claims import SUBDOMAIN
from lifecycle.storage.transactions import Outcome, try_commit

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
    # API.md "Sign-in": the owner's password at the identity provider; never stored or logged
    # (SecretStr). Without one, the welcome notice invites them to set it.
    password: Annotated[
        SecretStr | None,
        Field(
            min_length=12,
            max_length=256,
            description="the owner's sign-in password (12 to 256 characters); without one the welcome "
            "notice says how to set it",
        ),
    ] = None
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


def new_account(form: Registrant, meta: RequestMeta, now: datetime, settings: Settings) -> tuple[Account, User]:
    """The registrant's account (terms accepted now, R-TERMS-1) and its owner, unsaved; the
    caller sets how it is paid for (a trial, a voucher)."""
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


# ---------------------------------------------------------------- the account's items

# The labels of the claims whose failure refuses a registration (``raise_if_taken``).
TAKEN = ("subdomain", "email")


def put_account(
    tx: TransactWrite,
    outcome: Outcome,
    account: Account,
    owner: User,
    event: Model,
    notice: Notification,
    identity: IdentityChange | None = None,
) -> None:
    """The new account's items in the registration's transaction: the account, its subdomain
    and owner-email claims (labels ``TAKEN``), its owner, the audit event, the welcome and the
    owner's sign-in identity to create (API.md "Sign-in")."""
    outcome.put(tx, "account", account, Account.id.does_not_exist())
    claim_at = account.created_at
    subdomain = Claim(SUBDOMAIN + str(account.subdomain), account_id=account.id, claimed_at=claim_at)
    outcome.put(tx, "subdomain", subdomain, Claim.claim.does_not_exist())
    email = Claim(registration.owner_email_claim(str(account.owner_email)), account_id=account.id, claimed_at=claim_at)
    outcome.put(tx, "email", email, Claim.claim.does_not_exist())
    outcome.put(tx, "owner", owner, User.user_id.does_not_exist())
    outcome.put(tx, "audit", event, None)
    outcome.put(tx, "notice", notice, Notification.notification_key.does_not_exist())
    identities.put(tx, outcome, [identity])


def welcome(account: Account, now: datetime, invited: bool = True) -> Notification:
    """API.md's ``welcome`` notice to the owner: saved in the account's own transaction (no
    account without its notice, no notice without its account), sent once it commits. An owner
    who gave no password is told how to set one (``invited``)."""
    sign_in = notices.INVITED if invited else notices.SIGN_IN
    return notifications.compose(
        account.id,
        "welcome",
        str(account.owner_email),
        now,
        subdomain=account.subdomain,
        plan=account.plan,
        sign_in=sign_in.format(email=account.owner_email),
    )


def owner_identity(owner: User, now: datetime) -> IdentityChange | None:
    """The owner's sign-in identity to create with the account (API.md "Sign-in")."""
    return identities.change("create", owner, now)


def password_of(form: Registrant) -> str | None:
    return form.password.get_secret_value() if form.password is not None else None


def raise_if_taken(account: Account, failed: list[str]) -> None:
    """After a cancelled registration: 409 if its subdomain (with a free suggestion) or its
    owner email was claimed already."""
    if "subdomain" in failed:
        slug = str(account.subdomain)
        suggestion = registration.suggest_subdomain(slug, _subdomain_taken)
        raise errors.SubdomainTaken(f"{slug!r} is taken; try {suggestion!r}", suggestion=suggestion)
    if "email" in failed:
        raise errors.EmailTaken("This email already owns an account; sign in instead")


def _subdomain_taken(slug: str) -> bool:
    try:
        Claim.get(SUBDOMAIN + slug)
    except DoesNotExist:
        return False
    return True


# ---------------------------------------------------------------- trial signup


def sign_up(form: SignupInput, meta: RequestMeta, now: datetime, settings: Settings) -> AccountView:
    """R-PAY-2: a trial of ``settings.trial_days`` on the chosen plan, owned by the registrant.

    The limits (R-REG-2) are counted in the transaction; a refusal counts them by itself."""
    counted = limits(form, meta, now, settings)
    with counted.counted_if_refused():
        admit(form, meta, now, settings)
        account, owner = new_account(form, meta, now, settings)
        account.status = AccountStatus.TRIALING
        account.plan = form.plan
        account.billing_period = form.billing_period
        account.trial_ends_at = now + timedelta(days=settings.trial_days)
        # Enters the trial sweep's index until a payment method is added (R-PAY-3).
        account.trial_sweep = shard_of(account.id, settings.sweep_shards)
        # R-PAY-9: a price change of this plan notifies this owner too.
        account.price_key = f"{form.plan}#{form.billing_period}"
        event = audit.event(account.id, "account_created", owner.user_id, now, via="trial_signup", plan=form.plan)
        notice = welcome(account, now, invited=form.password is None)
        identity = owner_identity(owner, now)

        def build(tx: TransactWrite, outcome: Outcome) -> None:
            counted.count_in(tx, outcome)
            put_account(tx, outcome, account, owner, event, notice, identity)
            consents.record_given(tx, outcome, form.email, form.consents, "signup", account.id, now, settings)

        # Any other failed condition (a random id colliding) is raised as is, or retried
        # when the attempt also conflicted with a concurrent transaction.
        failed = try_commit(build, expected=[*(limit.label for limit in counted.items), *TAKEN])
        if failed:
            counted.raise_if_reached(failed)
            raise_if_taken(account, failed)
    identities.apply_now([identity], password_of(form))
    return AccountView.of(account)
