"""Activity: a login or use of the help desk (API.md "Activity", ``POST /accounts/{id}/sessions``). It stores
a session as shared-login evidence (R-USE-1), moves ``last_active_at`` and resets the inactivity clock
(R-TERM-6), and accepts a newly published terms version by continued use (R-TERMS-3).
docs/ARCHITECTURE.md "Inactivity".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pynamodb.attributes import UTCDateTimeAttribute
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from lifecycle.accounts import audit, terms
from lifecycle.core import clock, errors
from lifecycle.core.auth import Principal, Role, require_member
from lifecycle.core.settings import Settings
from lifecycle.storage import Account, AuditEvent, Session, User
from lifecycle.storage.accounts import BLOCKED
from lifecycle.storage.base import shard_of
from lifecycle.storage.transactions import Build, Outcome, read_together, try_commit
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
    current terms version. A blocked account answers 403 ``account_blocked``.

    The account and the member are read together; the session, the member's and the
    account's activity (or the acceptance, with its audit event) are one transaction."""
    if principal.is_staff:
        raise errors.Forbidden("Staff access is not account activity")
    require_member(principal, account_id, MEMBER_ROLES)
    account, user = read_together((Account, account_id, None), (User, account_id, principal.user_id))
    if not isinstance(account, Account):
        raise errors.NotFound("No such account")
    require_access(account)
    # The account's last acceptance bounds how stale the cached current version may be.
    version = terms.current_version(now, fresh_after=account.terms_accepted_at)
    since = now - timedelta(seconds=settings.activity_write_interval_seconds)
    activity = _Activity(
        session=_session(account_id, principal.user_id, device_id, ip, user_agent, now, settings),
        user=user if isinstance(user, User) and _stale(user.last_active_at, since) else None,
        account=account,
        accept=account.terms_version != version,
        touch=_stale(account.last_active_at, since),
        version=version,
        source=(ip, user_agent),
        reset=_clock_reset(account, now, settings),
        event=audit.event(account_id, "terms_accepted", principal.user_id, now, version=version, how=CONTINUED_USE),
    )
    activity.commit(now, since)
    shared_logins.observe(account, principal.user_id, now, settings)
    return ActivityView(user_id=principal.user_id, device_id=device_id, at=clock.to_iso(now), terms_version=version)


def require_access(account: Account) -> None:
    """403 ``account_blocked`` unless the account's access is full (API.md ``access``)."""
    reason = account.access_blocked_reason or (account.status if account.status in BLOCKED else None)
    if reason is not None:
        raise errors.AccountBlocked(f"The account's access is blocked: {reason}", access=reason)


def _session(
    account_id: str, user_id: str, device_id: str, ip: str, user_agent: str, now: datetime, settings: Settings
) -> Session:
    """One item per activity, a user's sorted by time, expired by TTL (network data)."""
    return Session(
        account_id,
        f"{user_id}#{now.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{uuid.uuid4().hex}",
        user_id=user_id,
        device_id=device_id,
        ip=ip,
        user_agent=user_agent[:USER_AGENT_MAX],
        at=now,
        expires_at=now + timedelta(days=settings.session_retention_days),
    )


def _stale(last_active_at: datetime | None, since: datetime) -> bool:
    return last_active_at is None or last_active_at <= since


def _clock_reset(account: Account, now: datetime, settings: Settings) -> list[Action]:
    """R-TERM-6: written with the account's ``last_active_at``. An account older than the
    inactivity index enters it (``if_not_exists`` keeps its shard otherwise)."""
    shard = shard_of(account.id, settings.sweep_shards)
    return [
        Account.inactivity_due_at.set(now + timedelta(days=settings.inactivity_warning_days)),
        Account.inactivity_warned_at.remove(),
        Account.inactivity_shard.set(Account.inactivity_shard | shard),
    ]


@dataclass
class _Activity:
    """One activity's writes: the session always; the member's ``last_active_at`` when the read
    showed it stale; the acceptance by continued use when the version changed (R-TERMS-3, it
    moves ``last_active_at`` too), else the account's throttled touch when the read showed it
    stale. Either account write resets the inactivity clock (``reset``)."""

    session: Session
    user: User | None
    account: Account
    accept: bool
    touch: bool
    version: str
    source: tuple[str, str]
    reset: list[Action]
    event: AuditEvent

    def commit(self, now: datetime, since: datetime) -> None:
        """One transaction. A write whose condition failed was made by a concurrent activity
        meanwhile (the acceptance recorded once, a touch already recent): the transaction is
        tried again without it, an acceptance then giving way to the touch. The session
        carries no condition, so it is always written."""
        failed: list[str] = []
        for _ in range(len(_PARTS) + 1):  # each part fails at most once, then is left out
            failed = try_commit(self._build(now, since))
            if not failed:
                return
            if not set(failed) & set(_PARTS):
                break
            self.accept = self.accept and ACCEPT not in failed
            self.user = None if USER in failed else self.user
            self.touch = self.touch and ACCOUNT not in failed
        raise RuntimeError(f"the activity's writes failed on {failed}")

    def _build(self, now: datetime, since: datetime) -> Build:
        def build(tx: TransactWrite, outcome: Outcome) -> None:
            outcome.put(tx, "session", self.session, None)
            if self.user is not None:
                tx.update(
                    User(self.user.account_id, self.user.user_id),
                    actions=[User.last_active_at.set(now)],
                    condition=User.user_id.exists() & _stale_condition(User.last_active_at, since),
                )
                outcome.labels.append(USER)
            if self.accept:
                ip, user_agent = self.source
                differs = Account.terms_version.does_not_exist() | (Account.terms_version != self.version)
                tx.update(
                    Account(self.account.id),
                    actions=[
                        Account.terms_version.set(self.version),
                        Account.terms_accepted_at.set(now),
                        Account.terms_accepted_ip.set(ip),
                        Account.terms_accepted_user_agent.set(user_agent[:USER_AGENT_MAX]),
                        Account.terms_acceptance.set(CONTINUED_USE),
                        Account.last_active_at.set(now),
                        *self.reset,
                    ],
                    condition=Account.id.exists() & differs,
                )
                outcome.labels.append(ACCEPT)
                outcome.put(tx, "audit", self.event, AuditEvent.event_key.does_not_exist())
            elif self.touch:
                tx.update(
                    Account(self.account.id),
                    actions=[Account.last_active_at.set(now), *self.reset],
                    condition=Account.id.exists() & _stale_condition(Account.last_active_at, since),
                )
                outcome.labels.append(ACCOUNT)

        return build


USER, ACCEPT, ACCOUNT = "update:user", "update:acceptance", "update:account"
_PARTS = (USER, ACCEPT, ACCOUNT)


def _stale_condition(last_active_at: UTCDateTimeAttribute, since: datetime) -> Condition:
    """Not written after ``since``: concurrent activities within the interval write it once."""
    stale: Condition = last_active_at.does_not_exist() | (last_active_at <= since)
    return stale
