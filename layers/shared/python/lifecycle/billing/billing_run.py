"""The ``billing-run`` schedule (R-PAY-1, R-PAY-11, R-PAY-12, R-VOUCH-8, R-VOUCH-10, R-TERM-1): a sweep of
the sparse ``billing-due`` index that bills each due account (``bills``), retries declined charges until
``payment_required`` (at once when a charge needs the card holder's authentication) and takes ended
accounts out of the index. docs/ARCHITECTURE.md "The billing run".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from lifecycle import notifications
from lifecycle.accounts import audit
from lifecycle.billing import bills
from lifecycle.core.billing_periods import monthly_period, period_of
from lifecycle.core.errors import (
    BillingDetailsRequired,
    PaymentMethodRequired,
    PaymentProcessing,
)
from lifecycle.core.money import Money
from lifecycle.core.notices import NoticeType
from lifecycle.core.observability import logger
from lifecycle.core.settings import Settings
from lifecycle.entry.sweeps import QueryDue, SweepRequest, SweepSummary, due_in, run_sweep
from lifecycle.storage import (
    Account,
    AuditEvent,
    Notification,
)
from lifecycle.storage.accounts import ENDED, AccountStatus
from lifecycle.storage.base import apply_values, set_or_remove, update_if
from lifecycle.storage.transactions import Outcome, try_commit

PAGE_SIZE = 50
# The operation a billing run's charge confirmed later finishes: the account is collected again.
COLLECT = "collect"


def run(request: SweepRequest, now: datetime, remaining_ms: Callable[[], int], settings: Settings) -> SweepSummary:
    """The ``billing-run`` schedule."""
    return run_sweep(
        shards=settings.sweep_shards,
        query_due=_due(now),
        act=_act(now, settings),
        request=request,
        remaining_ms=remaining_ms,
        margin_ms=settings.sweep_time_margin_ms,
    )


def _due(now: datetime) -> QueryDue:
    return due_in(Account.billing_due, Account.bill_due_at <= now, PAGE_SIZE)


def _act(now: datetime, settings: Settings) -> Callable[[Account], bool]:
    def act(due: Account) -> bool:
        try:
            account = Account.get(due.id, consistent_read=True)
        except DoesNotExist:
            return False
        if account.bill_due_at is None or account.bill_due_at > now:
            return False  # billed meanwhile: the index entry was stale
        if account.status in ENDED:
            return _leave_index(account)
        if account.status == AccountStatus.PAYMENT_REQUIRED:
            return _hold(account, now)
        if account.status != AccountStatus.ACTIVE:
            return False  # suspended: billed once reinstated
        return _collect(account, now, settings)

    return act


def collect(account: Account, now: datetime, settings: Settings) -> bool:
    """One account's turn of the run, now, as the run would take it (due, not ended, active):
    the webhook of a charge the run made that was processing (R-PAY-12). A decline the run
    recorded already moved the account's due time on, so it is not charged again here."""
    return _act(now, settings)(account)


def _collect(account: Account, now: datetime, settings: Settings) -> bool:
    """Bill what is due; a decline or missing details are recorded instead of raised."""
    try:
        _, billed = bills.bill_due(
            account, AccountStatus.ACTIVE, now, settings, resuming=False, resume={"operation": COLLECT}
        )
        if billed == 0:
            return _reschedule(account, now)
    except bills.ChargeNeedsAuthentication as needed:
        return _authentication_required(account, needed.amount, now, settings)
    except bills.ChargeDeclined as declined:
        return _declined(account, declined.amount, now, settings)
    except (BillingDetailsRequired, PaymentMethodRequired):
        return _require_payment(account, now, settings, declined=False)
    except bills.Moved:
        logger.info("account changed during billing; left to the next run", extra={"account_id": account.id})
        return False
    except PaymentProcessing:
        # R-PAY-12: not paid yet and nothing written; its webhook (or the next run, replaying
        # the same key) finds the outcome.
        logger.info("charge still processing; left due", extra={"account_id": account.id})
        return False
    return True


def _declined(account: Account, amount: Money, now: datetime, settings: Settings) -> bool:
    """A declined charge: the attempt is counted and retried later with the owner told; the
    last retry's decline blocks the account. Nothing else is saved (API.md)."""
    attempts = int(account.charge_attempts or 0)
    retries = settings.payment_retry_hours
    if attempts >= len(retries):
        return _require_payment(account, now, settings, declined=True)
    values = {"charge_attempts": attempts + 1, "bill_due_at": now + timedelta(hours=retries[attempts])}
    notice = _notice(account, now, "payment_failed", amount=amount)
    event = audit.event(account.id, "payment_failed", bills.RUN, now, attempt=attempts + 1, amount=amount.amount)
    condition = (Account.status == AccountStatus.ACTIVE) & bills.position(account) & _attempts_are(attempts)
    return _record(account, values, condition, notice, event, now, settings)


def _require_payment(account: Account, now: datetime, settings: Settings, declined: bool) -> bool:
    """R-VOUCH-10: access blocked at once, the owner told once (the condition is the status)."""
    reason = "charge_declined" if declined else "billing_details_or_payment_method_missing"
    notice = _notice(account, now, "payment_required")
    return _block(account, now, settings, notice, "R-VOUCH-10", reason, attempted=declined)


def _authentication_required(account: Account, amount: Money, now: datetime, settings: Settings) -> bool:
    """R-PAY-12: a charge that needed the card holder's authentication, made without them, is not
    retried (nobody is there for a retry either): ``payment_required`` at once with the attempt
    counted, so the owner's charge on session is a new attempt and not this one's replay. The
    owner's one ``payment_action_required`` notice links the billing page, where giving the
    payment method again settles what is due on session (``bills.settle``)."""
    notice = _notice(
        account, now, "payment_action_required", amount=amount, billing_url=_billing_page(account, settings)
    )
    return _block(account, now, settings, notice, "R-PAY-12", "authentication_required", attempted=True)


def _billing_page(account: Account, settings: Settings) -> str:
    """The web client's billing page of the account (``portal_base_url``)."""
    return f"{settings.portal_base_url.rstrip('/')}/accounts/{account.id}/billing"


def _block(
    account: Account,
    now: datetime,
    settings: Settings,
    notice: Notification | None,
    rule: str,
    reason: str,
    attempted: bool,
) -> bool:
    """``payment_required`` with its notice and audit event, once (the condition is the status);
    ``attempted``: a charge failed, counted as an attempt. ``bill_due_at`` is held, and nothing
    billed is lost (the position stays)."""
    attempts = int(account.charge_attempts or 0)
    values: dict[str, Any] = {
        "status": AccountStatus.PAYMENT_REQUIRED,
        "access_blocked_reason": AccountStatus.PAYMENT_REQUIRED,
        "bill_due_at": _hold_until(account, now),
    }
    condition = (Account.status == AccountStatus.ACTIVE) & bills.position(account)
    if attempted:
        values["charge_attempts"] = attempts + 1
        condition &= _attempts_are(attempts)
    event = audit.event(account.id, "payment_required", bills.RUN, now, rule=rule, reason=reason)
    return _record(account, values, condition, notice, event, now, settings)


def _record(
    account: Account,
    values: dict[str, Any],
    condition: Condition,
    notice: Notification | None,
    event: AuditEvent,
    now: datetime,
    settings: Settings,
) -> bool:
    """The account's change with its notice and audit event, in one conditional transaction."""

    def build(tx: TransactWrite, outcome: Outcome) -> None:
        tx.update(Account(account.id), actions=set_or_remove(Account, values), condition=condition)
        outcome.labels.append("update:account")
        outcome.put(tx, "audit", event, AuditEvent.event_key.does_not_exist())
        if notice is not None:
            outcome.put(tx, "notice", notice, Notification.notification_key.does_not_exist())

    if try_commit(build):
        return False  # another run recorded it first
    apply_values(account, values)
    return True


def _notice(account: Account, now: datetime, type_: NoticeType, **facts: object) -> Notification | None:
    if not account.owner_email:
        logger.warning("no owner email to notify", extra={"account_id": account.id})
        return None
    return notifications.compose(
        account.id, type_, account.owner_email, now, subdomain=account.subdomain or account.id, **facts
    )


def _hold(account: Account, now: datetime) -> bool:
    """``payment_required``: nothing is billed, the position stays; look again next period."""
    return _update(
        account,
        {"bill_due_at": _hold_until(account, now)},
        (Account.status == AccountStatus.PAYMENT_REQUIRED) & (Account.bill_due_at == account.bill_due_at),
    )


def _leave_index(account: Account) -> bool:
    """R-TERM-1: an ended account is never charged again."""
    return _update(account, {"bill_due_at": None}, Account.status.is_in(*ENDED))


def _reschedule(account: Account, now: datetime) -> bool:
    """Due, but nothing to bill yet (a stale due time): due again when the next bill is."""
    due = bills.next_due(account)
    if account.bill_due_at == due:
        return False
    return _update(account, {"bill_due_at": due}, (Account.status == AccountStatus.ACTIVE) & bills.position(account))


def _hold_until(account: Account, now: datetime) -> datetime:
    """The end of the period containing now: a blocked account is looked at once a period."""
    if account.lifetime:
        return monthly_period(bills.voucher_anchor(account), now).ends_at
    anchor = account.billing_anchor or account.period_start or now
    return period_of(account.billing_period, anchor, now).ends_at  # type: ignore[arg-type]


def _attempts_are(attempts: int) -> Condition:
    condition: Condition = Account.charge_attempts == attempts
    if attempts == 0:
        condition |= Account.charge_attempts.does_not_exist()
    return condition


def _update(account: Account, values: dict[str, Any], condition: Condition) -> bool:
    if not update_if(Account(account.id), set_or_remove(Account, values), condition):
        return False
    apply_values(account, values)
    return True
