"""Activity: a login or use of the help desk (API.md "Activity", ``POST /accounts/{id}/sessions``). It stores
a session as shared-login evidence (R-USE-1), moves ``last_active_at`` and resets the inactivity clock
(R-TERM-6), and accepts a newly published terms version by continued use (R-TERMS-3).
docs/ARCHITECTURE.md "Inactivity".
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pynamodb.attributes import UTCDateTimeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from lifecycle.accounts import accounts, audit, terms
from lifecycle.core import clock, errors
from lifecycle.core.auth import Principal, Role, require_member
from lifecycle.core.settings import Settings
from lifecycle.storage import Account, Session, User
from lifecycle.storage.accounts import BLOCKED
from lifecycle.storage.base import shard_of, update_if
from lifecycle.storage.transactions import CONFLICT_RETRIES, backoff
from lifecycle.usage import shared_logins

# The members whose activity this is; staff access to an account is audited, not customer use.
MEMBER_ROLES: tuple[Role, ...] = ("owner", "admin", "agent")
CONTINUED_USE = "continued_use"
USER_AGENT_MAX = 512


class SessionInput(BaseModel):
    """``POST /accounts/{id}/sessions``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    device_id: Annotated[str, Field(min_length=1, max_length=200, description="the client's stable device id")]


class ActivityView(BaseModel):
    user_id: str
    device_id: str
    at: str
    terms_version: str = Field(description="the terms version the account has accepted, after this activity")


def record(
    account_id: str,
    principal: Principal,
    device_id: str,
    ip: str,
    user_agent: str,
    now: datetime,
    settings: Settings,
) -> ActivityView:
    """The caller's own activity on ``account_id``; R-TERMS-3: continued use accepts the
    current terms version. A blocked account answers 403 ``account_blocked``."""
    if principal.is_staff:
        raise errors.Forbidden("Staff access is not account activity")
    require_member(principal, account_id, MEMBER_ROLES)
    account = accounts.load(account_id)
    require_access(account)
    _save_session(account_id, principal.user_id, device_id, ip, user_agent, now, settings)
    # The account's last acceptance bounds how stale the cached current version may be.
    version = terms.current_version(now, fresh_after=account.terms_accepted_at)
    since = now - timedelta(seconds=settings.activity_write_interval_seconds)
    _touch(User(account_id, principal.user_id), User.last_active_at, User.user_id.exists(), now, since)
    _touch_account(
        account, principal.user_id, version, (ip, user_agent), now, since, _clock_reset(account, now, settings)
    )
    shared_logins.observe(account, principal.user_id, now, settings)
    return ActivityView(user_id=principal.user_id, device_id=device_id, at=clock.to_iso(now), terms_version=version)


def require_access(account: Account) -> None:
    """403 ``account_blocked`` unless the account's access is full (API.md ``access``)."""
    reason = account.access_blocked_reason or (account.status if account.status in BLOCKED else None)
    if reason is not None:
        raise errors.AccountBlocked(f"The account's access is blocked: {reason}", access=reason)


def _save_session(
    account_id: str, user_id: str, device_id: str, ip: str, user_agent: str, now: datetime, settings: Settings
) -> None:
    """One item per activity, a user's sorted by time, expired by TTL (network data)."""
    Session(
        account_id,
        f"{user_id}#{now.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{uuid.uuid4().hex}",
        user_id=user_id,
        device_id=device_id,
        ip=ip,
        user_agent=user_agent[:USER_AGENT_MAX],
        at=now,
        expires_at=now + timedelta(days=settings.session_retention_days),
    ).save()


def _update_if(item: Model, actions: list[Action], condition: Condition) -> bool:
    """One conditional update; False when the condition did not hold.

    An update meeting a transaction in flight on the same item (the inactivity sweep's
    warning, a staff action) is refused with a conflict and tried again: the activity must
    land, or the clock it resets (R-TERM-6) would not move.
    """
    for attempt in range(CONFLICT_RETRIES + 1):
        try:
            return update_if(item, actions, condition)
        except UpdateError as exc:
            if exc.cause_response_code != "TransactionConflictException" or attempt == CONFLICT_RETRIES:
                raise
            backoff(attempt)
    return False  # not reached: the last attempt returns or raises


def _touch(
    item: Model,
    last_active_at: UTCDateTimeAttribute,
    exists: Condition,
    now: datetime,
    since: datetime,
    also: list[Action] | None = None,
) -> None:
    """``last_active_at = now`` (and ``also``) unless it was written after ``since`` (or the item is gone)."""
    stale = last_active_at.does_not_exist() | (last_active_at <= since)
    _update_if(item, [last_active_at.set(now), *(also or [])], exists & stale)


def _clock_reset(account: Account, now: datetime, settings: Settings) -> list[Action]:
    """R-TERM-6: written with the account's ``last_active_at``. An account older than the
    inactivity index enters it (``if_not_exists`` keeps its shard otherwise)."""
    shard = shard_of(account.id, settings.sweep_shards)
    return [
        Account.inactivity_due_at.set(now + timedelta(days=settings.inactivity_warning_days)),
        Account.inactivity_warned_at.remove(),
        Account.inactivity_shard.set(Account.inactivity_shard | shard),
    ]


def _touch_account(
    account: Account,
    user_id: str,
    version: str,
    source: tuple[str, str],
    now: datetime,
    since: datetime,
    reset: list[Action],
) -> None:
    """The acceptance by continued use when the version changed (it moves ``last_active_at``
    too), else the throttled touch, skipped without a call when the read shows it recent.
    Either write resets the inactivity clock (``reset``)."""
    if account.terms_version != version and _accept_by_use(account, version, *source, now, reset):
        audit.event(account.id, "terms_accepted", user_id, now, version=version, how=CONTINUED_USE).save()
        return
    if account.last_active_at is None or account.last_active_at <= since:
        _touch(Account(account.id), Account.last_active_at, Account.id.exists(), now, since, reset)


def _accept_by_use(
    account: Account, version: str, ip: str, user_agent: str, now: datetime, reset: list[Action]
) -> bool:
    """R-TERMS-3: the first activity after a publication accepts ``version`` by continued
    use, with its time, IP and user agent. The condition that the account's version still
    differs makes concurrent activities record it exactly once; False for the others."""
    actions: list[Action] = [
        Account.terms_version.set(version),
        Account.terms_accepted_at.set(now),
        Account.terms_accepted_ip.set(ip),
        Account.terms_accepted_user_agent.set(user_agent[:USER_AGENT_MAX]),
        Account.terms_acceptance.set(CONTINUED_USE),
        Account.last_active_at.set(now),
        *reset,
    ]
    differs = Account.terms_version.does_not_exist() | (Account.terms_version != version)
    return _update_if(Account(account.id), actions, Account.id.exists() & differs)
