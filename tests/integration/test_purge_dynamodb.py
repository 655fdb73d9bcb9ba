"""The purge-sweep on DynamoDB Local (R-TERM-3): batches of deletes, the GSI, the
certificate's conditions and the final transaction on AWS's own engine."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pynamodb.models import Model

from lifecycle.accounts import terms
from lifecycle.core import clock
from lifecycle.core.settings import Settings
from lifecycle.ending import purge
from lifecycle.entry.sweeps import SweepRequest
from lifecycle.privacy.retention import certificate_id
from lifecycle.storage import DeletionCertificate, Invoice, RetentionItem, Session, table_of
from tests.support import call, owner_of, pay, run_schedule
from tests.unit.test_signup import TRIAL

pytestmark = [pytest.mark.integration]

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SESSIONS = 300


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    terms._cache_clear()
    clock.set_now(NOW)
    yield
    clock.set_now(None)
    terms._cache_clear()


def cancelled_account_with_sessions(sessions: int) -> dict[str, Any]:
    account = call("POST", "/signups", body=TRIAL).body
    assert pay(account).status == 200
    with Session.batch_write() as batch:
        for index in range(sessions):
            batch.save(
                Session(
                    account["id"],
                    f"{account['owner_id']}#{index:05d}",
                    user_id=account["owner_id"],
                    device_id=f"device-{index % 7}",
                    ip="192.0.2.1",
                    user_agent="integration",
                    at=NOW,
                    expires_at=NOW + timedelta(days=90),
                )
            )
    assert call("POST", f"/accounts/{account['id']}/cancel", claims=owner_of(account)).status == 200
    return dict(account)


def test_r_term_3_an_account_with_300_sessions_is_purged_in_batches(
    local_tables: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = cancelled_account_with_sessions(SESSIONS)
    batches: list[tuple[str, int]] = []
    real = purge._delete_keys

    def counted(model: type[Model], items: list[Model]) -> None:
        batches.append((table_of(model), len(items)))
        real(model, items)

    monkeypatch.setattr(purge, "_delete_keys", counted)
    preview = run_schedule("purge-sweep", {"dry_run": True})
    assert (preview["examined"], preview["changed"], preview["items"]["sessions"]) == (1, 0, SESSIONS)

    summary = run_schedule("purge-sweep")

    assert (summary["examined"], summary["changed"], summary["errors"]) == (1, 1, 0)
    sessions = [size for table, size in batches if table == "sessions"]
    assert sessions == [25] * (SESSIONS // 25)
    assert all(size <= 25 for _, size in batches)
    assert list(Session.query(account["id"], consistent_read=True)) == []
    cert = DeletionCertificate.get(certificate_id(account["id"]), consistent_read=True)
    assert cert.deleted["sessions"] == SESSIONS
    assert cert.completed_at == NOW
    assert len(list(Invoice.query(account["id"]))) == 1  # kept by law
    assert RetentionItem.get("account#" + account["id"]).retention_shard is not None
    assert call("GET", f"/accounts/{account['id']}", claims=owner_of(account)).status == 404
    assert run_schedule("purge-sweep")["examined"] == 0


def test_r_term_3_a_purge_out_of_time_continues_on_the_next_run(
    local_tables: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = cancelled_account_with_sessions(SESSIONS)
    deleted_sessions = 0
    real = purge._delete_keys

    def counted(model: type[Model], items: list[Model]) -> None:
        nonlocal deleted_sessions
        real(model, items)
        deleted_sessions += len(items) if model is Session else 0

    monkeypatch.setattr(purge, "_delete_keys", counted)
    # Time runs short once 100 sessions are gone.
    first = purge.purge_due(SweepRequest(), NOW, lambda: 0 if deleted_sessions >= 100 else 10**9, local_tables)

    assert (first.changed, first.unfinished, first.items["sessions"]) == (0, 1, 100)
    left = len(list(Session.query(account["id"], consistent_read=True)))
    assert left == SESSIONS - 100
    rest = purge.purge_due(SweepRequest(), NOW, lambda: 10**9, local_tables)
    assert (rest.changed, rest.items["sessions"]) == (1, left)
    assert DeletionCertificate.get(certificate_id(account["id"])).deleted["sessions"] == SESSIONS


def test_r_term_3_two_sweeps_at_once_purge_the_account_once_with_exact_counts(local_tables: Settings) -> None:
    account = cancelled_account_with_sessions(60)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: run_schedule("purge-sweep"), range(2)))
    assert sum(result["changed"] for result in results) == 1
    assert all(result["errors"] == 0 for result in results)
    cert = DeletionCertificate.get(certificate_id(account["id"]), consistent_read=True)
    assert (cert.deleted["sessions"], cert.deleted["users"], cert.deleted["accounts"]) == (60, 1, 1)
    assert call("GET", f"/accounts/{account['id']}", claims=owner_of(account)).status == 404
