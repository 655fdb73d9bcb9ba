"""Integration tier: handlers and logic against DynamoDB Local (AWS's own engine).

The session (each xdist worker's, on a port of its own) starts one DynamoDB Local; each test
gets its own set of tables, created from template.yaml under a unique stack name, so tests never see each other's items.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lifecycle.accounts import terms
from lifecycle.core import clock
from lifecycle.core.settings import Settings, get_settings
from local_runtime import template
from local_runtime.dynamodb_local import DynamoDBLocal, create_tables, ensure_installed
from local_runtime.template import ROOT
from tests.conftest import new_payment_key, payment_environment, point_service_at, worker_port

pytestmark = pytest.mark.integration


@contextmanager
def started_dynamodb_local() -> Iterator[str]:
    """A DynamoDB Local of its own, in memory, on a port of this worker's; its endpoint."""
    ensure_installed(ROOT)
    server = DynamoDBLocal(port=worker_port(), data_dir=None)
    server.start()
    try:
        yield server.endpoint
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[str]:
    with started_dynamodb_local() as endpoint:
        yield endpoint


LOCAL_FILES = ("LOCAL_OUTBOX_PATH", "LOCAL_EXPORTS_PATH")


@pytest.fixture
def local_tables(dynamodb_local: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Fresh tables for one test; the models and the idempotency store point at them."""
    document = template.load()
    resolver = template.Resolver(document, stack_name=f"it-{uuid.uuid4().hex[:10]}")
    create_tables(dynamodb_local, document, resolver)
    # The template declares the outbox and exports paths empty (AWS's value: SES, S3): here they
    # stay the session's files (tests/conftest.py).
    declared = template.function_environment(document, resolver)
    environment = {
        **{name: value for name, value in declared.items() if value or name not in LOCAL_FILES},
        "DYNAMODB_ENDPOINT": dynamodb_local,
        **payment_environment(),
    }
    point_service_at(environment, monkeypatch)
    yield get_settings()
    monkeypatch.undo()
    point_service_at({}, monkeypatch)


# The unit tier's instant (tests/unit/conftest.py), so its builders serve here unchanged.
NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def world(local_tables: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Fresh tables, this test's own account at the payment stand-in and outbox, the clock at
    ``NOW`` and no cached terms version. A module takes it with ``pytest.mark.usefixtures("world")``."""
    point_service_at(
        {**payment_environment(new_payment_key()), "LOCAL_OUTBOX_PATH": str(tmp_path / "outbox.jsonl")},
        monkeypatch,
    )
    terms._cache_clear()
    clock.set_now(NOW)
    yield get_settings()
    clock.set_now(None)
    terms._cache_clear()
