"""Data subject requests under concurrency, on DynamoDB Local (R-GDPR-10).

- Concurrent completions of one request run its action once: one completes it, the others
  are refused (409 ``request_in_progress``) while it runs.
- The subject's link, staff's rejection and the escalation sweep racing on one request each
  either happen, with their history entry, or are refused: no step is lost from the audit
  trail, and the final status is one a sequence of the winners would give.

The racing requests call the logic the handlers call, as tests/integration/test_inactivity_dynamodb.py
explains.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifecycle.core import errors
from lifecycle.core.settings import get_settings
from lifecycle.entry.sweeps import SweepRequest
from lifecycle.privacy import consents, privacy, retention
from lifecycle.privacy.privacy import Completing
from lifecycle.privacy.retention import add_years
from lifecycle.requests import privacy_requests
from lifecycle.requests.privacy_requests import CompleteInput, RejectInput, RequestInput
from lifecycle.storage import PrivacyRequest, RetentionItem

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("world")]

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ROUNDS = 6


def _forever() -> int:
    return 10**9


def _received(index: int = 0) -> str:
    form = RequestInput(type="access", email=f"person{index}@example.com")
    return privacy_requests.receive(form, f"10.0.0.{index}", NOW, get_settings()).id


def _verified(index: int = 0) -> str:
    request_id = _received(index)
    token = privacy.sign("verify", request_id, NOW + timedelta(hours=1), get_settings())
    privacy_requests.verify_by_link(request_id, token, NOW, get_settings())
    return request_id


def _outcome(attempt: Callable[[], Any]) -> str:
    """``ok`` or the refused step's error code."""
    try:
        attempt()
    except errors.DomainError as refused:
        return refused.code
    return "ok"


def _steps(request_id: str) -> list[str]:
    return [entry["step"] for entry in PrivacyRequest.get(request_id, consistent_read=True).history]


def test_r_gdpr_10_concurrent_completions_run_the_action_once(monkeypatch: pytest.MonkeyPatch) -> None:
    request_id = _verified()
    calls: list[str] = []
    lock = threading.Lock()

    def slow_export(completing: Completing) -> dict[str, Any]:
        with lock:
            calls.append(completing.staff_id)
        time.sleep(0.3)  # long enough for every other completion to arrive while it runs
        return {"summary": "ready"}

    monkeypatch.setitem(privacy_requests.ACTIONS, "access", slow_export)
    start = threading.Barrier(4)

    def complete(staff_id: str) -> str:
        start.wait()
        settings = get_settings()
        return _outcome(
            lambda: privacy_requests.complete(request_id, CompleteInput(), staff_id, NOW, settings, _forever)
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(complete, [f"staff-{n}" for n in range(4)]))

    assert sorted(outcomes) == ["ok", "request_in_progress", "request_in_progress", "request_in_progress"]
    assert len(calls) == 1
    assert _steps(request_id) == ["received", "verified", "in_progress", "completed"]


def test_r_gdpr_10_the_link_staff_and_the_sweep_racing_never_lose_a_step() -> None:
    requests = [_received(index) for index in range(ROUNDS)]
    later = NOW + timedelta(days=31)  # every request is overdue: the sweep races too
    settings = get_settings()

    def by_link(request_id: str) -> Callable[[], Any]:
        token = privacy.sign("verify", request_id, later + timedelta(hours=1), settings)
        return lambda: privacy_requests.verify_by_link(request_id, token, later, settings)

    def by_staff(request_id: str) -> Callable[[], Any]:
        return lambda: privacy_requests.reject(request_id, RejectInput(reason="duplicate"), "staff-1", later, settings)

    sweep = lambda: privacy_requests.escalate_overdue(SweepRequest(), later, _forever, settings)  # noqa: E731
    work = [attempt for request_id in requests for attempt in (by_link(request_id), by_staff(request_id))]
    with ThreadPoolExecutor(max_workers=len(work) + 1) as pool:
        swept = pool.submit(sweep)
        outcomes = list(pool.map(_outcome, work))
        summary = swept.result()

    assert summary.errors == 0
    escalations = 0
    for index, request_id in enumerate(requests):
        verified, rejected = outcomes[2 * index], outcomes[2 * index + 1]
        item = PrivacyRequest.get(request_id, consistent_read=True)
        steps = _steps(request_id)
        escalations += steps.count("escalated")
        assert rejected == "ok"  # a rejection is refused only when closed, and only it closes these
        assert item.status == "rejected"
        assert verified in ("ok", "request_closed")
        assert steps.count("verified") == (1 if verified == "ok" else 0)
        assert steps.count("rejected") == 1
        assert steps.count("escalated") <= 1
        if "escalated" in steps:
            assert steps.index("escalated") < steps.index("rejected")  # never escalated once closed
        assert item.escalation_shard is None
    assert escalations == summary.changed
    assert privacy_requests.escalate_overdue(SweepRequest(), later, _forever, settings).examined == 0


def test_r_gdpr_2_a_completion_keeps_the_retention_in_its_transaction_and_never_moves_a_later_one_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DynamoDB Local's own cancellation reasons: the completion's retention put, refused by a
    later schedule, is left out and the completion commits; unrefused, it moves the schedule on."""
    monkeypatch.setitem(privacy_requests.ACTIONS, "access", lambda completing: {"summary": "ready"})
    settings = get_settings()
    later, kept = _verified(1), _verified(2)
    person = privacy.person_key("person1@example.com", settings)
    consents.keep_for_retention(person, NOW + timedelta(days=9), settings)  # a later consent's schedule

    for request_id in (later, kept):
        completed = privacy_requests.complete(
            request_id, CompleteInput(), "staff-1", NOW + timedelta(days=2), settings, _forever
        )
        assert completed.status == "completed"

    def erase_at(email: str) -> datetime:
        key = retention.PERSON + privacy.person_key(email, settings)
        return RetentionItem.get(key, consistent_read=True).erase_at

    assert erase_at("person1@example.com") == add_years(NOW + timedelta(days=9), settings.retention_years)
    assert erase_at("person2@example.com") == add_years(NOW + timedelta(days=2), settings.retention_years)
