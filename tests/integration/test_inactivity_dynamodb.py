"""Ends of accounts under concurrency, on DynamoDB Local (AWS's own engine).

- R-TERM-4: staff suspending and terminating the same account at once leave it in one
  consistent state: terminated, with exactly one termination warning, and a suspension
  that either happened before it (warned and audited) or was refused, never half.
- R-TERM-6: two inactivity sweeps at once warn each user once and terminate once; an
  activity racing the warning always wins (the account ends unwarned, due 4 weeks later),
  and a notice exists only where the warning was claimed.

The racing requests call the logic the handlers call: concurrent invocations of one
function's handler in one process share Powertools' per-resolver ``context`` (a Lambda
never does; see the report on ``lifecycle.entry.http``), which is not what these tests are about.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from lifecycle.core import clock, errors
from lifecycle.core.auth import Principal
from lifecycle.core.settings import Settings, get_settings
from lifecycle.ending import inactivity, staff_actions
from lifecycle.ending.staff_actions import StaffActionInput
from lifecycle.entry.sweeps import SweepRequest
from lifecycle.storage import Account, AuditEvent, Notification
from lifecycle.usage import activity
from tests.conftest import point_service_at
from tests.support import call, owner_of, run_schedule
from tests.unit.test_signup import TRIAL

pytestmark = [pytest.mark.integration]

SIGNED_UP = datetime(2031, 3, 3, 9, 0, tzinfo=UTC)
WARN_AT = SIGNED_UP + timedelta(days=28, seconds=1)
ACCOUNTS = 8
_ips = count(1)


@pytest.fixture
def world(local_tables: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    point_service_at({"LOCAL_OUTBOX_PATH": str(tmp_path / "outbox.jsonl")}, monkeypatch)
    yield local_tables
    clock.set_now(None)


def _accounts(tag: str, users: int = 0) -> list[dict[str, Any]]:
    clock.set_now(SIGNED_UP)
    created = []
    for index in range(ACCOUNTS):
        body = {**TRIAL, "email": f"{tag}{index}@example.com", "company_name": f"{tag} {index}"}
        reply = call("POST", "/signups", body=body, source_ip=f"198.51.100.{next(_ips)}")
        assert reply.status == 201, reply.body
        account = dict(reply.body)
        for user in range(users):
            agent = {"full_name": "Petar Georgiev", "email": f"{tag}{index}-{user}@example.com", "role": "agent"}
            added = call("POST", f"/accounts/{account['id']}/users", body=agent, claims=owner_of(account))
            assert added.status == 201, added.body
        created.append(account)
    return created


def _types(account_id: str, type_: str) -> int:
    return sum(1 for event in AuditEvent.query(account_id) if event.type == type_)


def _notices(account_id: str, type_: str) -> list[Notification]:
    return [notice for notice in Notification.query(account_id) if notice.type == type_]


# ---------------------------------------------------------------- R-TERM-4


def _staff(account: dict[str, Any], verb: str) -> int:
    """The status the route would answer: 200, or 409 for a conflict."""
    form = StaffActionInput(reason="terms_violation", details="ticket SUP-1")
    act = staff_actions.suspend if verb == "suspend" else staff_actions.terminate
    try:
        act(account["id"], form, "staff-1", clock.now(), get_settings())
    except errors.Conflict:
        return 409
    return 200


def test_r_term_4_suspend_and_terminate_at_once_end_in_one_consistent_state(world: Settings) -> None:
    accounts = _accounts("staff")
    clock.set_now(SIGNED_UP + timedelta(days=2))
    with ThreadPoolExecutor(max_workers=8) as pool:
        races = [
            (account, pool.submit(_staff, account, "suspend"), pool.submit(_staff, account, "terminate"))
            for account in accounts
        ]
        replies = [(account, suspended.result(), terminated.result()) for account, suspended, terminated in races]

    for account, suspended, terminated in replies:
        assert terminated == 200
        assert suspended in (200, 409)
        item = Account.get(account["id"], consistent_read=True)
        assert (item.status, item.access_blocked_reason) == ("terminated", "terminated")
        assert (item.status_before_suspension, item.inactivity_shard, item.trial_sweep) == (None, None, None)
        assert item.purge_after is not None
        assert item.purge_shard is not None
        assert len(_notices(account["id"], "termination_warning")) == 1
        assert _types(account["id"], "account_terminated") == _types(account["id"], "termination_warning_sent") == 1
        # The suspension happened before the termination, warned and audited, or not at all.
        happened = 1 if suspended == 200 else 0
        assert len(_notices(account["id"], "suspension_warning")) == happened
        assert (
            _types(account["id"], "account_suspended") == _types(account["id"], "suspension_warning_sent") == happened
        )


# ---------------------------------------------------------------- R-TERM-6


def _sweep(_: int) -> dict[str, Any]:
    """One run of the ``inactivity-sweep`` schedule's logic."""
    return inactivity.sweep(SweepRequest(), clock.now(), lambda: 10**9, get_settings()).model_dump()


def test_r_term_6_two_sweeps_at_once_warn_each_user_once_and_terminate_once(world: Settings) -> None:
    accounts = _accounts("quiet", users=1)

    for at in (WARN_AT, WARN_AT + timedelta(days=28)):
        clock.set_now(at)
        with ThreadPoolExecutor(max_workers=2) as pool:
            summaries = list(pool.map(_sweep, range(2)))
        assert sum(summary["changed"] for summary in summaries) == ACCOUNTS
        assert {summary["errors"] for summary in summaries} == {0}

    for account in accounts:
        assert len(_notices(account["id"], "inactivity_warning")) == 2  # the owner and the agent, once each
        assert _types(account["id"], "account_terminated") == 1
        item = Account.get(account["id"], consistent_read=True)
        assert (item.status, item.status_reason, item.inactivity_shard) == ("terminated", "inactivity", None)


def _sign_in(account: dict[str, Any]) -> str:
    """``POST /accounts/{id}/sessions`` by the owner."""
    owner = Principal(user_id=account["owner_id"], account_id=account["id"], role="owner")
    return activity.record(account["id"], owner, "laptop", "203.0.113.7", "e2e", clock.now(), get_settings()).at


def test_r_term_6_an_activity_racing_the_warning_always_wins(world: Settings) -> None:
    accounts = _accounts("racer")
    clock.set_now(WARN_AT)
    with ThreadPoolExecutor(max_workers=8) as pool:
        sweep = pool.submit(run_schedule, "inactivity-sweep")
        sessions = list(pool.map(_sign_in, accounts))
        summary = sweep.result()

    assert sessions == [clock.to_iso(WARN_AT)] * ACCOUNTS
    assert summary["errors"] == 0
    for account in accounts:
        item = Account.get(account["id"], consistent_read=True)
        assert (item.inactivity_warned_at, item.inactivity_due_at) == (None, WARN_AT + timedelta(days=28))
        # A notice only where the warning was claimed before the activity withdrew it.
        claimed = _types(account["id"], "inactivity_warning_sent")
        assert len(_notices(account["id"], "inactivity_warning")) == claimed
        assert claimed <= 1
