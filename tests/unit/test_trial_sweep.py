"""The trial sweep (R-PAY-3) over moto: due items only, idempotent, resumable."""

from __future__ import annotations

from datetime import datetime, timedelta

from lifecycle.core.settings import Settings
from lifecycle.entry.sweeps import SweepCursor, SweepRequest
from lifecycle.storage import Account
from lifecycle.storage.base import shard_of
from lifecycle.subscriptions.trials import expire_trials


def _trial(account_id: str, ends_at: datetime, settings: Settings, *, card: bool = False) -> Account:
    account = Account(
        account_id,
        status="trialing",
        plan="ticket",
        billing_period="monthly",
        created_at=ends_at - timedelta(days=14),
        trial_ends_at=ends_at,
        has_payment_method=card,
        trial_sweep=None if card else shard_of(account_id, settings.sweep_shards),
    )
    account.save()
    return account


def _forever() -> int:
    return 10**9


def test_r_pay_3_a_trial_past_its_end_without_a_card_expires(tables: Settings, frozen_now: datetime) -> None:
    _trial("due", frozen_now - timedelta(seconds=1), tables)
    _trial("exactly-now", frozen_now, tables)
    _trial("later", frozen_now + timedelta(seconds=1), tables)
    _trial("with-card", frozen_now - timedelta(days=1), tables, card=True)

    summary = expire_trials(SweepRequest(), frozen_now, _forever, tables)

    assert (summary.examined, summary.changed, summary.errors, summary.next) == (2, 2, 0, None)
    for account_id in ("due", "exactly-now"):
        account = Account.get(account_id)
        assert account.status == "trial_expired"
        assert account.access_blocked_reason == "trial_expired"
        assert account.trial_sweep is None
    assert Account.get("later").status == "trialing"
    assert Account.get("with-card").status == "trialing"


def test_r_pay_3_running_the_sweep_twice_changes_nothing_more(tables: Settings, frozen_now: datetime) -> None:
    _trial("due", frozen_now - timedelta(hours=1), tables)
    expire_trials(SweepRequest(), frozen_now, _forever, tables)
    again = expire_trials(SweepRequest(), frozen_now, _forever, tables)
    assert (again.examined, again.changed) == (0, 0)


def test_a_dry_run_counts_what_is_due_and_changes_nothing(tables: Settings, frozen_now: datetime) -> None:
    _trial("due", frozen_now - timedelta(hours=1), tables)
    summary = expire_trials(SweepRequest(dry_run=True), frozen_now, _forever, tables)
    assert (summary.examined, summary.changed) == (1, 0)
    assert Account.get("due").status == "trialing"


def test_a_sweep_out_of_time_hands_the_rest_on_and_the_next_run_finishes(
    tables: Settings, frozen_now: datetime
) -> None:
    for index in range(6):
        _trial(f"acc-{index}", frozen_now - timedelta(minutes=index + 1), tables)
    budget = iter([10**9, 0])  # time for one shard's first page, then none

    first = expire_trials(SweepRequest(), frozen_now, lambda: next(budget, 0), tables)
    assert first.next is not None
    assert first.changed < 6

    rest = expire_trials(SweepRequest(next=first.next), frozen_now, _forever, tables)
    assert first.changed + rest.changed == 6
    assert rest.next is None
    assert {a.status for a in Account.scan()} == {"trial_expired"}  # test-only Scan to check every item


def test_a_sweep_resumes_at_the_shard_it_was_given(tables: Settings, frozen_now: datetime) -> None:
    ids = [f"acc-{index}" for index in range(12)]
    for account_id in ids:
        _trial(account_id, frozen_now - timedelta(minutes=1), tables)
    last_shard = tables.sweep_shards - 1
    in_last = [i for i in ids if shard_of(i, tables.sweep_shards) == str(last_shard)]

    summary = expire_trials(SweepRequest(next=SweepCursor(shard=last_shard)), frozen_now, _forever, tables)

    assert summary.changed == len(in_last)
    assert {a.id for a in Account.scan() if a.status == "trial_expired"} == set(in_last)
