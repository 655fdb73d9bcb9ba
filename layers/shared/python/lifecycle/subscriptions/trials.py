"""Trials (R-PAY-2, R-PAY-3): a trial that ends without a payment method expires."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pynamodb.exceptions import DoesNotExist
from pynamodb.transactions import TransactWrite

from lifecycle import notifications
from lifecycle.core.settings import Settings
from lifecycle.entry.sweeps import QueryDue, SweepRequest, SweepSummary, due_in, run_sweep
from lifecycle.storage import Account, Notification
from lifecycle.storage.accounts import AccountStatus
from lifecycle.storage.transactions import Outcome, try_commit

PAGE_SIZE = 100


def _due_trials(now: datetime) -> QueryDue:
    return due_in(Account.trial_due, Account.trial_ends_at <= now, PAGE_SIZE)


def _expire(now: datetime, settings: Settings) -> Callable[[Account], bool]:
    def act(due: Account) -> bool:
        """R-PAY-3: suspend as ``trial_expired`` and tell the owner, in one transaction; the
        conditions make a rerun (or a card added in the same instant, which sets
        ``has_payment_method``) a no-op that sends nothing."""
        try:
            account = Account.get(due.id, consistent_read=True)
        except DoesNotExist:
            return False
        notice = None
        if account.owner_email:
            notice = notifications.compose(
                account.id,
                "trial_ended",
                account.owner_email,
                now,
                subdomain=account.subdomain or account.id,
                plan=account.plan,
                trial_ends_at=account.trial_ends_at or now,
            )

        def build(tx: TransactWrite, outcome: Outcome) -> None:
            tx.update(
                Account(account.id),
                actions=[
                    Account.status.set(AccountStatus.TRIAL_EXPIRED),
                    Account.access_blocked_reason.set(AccountStatus.TRIAL_EXPIRED),
                    Account.trial_sweep.remove(),
                ],
                condition=(
                    (Account.status == AccountStatus.TRIALING)
                    & (Account.has_payment_method == False)  # noqa: E712 - pynamodb condition
                    & (Account.trial_ends_at <= now)
                ),
            )
            outcome.labels.append("update:account")
            if notice is not None:
                outcome.put(tx, "notice", notice, Notification.notification_key.does_not_exist())

        # Not written when no longer due: a card came, or another run expired it.
        return not try_commit(build)

    return act


def expire_trials(
    request: SweepRequest, now: datetime, remaining_ms: Callable[[], int], settings: Settings
) -> SweepSummary:
    """The ``trial-sweep`` schedule (R-PAY-3)."""
    return run_sweep(
        shards=settings.sweep_shards,
        query_due=_due_trials(now),
        act=_expire(now, settings),
        request=request,
        remaining_ms=remaining_ms,
        margin_ms=settings.sweep_time_margin_ms,
    )
