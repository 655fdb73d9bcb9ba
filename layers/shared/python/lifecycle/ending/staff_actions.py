"""Staff suspend, reinstate and terminate an account (R-TERM-4, R-TERM-5, R-REG-4): each is one conditional
transaction holding the owner's warning (unless fraud is suspected), the change and its audit event with
staff's evidence; a termination leaves the charging indexes (R-TERM-1) and queues the purge.
docs/ARCHITECTURE.md "Staff suspend, reinstate, terminate".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from lifecycle import notifications
from lifecycle.accounts import accounts, audit, identities
from lifecycle.accounts.accounts import AccountView
from lifecycle.core import clock, errors, notices
from lifecycle.core.notices import NoticeType
from lifecycle.core.settings import Settings
from lifecycle.storage import Account, AuditEvent, Notification
from lifecycle.storage.accounts import ENDED, FULL_ACCESS, AccountStatus
from lifecycle.storage.base import shard_of
from lifecycle.storage.transactions import Outcome, commit, try_commit

StaffReason = Literal["non_payment", "terms_violation", "abuse", "fraud", "false_information", "fair_usage", "other"]
# R-TERM-5: suspected fraud or abuse is recorded with evidence.
EVIDENCE_REQUIRED = frozenset({"fraud", "abuse"})
# R-TERM-4: the owner is warned first unless fraud is suspected.
NOT_WARNED = "fraud"
# The warning is recorded this much before the change it announces, in the same transaction.
WARNING_LEAD = timedelta(microseconds=1)
# A suspension whose account changed status between the read and the write reads it again.
STATUS_RETRIES = 3


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: Annotated[str, Field(min_length=1, max_length=100, description="e.g. `chargeback`, `ip_match`, `report`")]
    description: Annotated[str, Field(min_length=1, max_length=2000)]
    reference: Annotated[str | None, Field(max_length=500, description="where staff find it: a ticket, a file")] = None


class StaffActionInput(BaseModel):
    """``POST /admin/accounts/{id}/suspend`` and ``…/terminate``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: StaffReason = Field(description="`false_information`: false registration data or impersonation (R-REG-4)")
    details: Annotated[str, Field(min_length=1, max_length=2000, description="staff only: never sent to the owner")]
    evidence: Annotated[
        list[Evidence],
        Field(max_length=50, validate_default=True, description="staff only; required for `fraud` and `abuse`"),
    ] = []

    @field_validator("evidence")
    @classmethod
    def _evidence_of_fraud_and_abuse(cls, value: list[Evidence], info: ValidationInfo) -> list[Evidence]:
        """R-TERM-5: suspected fraud or abuse is recorded with evidence for staff."""
        if info.data.get("reason") in EVIDENCE_REQUIRED and not value:
            raise ValueError("evidence is required when fraud or abuse is suspected (R-TERM-5)")
        return value


class ReinstateInput(BaseModel):
    """``POST /admin/accounts/{id}/reinstate``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Literal["resolved", "mistaken", "other"] = Field(description="why the suspension ends")
    details: Annotated[str, Field(min_length=1, max_length=2000, description="staff only: never sent to the owner")]


class NoticeRef(BaseModel):
    id: str
    type: str
    created_at: str


class StaffActionView(BaseModel):
    action: Literal["suspended", "reinstated", "terminated"]
    reason: str
    details: str
    evidence: list[Evidence]
    at: str
    notice: NoticeRef | None = Field(
        description="the owner's notice, recorded with the change; null when fraud is suspected (R-TERM-4)"
    )
    account: AccountView


class _StatusMoved(Exception):
    """The account's status changed between the read and the transaction; nothing was written."""


def _raise_moved(failed: list[str]) -> None:
    if "update:account" in failed:
        raise _StatusMoved


@dataclass(frozen=True)
class _Kind:
    action: Literal["suspended", "terminated"]
    warning: NoticeType
    when_fact: str
    change: Callable[[Account, datetime, str, Settings], tuple[list[Action], Condition]]


# ---------------------------------------------------------------- the changes


def _suspension(account: Account, at: datetime, reason: str, settings: Settings) -> tuple[list[Action], Condition]:
    actions: list[Action] = [
        Account.status.set(AccountStatus.SUSPENDED),
        Account.access_blocked_reason.set(AccountStatus.SUSPENDED),
        Account.status_before_suspension.set(account.status),
        Account.suspended_at.set(at),
        Account.status_reason.set(reason),
    ]
    # The status read is the one kept to return to: a change meanwhile is read again.
    return actions, Account.id.exists() & (Account.status == account.status)


def termination_actions(account_id: str, at: datetime, reason: str, settings: Settings) -> list[Action]:
    """An account ends by termination (staff's, or the inactivity sweep's): access ends, the
    purge procedure is queued (R-TERM-3), and it leaves every index a charging sweep or a
    price change reads (R-TERM-1: no further charges) and the inactivity sweep's."""
    return [
        Account.status.set(AccountStatus.TERMINATED),
        Account.access_blocked_reason.set(AccountStatus.TERMINATED),
        Account.status_reason.set(reason),
        Account.ended_at.set(at),
        Account.purge_after.set(at),
        Account.purge_shard.set(shard_of(account_id, settings.sweep_shards)),
        Account.trial_sweep.remove(),
        Account.billing_shard.remove(),
        Account.bill_due_at.remove(),
        Account.price_key.remove(),
        Account.inactivity_shard.remove(),
        Account.inactivity_due_at.remove(),
        Account.status_before_suspension.remove(),
    ]


def _termination(account: Account, at: datetime, reason: str, settings: Settings) -> tuple[list[Action], Condition]:
    return termination_actions(account.id, at, reason, settings), Account.id.exists() & ~Account.status.is_in(*ENDED)


SUSPEND = _Kind("suspended", "suspension_warning", "suspend_at", _suspension)
TERMINATE = _Kind("terminated", "termination_warning", "terminate_at", _termination)


# ---------------------------------------------------------------- suspend, terminate


def suspend(
    account_id: str, form: StaffActionInput, staff_id: str, now: datetime, settings: Settings
) -> StaffActionView:
    """R-TERM-4: 409 ``conflict`` if the account has ended or is suspended already."""
    for _ in range(STATUS_RETRIES):
        account = accounts.load(account_id)
        if account.status in ENDED:
            raise errors.Conflict(f"The account is {account.status}; it cannot be suspended")
        if account.status == AccountStatus.SUSPENDED:
            raise errors.Conflict("The account is already suspended")
        try:
            return _warn_and_change(account, form, SUSPEND, staff_id, now, settings)
        except _StatusMoved:
            continue
    raise errors.ServiceUnavailable("The account is changing; retry shortly")


def terminate(
    account_id: str, form: StaffActionInput, staff_id: str, now: datetime, settings: Settings
) -> StaffActionView:
    """R-TERM-4, R-REG-4: from any status that has not ended; 409 ``conflict`` otherwise."""
    account = accounts.load(account_id)
    _refuse_ended(account)
    try:
        return _warn_and_change(account, form, TERMINATE, staff_id, now, settings)
    except _StatusMoved:
        # Only an end meanwhile fails the condition: a concurrent termination or cancellation.
        _refuse_ended(accounts.load(account_id))
        raise errors.ServiceUnavailable("The account is changing; retry shortly") from None


def _refuse_ended(account: Account) -> None:
    if account.status == AccountStatus.TERMINATED:
        raise errors.Conflict("The account is already terminated")
    if account.status == AccountStatus.CANCELLED:
        raise errors.Conflict("The account's owner has cancelled it already")


def _warning(account: Account, form: StaffActionInput, kind: _Kind, now: datetime) -> Notification | None:
    """R-TERM-4: the owner's warning, unless fraud is suspected (or there is nobody to warn)."""
    if form.reason == NOT_WARNED or not account.owner_email:
        return None
    facts: dict[str, Any] = {kind.when_fact: now, "reason": notices.STAFF_ACTION_REASONS[form.reason]}
    return notifications.compose(
        account.id, kind.warning, account.owner_email, now, subdomain=account.subdomain or account.id, **facts
    )


def _evidence(details: str, evidence: list[Evidence]) -> dict[str, Any]:
    """R-TERM-5: what staff wrote and found, kept in the audit where only staff read it."""
    return {"details": details, "items": [item.model_dump() for item in evidence]}


def _warn_and_change(
    account: Account, form: StaffActionInput, kind: _Kind, staff_id: str, now: datetime, settings: Settings
) -> StaffActionView:
    warning = _warning(account, form, kind, now)
    at = now + WARNING_LEAD if warning is not None else now
    actions, condition = kind.change(account, at, form.reason, settings)
    facts: dict[str, Any] = {"reason": form.reason, "evidence": _evidence(form.details, form.evidence)}
    if warning is not None:
        facts["warning_notice_id"] = warning.id
    else:
        facts["warning_skipped"] = "fraud" if form.reason == NOT_WARNED else "no_owner_email"
    event = audit.event(account.id, f"account_{kind.action}", staff_id, at, **facts)
    # API.md "Sign-in": every user's sign-in ends with the access (refresh tokens revoked).
    signed_out, rest = identities.split(identities.of_account("disable", account.id, now))

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        identities.put(tx, outcome, signed_out)
        if warning is not None:
            outcome.put(tx, "notice", warning, Notification.notification_key.does_not_exist())
            sent = audit.event(
                account.id, f"{kind.warning}_sent", staff_id, now, notice_id=warning.id, reason=form.reason
            )
            outcome.put(tx, "warning_audit", sent, AuditEvent.event_key.does_not_exist())
        tx.update(Account(account.id), actions=actions, condition=condition)
        outcome.labels.append("update:account")
        outcome.put(tx, "audit", event, AuditEvent.event_key.does_not_exist())

    commit(build, _raise_moved)
    identities.save_rest(rest)
    identities.apply_now([*signed_out, *rest])
    account.status = account.access_blocked_reason = kind.action  # as ``kind.change`` wrote them
    return _view(kind.action, form.reason, form.details, form.evidence, at, warning, account)


# ---------------------------------------------------------------- reinstate


def reinstate(
    account_id: str, form: ReinstateInput, staff_id: str, now: datetime, settings: Settings
) -> StaffActionView:
    """R-TERM-4: a staff suspension ends; 409 ``conflict`` if the account is not suspended by staff
    (a revoked voucher's account, R-VOUCH-11, is not reinstated this way)."""
    account = accounts.load(account_id)
    back = account.status_before_suspension
    if account.status != AccountStatus.SUSPENDED or back is None:
        raise errors.Conflict("The account is not suspended by staff")
    actions: list[Action] = [
        Account.status.set(back),
        Account.access_blocked_reason.remove() if back in FULL_ACCESS else Account.access_blocked_reason.set(back),
        Account.status_before_suspension.remove(),
        Account.suspended_at.remove(),
        Account.status_reason.remove(),
        # R-TERM-6: nobody could use it while suspended, so the inactivity clock starts again.
        Account.inactivity_due_at.set(now + timedelta(days=settings.inactivity_warning_days)),
        Account.inactivity_warned_at.remove(),
    ]
    notice = None
    if account.owner_email:
        notice = notifications.compose(
            account.id,
            "account_reinstated",
            account.owner_email,
            now,
            subdomain=account.subdomain or account.id,
            reinstated_at=now,
        )
    event = audit.event(
        account.id,
        "account_reinstated",
        staff_id,
        now,
        reason=form.reason,
        status=back,
        evidence=_evidence(form.details, []),
    )
    # API.md "Sign-in": staff reinstatement restores every user's sign-in.
    enabled, rest = identities.split(identities.of_account("enable", account.id, now))

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        identities.put(tx, outcome, enabled)
        tx.update(
            Account(account.id),
            actions=actions,
            condition=(Account.status == AccountStatus.SUSPENDED) & (Account.status_before_suspension == back),
        )
        outcome.labels.append("update:account")
        outcome.put(tx, "audit", event, AuditEvent.event_key.does_not_exist())
        if notice is not None:
            outcome.put(tx, "notice", notice, Notification.notification_key.does_not_exist())

    if try_commit(build, expected=["update:account"]):
        raise errors.Conflict("The account is not suspended by staff any more")
    identities.save_rest(rest)
    identities.apply_now([*enabled, *rest])
    account.status = back
    account.access_blocked_reason = None if back in FULL_ACCESS else back  # as ``actions`` wrote them
    return _view("reinstated", form.reason, form.details, [], now, notice, account)


def _view(
    action: Literal["suspended", "reinstated", "terminated"],
    reason: str,
    details: str,
    evidence: list[Evidence],
    at: datetime,
    notice: Notification | None,
    account: Account,
) -> StaffActionView:
    """The answer, with ``account`` as the committed transaction left it: the read it was
    computed from, with the status and access it wrote (its condition held the status
    read); nothing else the view shows was written, so the account is not read again."""
    ref = None
    if notice is not None:
        ref = NoticeRef(id=notice.id, type=notice.type, created_at=clock.to_iso(notice.created_at))
    return StaffActionView(
        action=action,
        reason=reason,
        details=details,
        evidence=evidence,
        at=clock.to_iso(at),
        notice=ref,
        account=AccountView.of(account),
    )
