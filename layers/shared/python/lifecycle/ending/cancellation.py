"""Cancellation by the owner: "Stop account" (R-TERM-1) and by email (R-TERM-2, confirmed by staff, the
overdue escalated by the ``cancellation-sla-sweep``). One conditional transaction cancels, leaves the
charging indexes, queues the purge (R-TERM-3), settles prepaid credit and records the refund owed
(R-CREDIT-2; nothing else is refunded, R-PAY-7); a second cancel changes nothing.
docs/ARCHITECTURE.md "Cancellation".
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from pynamodb.exceptions import DoesNotExist
from pynamodb.transactions import TransactWrite

from lifecycle import notifications
from lifecycle.accounts import accounts, audit, identities
from lifecycle.billing import credit
from lifecycle.core import business_days, clock, errors, local_time
from lifecycle.core.auth import Principal, require_member
from lifecycle.core.money import Money
from lifecycle.core.settings import Settings, get_settings
from lifecycle.entry.sweeps import QueryDue, SweepRequest, SweepSummary, due_in, run_sweep
from lifecycle.storage import Account, AuditEvent, CancellationRequest, IdentityChange, Notification
from lifecycle.storage.accounts import ENDED, AccountStatus
from lifecycle.storage.base import apply_values, set_or_remove, shard_of
from lifecycle.storage.cancellation_requests import CONFIRMED, PENDING
from lifecycle.storage.transactions import Outcome, commit, try_commit

PAGE_SIZE = 100
SWEEP = "cancellation-sla-sweep"
# A cancel whose credit moved meanwhile (a purchase, a seat change) reads it again.
CREDIT_RETRIES = 5
# A confirmation whose request was escalated meanwhile (once at most) reads it again.
CONFIRM_RETRIES = 3


class CancelView(BaseModel):
    """``POST /accounts/{id}/cancel``: R-CREDIT-2's refund and fee, null without credit left."""

    status: Literal[AccountStatus.CANCELLED]
    refund: Money | None = None
    cancellation_fee: Money | None = None

    @classmethod
    def of(cls, left: credit.Leaving | None) -> CancelView:
        if left is None:
            return cls(status=AccountStatus.CANCELLED)
        return cls(status=AccountStatus.CANCELLED, refund=left.refund, cancellation_fee=left.cancellation_fee)


class CancellationRequestView(BaseModel):
    request_id: str
    account_id: str
    status: Literal["pending", "confirmed"]
    requested_at: str
    due_by: str
    escalated_at: str | None
    confirmed_at: str | None

    @classmethod
    def of(cls, item: CancellationRequest) -> CancellationRequestView:
        return cls(
            request_id=item.id,
            account_id=item.account_id,
            status=item.status,  # type: ignore[arg-type]  # written from the two statuses only
            requested_at=clock.to_iso(item.requested_at),
            due_by=clock.to_iso(item.due_by),
            escalated_at=clock.to_iso(item.escalated_at) if item.escalated_at is not None else None,
            confirmed_at=clock.to_iso(item.confirmed_at) if item.confirmed_at is not None else None,
        )


class _AccountEnded(Exception):
    """The account was cancelled (or terminated) already; nothing was written."""


class _CreditMoved(Exception):
    """The account's credit changed since it was read (a purchase or a seat change)."""


class _RequestMoved(Exception):
    """The cancellation request was confirmed or escalated since it was read; nothing was written."""


# ---------------------------------------------------------------- cancelling


def _require_owner(principal: Principal, account_id: str) -> None:
    if principal.is_staff:
        raise errors.Forbidden("Only the account's owner cancels it; staff confirm emailed requests")
    require_member(principal, account_id, roles=("owner",))


def stop(principal: Principal, account_id: str, now: datetime) -> CancelView:
    """R-TERM-1 "Stop account": effective at once; a second call answers the same."""
    _require_owner(principal, account_id)
    account = accounts.load(account_id)
    if account.status == AccountStatus.TERMINATED:
        raise errors.Conflict("Staff terminated this account already")
    if account.status not in ENDED:
        with contextlib.suppress(_AccountEnded):  # a concurrent cancel won; the answer is the same
            return CancelView.of(_cancel(account, principal.user_id, now, "profile"))
    # Cancelled before: pay what may still be owed (R-CREDIT-2) and answer as the first time.
    return CancelView.of(credit.refund_owed(account_id, get_settings()))


def _cancel(
    account: Account,
    actor: str,
    now: datetime,
    via: str,
    also: Callable[[TransactWrite, Outcome], None] | None = None,
    also_failed: Callable[[list[str]], None] | None = None,
) -> credit.Leaving | None:
    """One transaction: the account cancelled with its credit closed, its audit event, the
    owner's notice (then sent) and the refund owed (then paid, R-CREDIT-2)."""
    settings = get_settings()
    notice = None
    if account.owner_email:
        notice = notifications.compose(
            account.id,
            "cancellation_confirmed",
            account.owner_email,
            now,
            subdomain=account.subdomain or account.id,
            cancelled_at=now,
        )
    # API.md "Sign-in", R-TERM-1: access ends at once, so does every user's sign-in.
    signed_out, rest = identities.split(identities.of_account("disable", account.id, now))
    for _ in range(CREDIT_RETRIES):
        left = credit.leaving(account, now, settings)
        try:
            commit(_cancelling(account, actor, now, via, left, notice, also, signed_out), _cancel_failed(also_failed))
        except _CreditMoved:
            account = accounts.load(account.id)
            if account.status in ENDED:
                raise _AccountEnded from None
            continue
        break
    else:
        raise errors.ServiceUnavailable("Too many concurrent changes to this account; retry shortly")
    identities.save_rest(rest)
    identities.apply_now([*signed_out, *rest])
    return credit.refund_owed(account.id, settings) if left is not None else None


def _cancelling(
    account: Account,
    actor: str,
    now: datetime,
    via: str,
    left: credit.Leaving | None,
    notice: Notification | None,
    also: Callable[[TransactWrite, Outcome], None] | None,
    signed_out: list[IdentityChange],
) -> Callable[[TransactWrite, Outcome], None]:
    def build(tx: TransactWrite, outcome: Outcome) -> None:
        identities.put(tx, outcome, signed_out)
        credit_actions, credit_unchanged = credit.close(tx, outcome, account, now, left)
        tx.update(
            Account(account.id),
            actions=[
                Account.status.set(AccountStatus.CANCELLED),
                Account.access_blocked_reason.set(AccountStatus.CANCELLED),
                # Leaves every index a charging sweep or a price change reads (R-TERM-1: no
                # further charges): the trial sweep, the billing run, the price notices.
                Account.trial_sweep.remove(),
                Account.billing_shard.remove(),
                Account.bill_due_at.remove(),
                Account.price_key.remove(),
                # R-TERM-3: queued for the purge procedure at once.
                Account.purge_after.set(now),
                Account.purge_shard.set(shard_of(account.id, get_settings().sweep_shards)),  # the purge-due index
                *credit_actions,
            ],
            condition=Account.id.exists() & ~Account.status.is_in(*ENDED) & credit_unchanged,
        )
        outcome.labels.append("update:account")
        outcome.put(tx, "audit", _event(account.id, actor, now, via, left), AuditEvent.event_key.does_not_exist())
        if notice is not None:
            outcome.put(tx, "notice", notice, Notification.notification_key.does_not_exist())
        if also is not None:
            also(tx, outcome)

    return build


def _cancel_failed(also_failed: Callable[[list[str]], None] | None) -> Callable[[list[str]], None]:
    def on_failure(failed: list[str]) -> None:
        if also_failed is not None:
            also_failed(failed)
        if "update:account" in failed or "credit_refund" in failed:
            # Ended meanwhile, or its credit moved: the caller reads it again to tell which.
            raise _CreditMoved

    return on_failure


def _event(account_id: str, actor: str, now: datetime, via: str, left: credit.Leaving | None) -> AuditEvent:
    """The cancellation's audit event; R-CREDIT-2's refund and fee as amounts only."""
    details: dict[str, Any] = {"via": via, "purge_after": clock.to_iso(now)}
    if left is not None:
        details.update(
            refund=left.refund.amount, cancellation_fee=left.cancellation_fee.amount, currency=left.refund.currency
        )
    return audit.event(account_id, "account_cancelled", actor, now, **details)


# ---------------------------------------------------------------- by email (R-TERM-2)


def due_by(now: datetime, settings: Settings) -> datetime:
    """R-TERM-2: the end of the first business day of the vendor's calendar after the local day
    of ``now`` (``business_time_zone``), as UTC: the last microsecond before the next local day
    begins. The request is overdue once ``now > due_by``, i.e. from 00:00 local of the day after
    (the SLA sweep's ``due_by < now``); API.md shows it to the second (``…:59:59Z``)."""
    day = business_days.next_business_day(now, settings)
    return local_time.day_end(day, local_time.zone(settings.business_time_zone)) - timedelta(microseconds=1)


def request(principal: Principal, account_id: str, now: datetime) -> CancellationRequestView:
    """R-TERM-2: the owner's cancellation as received by email, pending until staff confirm it."""
    _require_owner(principal, account_id)
    accounts.load(account_id)
    settings = get_settings()
    request_id = f"ccr_{uuid.uuid4().hex[:20]}"
    item = CancellationRequest(
        request_id,
        account_id=account_id,
        status=PENDING,
        requested_at=now,
        requested_by=principal.user_id,
        due_by=due_by(now, settings),
        sla_sweep=shard_of(request_id, settings.sweep_shards),
    )

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        outcome.put(tx, "request", item, CancellationRequest.id.does_not_exist())
        event = audit.event(account_id, "cancellation_requested", principal.user_id, now, request_id=request_id)
        outcome.put(tx, "audit", event, AuditEvent.event_key.does_not_exist())

    commit(build, _id_taken)
    return CancellationRequestView.of(item)


def _id_taken(failed: list[str]) -> None:
    # Only a random id colliding fails the condition; a retry draws another.
    raise errors.ServiceUnavailable("The request could not be recorded; retry shortly")


def confirm(request_id: str, staff_id: str, now: datetime) -> CancellationRequestView:
    """R-TERM-2: staff confirm an emailed cancellation; the account is cancelled as in R-TERM-1,
    in the same transaction. A request confirmed already is 409 ``already_confirmed``."""
    pending = _load_request(request_id)
    if pending.status != PENDING:
        credit.refund_owed(pending.account_id, get_settings())  # a refund an earlier confirm left owed
        raise errors.AlreadyConfirmed()
    for _ in range(CONFIRM_RETRIES):
        try:
            _confirm(pending, staff_id, now)
        except _RequestMoved:
            pending = _load_request(request_id)
            if pending.status != PENDING:
                raise errors.AlreadyConfirmed() from None  # a concurrent confirmation won
            continue  # escalated meanwhile (once at most): confirmed from the new read
        return CancellationRequestView.of(pending)
    raise errors.ServiceUnavailable("The request is changing; retry shortly")


def _confirm(pending: CancellationRequest, staff_id: str, now: datetime) -> None:
    """The confirmation, with the cancellation unless the account has ended; ``pending`` is
    then as stored: its condition held the request as read (still pending, not escalated
    meanwhile), so the answer is not read again."""
    written: dict[str, Any] = {"status": CONFIRMED, "confirmed_at": now, "confirmed_by": staff_id, "sla_sweep": None}
    actions = set_or_remove(CancellationRequest, written)
    escalated = pending.escalated_at
    unchanged = (CancellationRequest.status == PENDING) & (
        CancellationRequest.escalated_at.does_not_exist()
        if escalated is None
        else CancellationRequest.escalated_at == escalated
    )

    def mark(tx: TransactWrite, outcome: Outcome) -> None:
        tx.update(CancellationRequest(pending.id), actions, condition=unchanged)
        outcome.labels.append("update:request")

    def on_failure(failed: list[str]) -> None:
        if "update:request" in failed:
            raise _RequestMoved

    account = accounts.load(pending.account_id)
    try:
        if account.status in ENDED:
            raise _AccountEnded
        _cancel(account, staff_id, now, "email", also=mark, also_failed=on_failure)
    except _AccountEnded:
        # The owner stopped the account meanwhile: only the request is confirmed.
        commit(mark, on_failure)
    apply_values(pending, written)


def _load_request(request_id: str) -> CancellationRequest:
    try:
        return CancellationRequest.get(request_id, consistent_read=True)
    except DoesNotExist as exc:
        raise errors.NotFound("No such cancellation request") from exc


# ---------------------------------------------------------------- the SLA sweep


def _overdue(now: datetime) -> QueryDue:
    return due_in(CancellationRequest.sla_due, CancellationRequest.due_by < now, PAGE_SIZE)


def _escalate(now: datetime, settings: Settings) -> Callable[[CancellationRequest], bool]:
    def act(due: CancellationRequest) -> bool:
        """R-TERM-2: staff notified and the escalation audited, once: the condition (still pending,
        still in the index) makes a rerun or a concurrent confirmation a no-op."""
        item = CancellationRequest.get(due.id, consistent_read=True)
        notice = notifications.compose(
            item.account_id,
            "cancellation_overdue",
            settings.staff_email,
            now,
            request_id=item.id,
            account=item.account_id,
            requested_at=item.requested_at,
            due_by=item.due_by,
        )

        def build(tx: TransactWrite, outcome: Outcome) -> None:
            tx.update(
                CancellationRequest(item.id),
                actions=[CancellationRequest.escalated_at.set(now), CancellationRequest.sla_sweep.remove()],
                condition=(CancellationRequest.status == PENDING) & CancellationRequest.sla_sweep.exists(),
            )
            outcome.labels.append("update:request")
            event = audit.event(item.account_id, "cancellation_escalated", SWEEP, now, request_id=item.id)
            outcome.put(tx, "audit", event, AuditEvent.event_key.does_not_exist())
            outcome.put(tx, "notice", notice, Notification.notification_key.does_not_exist())

        # Nothing is written when the request was confirmed or escalated meanwhile.
        return not try_commit(build, expected=["update:request"])

    return act


def escalate_overdue(
    request: SweepRequest, now: datetime, remaining_ms: Callable[[], int], settings: Settings
) -> SweepSummary:
    """The ``cancellation-sla-sweep`` schedule (R-TERM-2)."""
    return run_sweep(
        shards=settings.sweep_shards,
        query_due=_overdue(now),
        act=_escalate(now, settings),
        request=request,
        remaining_ms=remaining_ms,
        margin_ms=settings.sweep_time_margin_ms,
    )
