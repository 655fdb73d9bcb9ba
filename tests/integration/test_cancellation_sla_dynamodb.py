"""The cancellation-sla-sweep schedule on DynamoDB Local (R-TERM-2): sparse GSI query,
one conditional transaction per escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lifecycle.core import clock
from lifecycle.core.settings import Settings
from lifecycle.storage import AuditEvent, CancellationRequest
from lifecycle.storage.base import shard_of
from tests.support import run_schedule

pytestmark = [pytest.mark.integration]

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_clock() -> object:
    clock.set_now(NOW)
    yield
    clock.set_now(None)


def _request(request_id: str, due: datetime, settings: Settings, *, status: str = "pending") -> None:
    CancellationRequest(
        request_id,
        account_id=f"acc-{request_id}",
        status=status,
        requested_at=due - timedelta(days=1),
        requested_by="owner-1",
        due_by=due,
        sla_sweep=shard_of(request_id, settings.sweep_shards) if status == "pending" else None,
    ).save()


def test_r_term_2_the_schedule_escalates_only_overdue_pending_requests_once(local_tables: Settings) -> None:
    for index in range(12):
        _request(f"ccr-due-{index}", NOW - timedelta(minutes=index + 1), local_tables)
    _request("ccr-not-yet", NOW + timedelta(hours=1), local_tables)
    _request("ccr-confirmed", NOW - timedelta(days=1), local_tables, status="confirmed")

    preview = run_schedule("cancellation-sla-sweep", {"dry_run": True})
    assert preview == {"examined": 12, "changed": 0, "errors": 0, "next": None}

    summary = run_schedule("cancellation-sla-sweep")
    assert summary == {"examined": 12, "changed": 12, "errors": 0, "next": None}
    escalated = CancellationRequest.get("ccr-due-3", consistent_read=True)
    assert (escalated.status, escalated.escalated_at, escalated.sla_sweep) == ("pending", NOW, None)
    assert [e.type for e in AuditEvent.query("acc-ccr-due-3")] == ["cancellation_escalated"]
    assert CancellationRequest.get("ccr-not-yet").escalated_at is None

    assert run_schedule("cancellation-sla-sweep") == {"examined": 0, "changed": 0, "errors": 0, "next": None}
