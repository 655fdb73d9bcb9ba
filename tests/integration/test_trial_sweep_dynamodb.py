"""The trial-sweep schedule on DynamoDB Local (R-PAY-3): GSI query, conditional updates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lifecycle.core import clock
from lifecycle.core.settings import Settings
from lifecycle.storage import Account
from tests.support import run_schedule
from tests.unit.test_trial_sweep import _trial

pytestmark = [pytest.mark.integration]

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_clock() -> object:
    clock.set_now(NOW)
    yield
    clock.set_now(None)


def test_r_pay_3_the_schedule_expires_only_due_trials(local_tables: Settings) -> None:
    for index in range(30):
        _trial(f"due-{index}", NOW - timedelta(minutes=index), local_tables)
    _trial("not-yet", NOW + timedelta(minutes=1), local_tables)
    _trial("has-card", NOW - timedelta(days=2), local_tables, card=True)

    preview = run_schedule("trial-sweep", {"dry_run": True})
    assert preview == {"examined": 30, "changed": 0, "errors": 0, "next": None}

    summary = run_schedule("trial-sweep")
    assert summary == {"examined": 30, "changed": 30, "errors": 0, "next": None}
    assert Account.get("due-7").status == "trial_expired"
    assert Account.get("not-yet").status == "trialing"
    assert Account.get("has-card").status == "trialing"

    assert run_schedule("trial-sweep") == {"examined": 0, "changed": 0, "errors": 0, "next": None}


def test_r_pay_3_two_sweeps_at_once_change_each_trial_once(local_tables: Settings) -> None:
    from concurrent.futures import ThreadPoolExecutor

    for index in range(40):
        _trial(f"due-{index}", NOW - timedelta(seconds=index), local_tables)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: run_schedule("trial-sweep"), range(2)))
    assert sum(result["changed"] for result in results) == 40
    assert all(result["errors"] == 0 for result in results)
