"""The identity port (API.md "Sign-in"): the people the service makes sign in at the stack's Cognito
user pool, and their identities follow the account's life. Each change (create, disable, enable,
delete, a new email) is recorded in the transaction of the state change it follows (``put``),
applied right after the commit (``apply_now``) and deleted once done; one the provider refused stays
pending for the ``identity-sync`` schedule (``sync``), which applies each user's changes oldest
first. With no pool configured (``IDENTITY_USER_POOL_ID`` empty: an external issuer signs people
in) the service manages no identities: nothing is recorded and every call is a no-op.

A password is never stored: it is used by the immediate create only; a create the sync applies
makes the person invited (a random password nobody knows; they set theirs with the provider's
forgot-password flow, as the service's own invitation notice says). Cognito's own emails are
never sent (``MessageAction=SUPPRESS``). docs/ARCHITECTURE.md "Sign-in".
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

from pynamodb.exceptions import DoesNotExist
from pynamodb.transactions import TransactWrite

from lifecycle.core.observability import logger
from lifecycle.core.settings import Settings, get_settings
from lifecycle.entry.sweeps import QueryDue, SweepRequest, SweepSummary, due_in, run_sweep
from lifecycle.storage import IdentityChange, User
from lifecycle.storage import users as stored_users
from lifecycle.storage.base import shard_of
from lifecycle.storage.transactions import Outcome

Action = Literal["create", "disable", "enable", "delete", "email"]
SWEEP = "identity-sync"
# The deletion certificate's ``processors`` entry for the identity provider's users.
IDENTITY_PROVIDER = "identity provider (Cognito)"
# A certificate's outcome for a deletion the provider has not confirmed yet: identity-sync applies it.
QUEUED = "deletion queued"
PAGE_SIZE = 100
# A change is synced once it has waited this long: a younger one may still be in the hands of
# the invocation that recorded it (its apply comes right after the commit).
SYNC_AFTER = timedelta(minutes=1)
# The provider's answers that mean the change can never apply as recorded: logged and dropped.
USER_GONE = "UserNotFoundException"
EMAIL_IN_USE = frozenset({"UsernameExistsException", "AliasExistsException"})


def managed(settings: Settings) -> bool:
    """Whether the service manages sign-in identities (a user pool is configured)."""
    return bool(settings.identity_user_pool_id)


# ---------------------------------------------------------------- the provider


class IdentityProvider:
    """Cognito's Admin APIs through boto3 (``cognito-idp``), on one user pool. Users are found by
    their email (the pool's username attribute)."""

    def __init__(self, user_pool_id: str, endpoint: str | None, region: str) -> None:
        self.user_pool_id = user_pool_id
        self.endpoint = endpoint
        self.region = region
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        # Made on first use, not on import: most invocations change no identity (cold start).
        with self._lock:
            if self._client is None:
                import boto3

                self._client = boto3.client("cognito-idp", endpoint_url=self.endpoint, region_name=self.region)
            return self._client

    def create(self, email: str, user_id: str, account_id: str, role: str, password: str | None) -> None:
        """The person, able to sign in with ``password``; without one, invited: a random password
        nobody knows, which they replace through the forgot-password flow. A person made by an
        earlier attempt of the same change is finished, not made twice."""
        attributes = [
            {"Name": "email", "Value": email},
            {"Name": "email_verified", "Value": "true"},
            {"Name": "custom:user_id", "Value": user_id},
            {"Name": "custom:account_id", "Value": account_id},
            {"Name": "custom:role", "Value": role},
        ]
        cognito = self.client()
        try:
            cognito.admin_create_user(
                UserPoolId=self.user_pool_id, Username=email, UserAttributes=attributes, MessageAction="SUPPRESS"
            )
        except cognito.exceptions.UsernameExistsException:
            found = cognito.admin_get_user(UserPoolId=self.user_pool_id, Username=email)
            held = {a["Name"]: a["Value"] for a in found.get("UserAttributes", [])}
            if held.get("custom:user_id") != user_id:
                raise
            if password is None and found.get("UserStatus") != "FORCE_CHANGE_PASSWORD":
                return  # made and given its password by an earlier attempt
        cognito.admin_set_user_password(
            UserPoolId=self.user_pool_id, Username=email, Password=password or _unknowable(), Permanent=True
        )

    def disable(self, email: str) -> None:
        """Sign-in refused, and every refresh token the person holds revoked."""
        cognito = self.client()
        cognito.admin_disable_user(UserPoolId=self.user_pool_id, Username=email)
        cognito.admin_user_global_sign_out(UserPoolId=self.user_pool_id, Username=email)

    def enable(self, email: str) -> None:
        self.client().admin_enable_user(UserPoolId=self.user_pool_id, Username=email)

    def delete(self, email: str) -> None:
        self.client().admin_delete_user(UserPoolId=self.user_pool_id, Username=email)

    def change_email(self, email: str, new_email: str) -> None:
        self.client().admin_update_user_attributes(
            UserPoolId=self.user_pool_id,
            Username=email,
            UserAttributes=[{"Name": "email", "Value": new_email}, {"Name": "email_verified", "Value": "true"}],
        )


def _unknowable() -> str:
    """A password nobody is told (an invited person sets theirs with forgot-password); every
    character class, so any pool policy accepts it."""
    return "Aa1!" + secrets.token_urlsafe(32)


@lru_cache(maxsize=4)
def _provider(user_pool_id: str, endpoint: str | None, region: str) -> IdentityProvider:
    return IdentityProvider(user_pool_id, endpoint, region)


def provider_for(settings: Settings) -> IdentityProvider | None:
    """The configured pool's provider; None when the service manages no identities."""
    if not managed(settings):
        return None
    return _provider(settings.identity_user_pool_id, settings.identity_endpoint, settings.region)


# ---------------------------------------------------------------- recording


def change(
    action: Action,
    user: User,
    now: datetime,
    *,
    new_email: str | None = None,
    settings: Settings | None = None,
    tag: str | None = None,
) -> IdentityChange | None:
    """The unsaved change of ``user``'s identity, for the caller's transaction (``put``); None
    when the service manages no identities. ``tag`` makes the id the same on every attempt (a
    purge resumed records its deletes once)."""
    settings = settings or get_settings()
    if not managed(settings):
        return None
    suffix = tag or f"{now.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{uuid.uuid4().hex[:12]}"
    return IdentityChange(
        f"{user.user_id}#{suffix}",
        user_id=user.user_id,
        account_id=user.account_id,
        action=action,
        email=str(user.email),
        new_email=new_email,
        role=str(user.role) if action == "create" else None,
        created_at=now,
        due_at=now,
        attempts=0,
        pending_shard=shard_of(user.user_id, settings.sweep_shards),
    )


def of_account(action: Action, account_id: str, now: datetime) -> list[IdentityChange]:
    """The same change for every user of the account (disable or enable all, on a status change)."""
    found = (change(action, user, now) for user in stored_users.of_account(account_id))
    return [one for one in found if one is not None]


def put(tx: TransactWrite, outcome: Outcome, changes: Iterable[IdentityChange | None]) -> None:
    """The changes in the caller's transaction (labels ``identity#<n>``)."""
    for index, one in enumerate(one for one in changes if one is not None):
        outcome.put(tx, f"identity#{index}", one, IdentityChange.id.does_not_exist())


# A transaction takes 100 items: an account's status change keeps room for its own items.
IN_TRANSACTION = 80


def split(changes: list[IdentityChange]) -> tuple[list[IdentityChange], list[IdentityChange]]:
    """The changes that go in the status change's transaction, and those of an account with more
    users than fit, saved by ``save_rest`` right after the commit (before any is applied)."""
    return changes[:IN_TRANSACTION], changes[IN_TRANSACTION:]


def save_rest(rest: list[IdentityChange]) -> None:
    """The changes that did not fit the transaction (``split``), saved in batches."""
    if not rest:
        return
    with IdentityChange.batch_write() as batch:
        for one in rest:
            batch.save(one)


# ---------------------------------------------------------------- applying


def _may_wait(one: IdentityChange) -> bool:
    """Whether ``one`` must wait behind an older change of its user. A create never does: it is
    the first change of a user id made in the same transaction (``User.user_id.does_not_exist()``),
    so no Query of the pending index is spent on it."""
    return one.action != "create" and _older_pending(one)


def _older_pending(one: IdentityChange) -> bool:
    """An older change of the same user still waits: this one must wait behind it."""
    older = IdentityChange.pending.query(
        str(one.pending_shard), IdentityChange.due_at < one.due_at, page_size=PAGE_SIZE
    )
    prefix = f"{one.user_id}#"
    return any(item.id.startswith(prefix) for item in older)


def _error_name(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if isinstance(code, str) and code:
            return code
    return type(exc).__name__


def _call(provider: IdentityProvider, one: IdentityChange, password: str | None) -> None:
    if one.action == "create":
        provider.create(one.email, one.user_id, one.account_id, str(one.role), password)
    elif one.action == "disable":
        provider.disable(one.email)
    elif one.action == "enable":
        provider.enable(one.email)
    elif one.action == "delete":
        provider.delete(one.email)
    elif one.action == "email":
        provider.change_email(one.email, str(one.new_email))
    else:
        raise ValueError(f"unknown identity change {one.action!r}")


def _extra(one: IdentityChange, **more: object) -> dict[str, object]:
    return {"identity_change_id": one.id, "account_id": one.account_id, "action": one.action, **more}


def apply(one: IdentityChange, provider: IdentityProvider, password: str | None = None) -> bool:
    """Tell the provider one change, then delete its record; True when done. A user already gone
    is done (nothing left to change); an address another person signs in with is logged and
    dropped (the pool holds one person per address). Any other failure keeps it pending."""
    try:
        _call(provider, one, password)
    except Exception as exc:
        name = _error_name(exc)
        if name == USER_GONE and one.action != "create":
            logger.info("identity already gone", extra=_extra(one))
        elif name in EMAIL_IN_USE:
            logger.warning("identity address in use by another person; change dropped", extra=_extra(one))
        else:
            logger.warning("identity change not applied; kept for identity-sync", extra=_extra(one, error=name))
            one.update(actions=[IdentityChange.attempts.add(1), IdentityChange.last_error.set(name)])
            return False
    one.delete()
    return True


def apply_now(changes: Iterable[IdentityChange | None], password: str | None = None) -> None:
    """After the commit: each recorded change, in order, unless an older one of its user still
    waits (then the sync applies them in order). ``password``: a create's, never stored. A
    failure never fails the caller: the change stays for ``identity-sync``."""
    provider = provider_for(get_settings())
    if provider is None:
        return
    stalled: set[str] = set()
    for one in changes:
        if one is None:
            continue
        try:
            if one.user_id in stalled or _may_wait(one) or not apply(one, provider, password):
                stalled.add(one.user_id)
        except Exception:
            logger.exception("identity change left for identity-sync", extra=_extra(one))
            stalled.add(one.user_id)


def delete_now(users: Iterable[User], now: datetime) -> bool:
    """R-TERM-3: the users' identities deleted (their records saved first, under ids a resumed
    purge reuses, so a failure leaves them for ``identity-sync``); True when none is left pending."""
    changes = [one for user in users if (one := change("delete", user, now, tag="deleted")) is not None]
    save_rest(changes)
    apply_now(changes)
    return not pending(changes)


def pending(changes: Iterable[IdentityChange]) -> list[str]:
    """The ids of ``changes`` still waiting (one consistent BatchGetItem per 100)."""
    ids = [one.id for one in changes]
    if not ids:
        return []
    return [one.id for one in IdentityChange.batch_get(ids, consistent_read=True)]


# ---------------------------------------------------------------- the sync


def _due(now: datetime) -> QueryDue:
    return due_in(IdentityChange.pending, IdentityChange.due_at <= now - SYNC_AFTER, PAGE_SIZE)


def _act(provider: IdentityProvider, stalled: set[str]) -> Callable[[IdentityChange], bool]:
    """Each due change as stored; one whose user's older change failed in this run waits (the
    index is ordered by time within the user's shard, so their changes come oldest first)."""

    def act(due: IdentityChange) -> bool:
        user_id = due.id.partition("#")[0]
        if user_id in stalled:
            return False
        try:
            one = IdentityChange.get(due.id, consistent_read=True)
        except DoesNotExist:
            return False  # applied meanwhile
        try:
            done = apply(one, provider)
        except Exception:
            stalled.add(user_id)
            raise
        if not done:
            stalled.add(user_id)
        return done

    return act


def sync(request: SweepRequest, now: datetime, remaining_ms: Callable[[], int], settings: Settings) -> SweepSummary:
    """The ``identity-sync`` schedule: the pending changes, oldest first per user, applied as
    ``apply`` does; ``changed`` counts those done. With no pool configured there is nothing."""
    provider = provider_for(settings)
    if provider is None:
        return SweepSummary()
    return run_sweep(
        shards=settings.sweep_shards,
        query_due=_due(now),
        act=_act(provider, set()),
        request=request,
        remaining_ms=remaining_ms,
        margin_ms=settings.sweep_time_margin_ms,
    )
