"""The users of an account and the seats they hold (R-USE-3, R-VOUCH-5..7, R-VOUCH-9): adding a user is one
transaction with a conditional ADD on the seat counters, so concurrent adds never pass the limit, and a
user beyond the included seats opens a billable seat interval. docs/ARCHITECTURE.md "Users and seats".
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from lifecycle import notifications
from lifecycle.accounts import accounts, audit, identities
from lifecycle.billing import credit
from lifecycle.core import clock, errors, notices
from lifecycle.core.auth import Principal, Role, require_member
from lifecycle.core.money import Money
from lifecycle.core.settings import Settings, get_settings
from lifecycle.registration import registration
from lifecycle.storage import Account, Claim, IdentityChange, Notification, SeatInterval, User
from lifecycle.storage import users as stored_users
from lifecycle.storage.accounts import BLOCKED
from lifecycle.storage.transactions import Outcome, commit
from lifecycle.usage.activity import require_access

# Who may add and remove users (API.md).
MANAGER_ROLES: tuple[Role, ...] = ("owner", "admin")
# A seat that moved across the included seats between the read and the commit is retried.
BOUNDARY_RETRIES = 5

NewRole = Literal["agent", "admin"]


class NewUser(BaseModel):
    """``POST /accounts/{id}/users``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    full_name: registration.LegalName
    email: registration.EmailAddress
    role: NewRole


class UserView(BaseModel):
    user_id: str
    full_name: str
    email: str
    role: str
    created_at: str
    billable: bool = Field(description="holds an extra seat beyond the included ones (R-VOUCH-6)")

    @classmethod
    def of(cls, item: User) -> UserView:
        return cls(
            user_id=item.user_id,
            full_name=item.full_name,
            email=item.email,
            role=item.role,
            created_at=clock.to_iso(item.created_at),
            billable=item.seat_interval_key is not None,
        )


class UserList(BaseModel):
    items: list[UserView]


class _SeatsMoved(Exception):
    """The counter crossed the included seats since it was read (or credit was bought
    meanwhile, see ``_take_seat``): decide billability again."""


# ---------------------------------------------------------------- checks


def require_manager(actor: Principal, account_id: str) -> None:
    """The account's owner or an admin (404 for other accounts, 403 for other roles).
    Support staff read accounts (R-USE-4) but do not change their users."""
    if actor.is_staff:
        raise errors.Forbidden("Support staff do not add or remove an account's users")
    require_member(actor, account_id, MANAGER_ROLES)


def seat_limit(account: Account, settings: Settings) -> int:
    """R-USE-3: the users the account may have: its own ``seat_limit``, else its plan's."""
    if account.seat_limit is not None:
        return int(account.seat_limit)
    limits: dict[str, int] = dict(settings.seat_limits)
    return limits.get(account.plan, min(limits.values()))


def _email_claim(account_id: str, email: str) -> str:
    return registration.user_email_claim(account_id, email)


# ---------------------------------------------------------------- adding


def add_user(account: Account, actor: Principal, form: NewUser, now: datetime) -> UserView:
    """R-USE-3: a user up to the seat limit (409 ``seat_limit_reached`` beyond it) on an
    account with full access (403 ``account_blocked``). R-VOUCH-5: seats up to the included
    ones (a voucher's owner plus one) cost nothing. R-VOUCH-6: a user beyond them opens a
    billable seat interval. R-VOUCH-7: and the owner is warned that the package's seats are
    exceeded. The response says ``billable``."""
    require_manager(actor, account.id)
    settings = get_settings()
    if account.owner_email is not None and form.email == account.owner_email:
        raise errors.UserExists("This email is the owner's")
    for _ in range(BOUNDARY_RETRIES):
        require_access(account)
        if int(account.seats_used) >= seat_limit(account, settings):
            raise errors.SeatLimitReached(f"The account's seat limit is {seat_limit(account, settings)} users")
        try:
            return _add(account, actor, form, now, settings)
        except _SeatsMoved:
            account = accounts.load(account.id)
    raise errors.ServiceUnavailable("Too many concurrent changes to this account's users; retry")


def _add(account: Account, actor: Principal, form: NewUser, now: datetime, settings: Settings) -> UserView:
    """One transaction; billable when no included seat is free at commit (the read only guesses)."""
    limit = seat_limit(account, settings)
    billable = int(account.included_seats_used) >= int(account.included_seats)
    user_id = f"usr_{uuid.uuid4().hex[:20]}"
    interval = _interval(account.id, user_id, now) if billable else None
    user = User(
        account.id,
        user_id,
        role=form.role,
        full_name=form.full_name,
        email=form.email,
        created_at=now,
        seat_interval_key=interval.interval_key if interval is not None else None,
    )
    claim = Claim(_email_claim(account.id, form.email), account_id=account.id, claimed_at=now)
    event = audit.event(
        account.id, "user_added", actor.user_id, now, user_id=user_id, role=form.role, billable=billable
    )
    notice = _extra_seat_warning(account, now, settings) if billable else None
    # API.md "Sign-in": the user's identity, invited; the invitation says how to set a password.
    identity = identities.change("create", user, now, settings=settings)
    invitation = _invitation(account, user, now)
    credit_free = credit.none_left(account)

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        outcome.put(tx, "user", user, User.user_id.does_not_exist())
        outcome.put(tx, "email", claim, Claim.claim.does_not_exist())
        outcome.put(tx, "audit", event, None)
        if interval is not None:
            outcome.put(tx, "interval", interval, SeatInterval.interval_key.does_not_exist())
        if notice is not None:
            outcome.put(tx, "notice", notice, Notification.notification_key.does_not_exist())
        outcome.put(tx, "invitation", invitation, Notification.notification_key.does_not_exist())
        identities.put(tx, outcome, [identity])
        _take_seat(tx, outcome, account.id, billable, limit, credit_free)

    commit(build, _add_failed(account.id, settings))
    identities.apply_now([identity])
    if not credit_free:
        credit.rebase(account.id, now, settings)  # R-CREDIT-1: the seats changed
    return UserView.of(user)


def _take_seat(
    tx: TransactWrite, outcome: Outcome, account_id: str, billable: bool, limit: int, credit_free: bool
) -> None:
    """R-USE-3: ADD 1 to ``seats_used`` while it is under ``limit``; an included seat also
    counts in ``included_seats_used``, and is taken only while one is free (R-VOUCH-5).
    ``credit_free`` (no credit when read): and still none at the commit, so there is no
    credit to rebase (R-CREDIT-1) and the account is not read again; credit bought
    meanwhile fails it, and the seat is taken again from a new read."""
    included_full = Account.included_seats_used >= Account.included_seats
    actions: list[Action] = [Account.seats_used.add(1)]
    if not billable:
        actions.append(Account.included_seats_used.add(1))
    seats = (included_full if billable else ~included_full) & (Account.seats_used < limit)
    condition = Account.id.exists() & _has_access() & seats
    if credit_free:
        condition &= credit.still_none_left()
    tx.update(Account(account_id), actions=actions, condition=condition)
    outcome.labels.append("update:account")


def _has_access() -> Condition:
    """The transaction's own check of ``require_access``: a block that lands first wins."""
    full: Condition = Account.access_blocked_reason.does_not_exist() & ~Account.status.is_in(*BLOCKED)
    return full


def _interval(account_id: str, user_id: str, now: datetime) -> SeatInterval:
    """R-VOUCH-6: an open, billable interval from ``now``."""
    key = f"{user_id}#{now.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}"
    return SeatInterval(account_id, key, user_id=user_id, start=now, end=None, billable=True)


def _invitation(account: Account, user: User, now: datetime) -> Notification:
    """API.md "Sign-in": the added user's invitation, saved with the user (never lost)."""
    return notifications.compose(
        account.id,
        "user_invited",
        str(user.email),
        now,
        subdomain=account.subdomain or account.id,
        role=str(user.role),
        sign_in=notices.INVITED.format(email=user.email),
    )


def _extra_seat_warning(account: Account, now: datetime, settings: Settings) -> Notification | None:
    """R-VOUCH-7: the owner's warning, saved with the user it tells of (never lost)."""
    if not account.owner_email:
        return None
    return notifications.compose(
        account.id,
        "extra_seat_warning",
        account.owner_email,
        now,
        subdomain=account.subdomain or account.id,
        seats_used=int(account.seats_used) + 1,
        included_seats=int(account.included_seats),
        seat_price=Money(amount=settings.extra_seat_price_cents),
    )


def _add_failed(account_id: str, settings: Settings) -> Callable[[list[str]], None]:
    """A failed condition, read again to tell the client why (the limit may have changed too)."""

    def raise_for(failed: list[str]) -> None:
        if "email" in failed:
            raise errors.UserExists("This email is already a user of the account")
        if "update:account" not in failed:
            raise errors.Conflict("The user could not be added; retry")
        current = accounts.load(account_id)
        require_access(current)
        limit = seat_limit(current, settings)
        if int(current.seats_used) >= limit:
            raise errors.SeatLimitReached(f"The account's seat limit is {limit} users")
        raise _SeatsMoved

    return raise_for


# ---------------------------------------------------------------- removing


def remove_user(account: Account, actor: Principal, user_id: str, now: datetime) -> None:
    """Remove a user and free its seat; the owner cannot be removed (409 ``cannot_remove_owner``).

    One transaction: the user (condition: still there, else 404), its email claim, the
    counter ADD -1, the close of its open seat interval (``end = now``, R-VOUCH-6) and the
    audit event. Allowed on a blocked account: removing extra users is how an owner stops
    their charges. Only the removed user's own interval closes (see the module docstring).
    """
    require_manager(actor, account.id)
    if user_id == account.owner_id:
        raise errors.CannotRemoveOwner("Transfer the ownership or cancel the account instead")
    try:
        user = User.get(account.id, user_id, consistent_read=True)
    except DoesNotExist as exc:
        raise errors.NotFound("No such user") from exc
    if user.role == "owner":
        raise errors.CannotRemoveOwner("Transfer the ownership or cancel the account instead")

    # API.md "Sign-in": a removed user's identity is deleted with it.
    gone = identities.change("delete", user, now)
    change = partial(removal, user, actor.user_id, now, identity=gone)
    if credit.committed_without_credit(account, lambda free: change(credit_free=free)):
        identities.apply_now([gone])
        return

    def raise_for(failed: list[str]) -> None:
        if "delete:user" in failed:
            raise errors.NotFound("No such user")  # removed concurrently
        raise errors.Conflict("The user could not be removed; retry")

    commit(change(), raise_for)
    identities.apply_now([gone])
    credit.rebase(account.id, now, get_settings())  # R-CREDIT-1: the seats changed


def removal(
    user: User,
    actor_id: str,
    now: datetime,
    *,
    credit_free: bool = False,
    identity: IdentityChange | None = None,
    **details: str,
) -> Callable[[TransactWrite, Outcome], None]:
    """The transaction that removes ``user`` (not the owner) and frees its seat, for
    ``remove_user`` and for the erasure of a data subject (R-GDPR-5, actor: the staff id),
    which adds its certificate's counts to it. Labels: ``delete:user`` fails when the user
    is gone already. ``details`` go on the ``user_removed`` event (no personal data). The
    caller commits it, then rebases the account's credit (R-CREDIT-1); with
    ``credit_free`` the account update also holds only while no credit is left
    (``credit.still_none_left``), and committed there is nothing to rebase. ``identity``: the
    deletion of the user's sign-in identity, recorded in the same transaction; the caller applies
    it after the commit (``identities.apply_now``)."""
    event = audit.event(
        user.account_id,
        "user_removed",
        actor_id,
        now,
        user_id=user.user_id,
        role=user.role,
        billable=bool(user.seat_interval_key),
        **details,
    )

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        still_there = User.user_id.exists() & (User.role != "owner")
        outcome.delete(tx, "user", User(user.account_id, user.user_id), still_there)
        outcome.delete(tx, "email", Claim(_email_claim(user.account_id, user.email)), None)
        outcome.put(tx, "audit", event, None)
        identities.put(tx, outcome, [identity])
        _free_seat(tx, outcome, user, now, credit_free)

    return build


def _free_seat(tx: TransactWrite, outcome: Outcome, user: User, now: datetime, credit_free: bool) -> None:
    """The counters ADD -1 (the owner's seat is never freed); an extra user's open interval
    ends now (R-VOUCH-6), an included user's seat becomes free for the next user."""
    freed: list[Action] = [Account.seats_used.add(-1)]
    if user.seat_interval_key is None:
        freed.append(Account.included_seats_used.add(-1))
    condition = Account.seats_used > 1
    if credit_free:
        condition &= credit.still_none_left()
    tx.update(Account(user.account_id), actions=freed, condition=condition)
    outcome.labels.append("update:account")
    if user.seat_interval_key is not None:
        tx.update(
            SeatInterval(user.account_id, user.seat_interval_key),
            actions=[SeatInterval.end.set(now)],
            condition=SeatInterval.interval_key.exists() & SeatInterval.end.does_not_exist(),
        )
        outcome.labels.append("update:interval")


# ---------------------------------------------------------------- listing


def list_for(principal: Principal, account_id: str, now: datetime) -> UserList:
    """``GET /accounts/{id}/users``: the account's users for any member, the owner first, then
    oldest first. A support staff read is recorded in the audit log (R-USE-4)."""
    require_member(principal, account_id)
    accounts.load(account_id)
    audit.record_staff_access(principal, account_id, "users", now)
    found = sorted(
        stored_users.of_account(account_id),
        key=lambda user: (user.role != "owner", user.created_at, user.user_id),
    )
    return UserList(items=[UserView.of(user) for user in found])
