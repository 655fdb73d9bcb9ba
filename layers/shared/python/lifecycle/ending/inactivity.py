"""Inactivity (R-TERM-6): warn every user after 4 weeks without activity, terminate after 8. The
``inactivity-sweep`` reads the sparse ``inactivity-due`` index; the warning is claimed once by a
conditional transaction (notices that do not fit in it are put after it under derived ids), and a dry
run lists what it would do and why. docs/ARCHITECTURE.md "Inactivity".
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, SerializerFunctionWrapHandler, model_serializer
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from lifecycle import notifications
from lifecycle.accounts import audit
from lifecycle.core import clock
from lifecycle.core.settings import Settings
from lifecycle.ending.staff_actions import termination_actions
from lifecycle.entry.sweeps import QueryDue, SweepRequest, SweepSummary, due_in, run_sweep
from lifecycle.storage import Account, AuditEvent, Notification, User
from lifecycle.storage import users as stored_users
from lifecycle.storage.accounts import ENDED, AccountStatus
from lifecycle.storage.base import put_if, update_if
from lifecycle.storage.transactions import Outcome, try_commit

SWEEP = "inactivity-sweep"
INACTIVITY = "inactivity"
PAGE_SIZE = 100
# 100 items per transaction: the account's update and the audit event, then the notices.
NOTICES_PER_TRANSACTION = 98
# A dry run's list stays well within a Lambda response; the counts go on past it.
WOULD_LIMIT = 1000
# The account's condition: failing, it moved on since it was read (an activity, a payment, another run).
_MOVED_ON = ("update:account",)

Step = Literal["warn", "finish_warning", "terminate", "reschedule", "exempt", "leave_index"]


class Planned(BaseModel):
    """What a dry run would do to one account, and why."""

    account_id: str
    action: Step
    why: str


class InactivitySummary(SweepSummary):
    would: list[Planned] | None = Field(default=None, description="dry runs only")

    @model_serializer(mode="wrap")
    def _would_only_in_dry_runs(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if self.would is None:
            data.pop("would", None)
        return data


# ---------------------------------------------------------------- the policy


def covered(account: Account, settings: Settings) -> bool:
    """R-TERM-6: the accounts the inactivity rule applies to (setting ``inactivity_policy``).

    ``unpaid``: all but a paid subscription in good standing (active, not a lifetime voucher
    account, a plan whose price is above 0, no failed charge). Staff's suspension pauses it
    under every policy: nobody can use a suspended account.
    """
    if account.status == AccountStatus.SUSPENDED or settings.inactivity_policy == "none":
        return False
    if settings.inactivity_policy == "all":
        return True
    price = settings.plan_prices.get(account.plan)  # type: ignore[call-overload]  # a stored Plan
    paid = price is not None and (price.monthly if account.billing_period == "monthly" else price.annual) > 0
    in_good_standing = (
        account.status == AccountStatus.ACTIVE and not account.lifetime and int(account.charge_attempts) == 0
    )
    return not (paid and in_good_standing)


def inactive_since(account: Account) -> datetime:
    """The last activity, or the creation when there was none."""
    return account.last_active_at or account.created_at


def delete_at(account: Account, warned_at: datetime, settings: Settings) -> datetime:
    """When a warned account is deleted: 8 weeks after the last activity, and never less than
    the difference of the settings (4 weeks) after the warning."""
    after_activity = inactive_since(account) + timedelta(days=settings.inactivity_termination_days)
    notice = timedelta(days=settings.inactivity_termination_days - settings.inactivity_warning_days)
    return max(after_activity, warned_at + notice)


def decide(account: Account, now: datetime, settings: Settings) -> tuple[Step, str]:
    """The step due for ``account`` now, and why (the dry run shows both)."""
    since = inactive_since(account)
    warning = timedelta(days=settings.inactivity_warning_days)
    if account.status in ENDED:
        return "leave_index", f"the account is {account.status}"
    if not covered(account, settings):
        why = (
            "suspended by staff"
            if account.status == AccountStatus.SUSPENDED
            else "a paid subscription in good standing"
        )
        return "exempt", f"not covered by the {settings.inactivity_policy!r} policy: {why}"
    warned_at = account.inactivity_warned_at
    if warned_at is None:
        if since <= now - warning:
            return "warn", f"no activity since {clock.to_iso(since)}"
        return "reschedule", f"active on {clock.to_iso(since)}"
    if account.inactivity_due_at == warned_at:
        return "finish_warning", f"warned on {clock.to_iso(warned_at)}; not every user's notice is saved yet"
    if since <= now - timedelta(days=settings.inactivity_termination_days):
        return "terminate", f"warned on {clock.to_iso(warned_at)}; no activity since {clock.to_iso(since)}"
    return "reschedule", f"warned on {clock.to_iso(warned_at)}; active on {clock.to_iso(since)}"


# ---------------------------------------------------------------- the sweep


def _due(now: datetime) -> QueryDue:
    return due_in(Account.inactivity_due, Account.inactivity_due_at <= now, PAGE_SIZE)


def _act(now: datetime, settings: Settings, would: list[Planned] | None) -> Callable[[Account], bool]:
    def act(due: Account) -> bool:
        """True when the account was warned or terminated; a rerun finds nothing more to do."""
        try:
            account = Account.get(due.id, consistent_read=True)
        except DoesNotExist:
            return False
        if account.inactivity_shard is None or account.inactivity_due_at is None or account.inactivity_due_at > now:
            return False  # moved on since the index was read
        step, why = decide(account, now, settings)
        if would is not None:
            if len(would) < WOULD_LIMIT:
                would.append(Planned(account_id=account.id, action=step, why=why))
            return False
        return STEPS[step](account, now, settings)

    return act


def sweep(
    request: SweepRequest, now: datetime, remaining_ms: Callable[[], int], settings: Settings
) -> InactivitySummary:
    """The ``inactivity-sweep`` schedule (R-TERM-6)."""
    would: list[Planned] | None = [] if request.dry_run else None
    summary = run_sweep(
        shards=settings.sweep_shards,
        query_due=_due(now),
        # A dry run still reads each account, to say what it would do; ``act`` writes nothing then.
        act=_act(now, settings, would),
        request=request.model_copy(update={"dry_run": False}),
        remaining_ms=remaining_ms,
        margin_ms=settings.sweep_time_margin_ms,
    )
    return InactivitySummary.model_validate({**summary.model_dump(), "would": would})


# ---------------------------------------------------------------- the steps


def _update_if(account: Account, actions: list[Action], condition: Condition) -> bool:
    return update_if(Account(account.id), actions, condition)


def _unchanged(account: Account) -> Condition:
    return Account.inactivity_due_at == account.inactivity_due_at


def _leave_index(account: Account, now: datetime, settings: Settings) -> bool:
    _update_if(
        account,
        [Account.inactivity_shard.remove(), Account.inactivity_due_at.remove()],
        _unchanged(account) & Account.status.is_in(*ENDED),
    )
    return False


def _exempt(account: Account, now: datetime, settings: Settings) -> bool:
    later = now + timedelta(days=settings.inactivity_warning_days)
    _update_if(
        account, [Account.inactivity_due_at.set(later), Account.inactivity_warned_at.remove()], _unchanged(account)
    )
    return False


def _reschedule(account: Account, now: datetime, settings: Settings) -> bool:
    since = inactive_since(account)
    if account.inactivity_warned_at is None:
        later = since + timedelta(days=settings.inactivity_warning_days)
    else:
        later = delete_at(account, account.inactivity_warned_at, settings)
    _update_if(account, [Account.inactivity_due_at.set(max(later, now))], _unchanged(account))
    return False


def _still_covered(account: Account) -> Condition:
    """What the decision read: due unchanged (no activity), same status and plan (coverage)."""
    condition: Condition = _unchanged(account) & (Account.status == account.status) & (Account.plan == account.plan)
    return condition


def warning_notice(account: Account, user: User, warned_at: datetime, settings: Settings) -> Notification:
    """A user's ``inactivity_warning``, under an id derived from the account, the warning and the
    user: saving it again (a rerun finishing a warning) finds it there and sends nothing."""
    notice = notifications.compose(
        account.id,
        "inactivity_warning",
        user.email,
        warned_at,
        subdomain=account.subdomain or account.id,
        last_active_at=inactive_since(account),
        delete_at=delete_at(account, warned_at, settings),
    )
    instant = warned_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    digest = hashlib.sha256(f"{account.id}|{instant}|{user.user_id}".encode()).hexdigest()
    notice.id = f"ntf_{digest[:20]}"
    notice.notification_key = f"{instant}#{notice.id}"
    return notice


def _users(account_id: str) -> list[User]:
    return [user for user in stored_users.of_account(account_id) if user.email]


def _warn(account: Account, now: datetime, settings: Settings) -> bool:
    """R-TERM-6: claim the warning with the notices of every user (the first batch, at least)."""
    warnings = [warning_notice(account, user, now, settings) for user in _users(account.id)]
    first, rest = warnings[:NOTICES_PER_TRANSACTION], warnings[NOTICES_PER_TRANSACTION:]
    deletion = delete_at(account, now, settings)
    event = audit.event(
        account.id,
        "inactivity_warning_sent",
        SWEEP,
        now,
        users=len(warnings),
        inactive_since=clock.to_iso(inactive_since(account)),
        delete_at=clock.to_iso(deletion),
    )

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        tx.update(
            Account(account.id),
            actions=[
                Account.inactivity_warned_at.set(now),
                # Kept due while notices remain to be saved (see the module's docstring).
                Account.inactivity_due_at.set(now if rest else deletion),
            ],
            condition=Account.inactivity_warned_at.does_not_exist() & _still_covered(account),
        )
        outcome.labels.append("update:account")
        outcome.put(tx, "audit", event, AuditEvent.event_key.does_not_exist())
        for index, notice in enumerate(first):
            outcome.put(tx, f"notice:{index}", notice, Notification.notification_key.does_not_exist())

    if try_commit(build, expected=_MOVED_ON):
        return False
    if rest:
        _save_the_rest(account, now, now, settings)
    return True


def _finish_warning(account: Account, now: datetime, settings: Settings) -> bool:
    """A warning claimed by a run that stopped before every user's notice was saved."""
    warned_at = account.inactivity_warned_at
    if warned_at is None:  # decided on a warned account
        return False
    return _save_the_rest(account, warned_at, now, settings)


def _save_the_rest(account: Account, warned_at: datetime, now: datetime, settings: Settings) -> bool:
    """Every user's notice of the warning claimed at ``warned_at`` that is not saved yet, in
    batches after the claim; then the account waits for its deletion date. True if that last
    step was this run's (an activity meanwhile withdrew the warning otherwise)."""
    for user in _users(account.id):
        _save_new(warning_notice(account, user, warned_at, settings))
    return _update_if(
        account,
        [Account.inactivity_due_at.set(delete_at(account, warned_at, settings))],
        (Account.inactivity_warned_at == warned_at) & (Account.inactivity_due_at == warned_at),
    )


def _save_new(item: Model) -> bool:
    # False: saved by the run that stopped; the unsent-notice retry sends it if need be.
    return put_if(item, Notification.notification_key.does_not_exist())


def _terminate(account: Account, now: datetime, settings: Settings) -> bool:
    """R-TERM-6: terminated for inactivity and queued for the purge; the warning was the notice."""
    warned_at = account.inactivity_warned_at
    if warned_at is None:  # decided on a warned account
        return False
    event = audit.event(
        account.id,
        "account_terminated",
        SWEEP,
        now,
        reason=INACTIVITY,
        warned_at=clock.to_iso(warned_at),
        inactive_since=clock.to_iso(inactive_since(account)),
    )

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        tx.update(
            Account(account.id),
            actions=termination_actions(account.id, now, INACTIVITY, settings),
            condition=(Account.inactivity_warned_at == warned_at) & _still_covered(account),
        )
        outcome.labels.append("update:account")
        outcome.put(tx, "audit", event, AuditEvent.event_key.does_not_exist())

    return not try_commit(build, expected=_MOVED_ON)


STEPS: dict[Step, Callable[[Account, datetime, Settings], bool]] = {
    "warn": _warn,
    "finish_warning": _finish_warning,
    "terminate": _terminate,
    "reschedule": _reschedule,
    "exempt": _exempt,
    "leave_index": _leave_index,
}
