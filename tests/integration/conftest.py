"""Integration tier: handlers and logic against DynamoDB Local (AWS's own engine).

The session starts one DynamoDB Local; each test gets its own set of tables, created
from template.yaml under a unique stack name, so tests never see each other's items.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from lifecycle.core.settings import Settings, get_settings
from local_runtime import template
from local_runtime.dynamodb_local import DynamoDBLocal, create_tables, ensure_installed, free_port
from local_runtime.template import ROOT
from tests.conftest import point_service_at

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[str]:
    ensure_installed(ROOT)
    server = DynamoDBLocal(port=free_port(), data_dir=None)
    server.start()
    try:
        yield server.endpoint
    finally:
        server.stop()


@pytest.fixture
def local_tables(dynamodb_local: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Fresh tables for one test; the models and the idempotency store point at them."""
    document = template.load()
    resolver = template.Resolver(document, stack_name=f"it-{uuid.uuid4().hex[:10]}")
    create_tables(dynamodb_local, document, resolver)
    environment = {**template.function_environment(document, resolver), "DYNAMODB_ENDPOINT": dynamodb_local}
    point_service_at(environment, monkeypatch)
    yield get_settings()
    monkeypatch.undo()
    point_service_at({}, monkeypatch)
