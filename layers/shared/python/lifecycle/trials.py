"""Trials (R-PAY-2, R-PAY-3): a trial that ends without a payment method expires."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pynamodb.exceptions import UpdateError

from lifecycle.settings import Settings
from lifecycle.storage import Account
from lifecycle.sweeps import DuePage, SweepRequest, SweepSummary, run_sweep

TRIAL_EXPIRED = "trial_expired"
PAGE_SIZE = 100


def _due_trials(now: datetime) -> Callable[[str, dict[str, Any] | None], DuePage]:
    def query(shard: str, after: dict[str, Any] | None) -> DuePage:
        return Account.trial_due.query(
            shard,
            Account.trial_ends_at <= now,
            limit=PAGE_SIZE,
            page_size=PAGE_SIZE,
            last_evaluated_key=after,
        )

    return query


def _expire(now: datetime) -> Callable[[Account], bool]:
    def act(due: Account) -> bool:
        """R-PAY-3: suspend as ``trial_expired``; the conditions make a rerun (or a card
        added in the same instant, which clears ``has_payment_method``'s guard) a no-op."""
        try:
            Account(due.id).update(
                actions=[
                    Account.status.set(TRIAL_EXPIRED),
                    Account.access_blocked_reason.set(TRIAL_EXPIRED),
                    Account.trial_sweep.remove(),
                ],
                condition=(
                    (Account.status == "trialing")
                    & (Account.has_payment_method == False)  # noqa: E712 - pynamodb condition
                    & (Account.trial_ends_at <= now)
                ),
            )
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    return act


def expire_trials(
    request: SweepRequest, now: datetime, remaining_ms: Callable[[], int], settings: Settings
) -> SweepSummary:
    """The ``trial-sweep`` schedule (R-PAY-3)."""
    return run_sweep(
        shards=settings.sweep_shards,
        query_due=_due_trials(now),
        act=_expire(now),
        request=request,
        remaining_ms=remaining_ms,
        margin_ms=settings.sweep_time_margin_ms,
    )
