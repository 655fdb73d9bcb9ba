"""Unit tier: logic and handlers over moto's in-process DynamoDB, tables made from template.yaml."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from lifecycle.accounts import terms
from lifecycle.core import clock
from lifecycle.core.settings import Settings, get_settings
from local_runtime import template
from tests.conftest import Ledger, new_payment_key, payment_environment, point_service_at


def create_tables(client: object, resolver: template.Resolver) -> None:
    for spec in template.tables(template.load(), resolver):
        client.create_table(**spec.create_args)  # type: ignore[attr-defined]


@pytest.fixture
def tables(monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Fresh moto tables for one test; yields the settings the models now use."""
    with mock_aws():
        resolver = template.Resolver(template.load())
        create_tables(boto3.client("dynamodb", region_name="eu-central-1"), resolver)
        point_service_at({}, monkeypatch)
        yield get_settings()
        point_service_at({}, monkeypatch)


# The unit tests' instant: an account created now has its periods start on the 25th.
NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def frozen_now() -> Iterator[datetime]:
    """The clock stood still at a fixed instant for the test."""
    clock.set_now(NOW)
    yield NOW
    clock.set_now(None)


@pytest.fixture
def world(tables: Settings) -> Iterator[Settings]:
    """Fresh moto tables, the clock at ``NOW`` and no cached terms version (the current one is
    cached per process: no test may see another's). A module takes it for all its tests with
    ``pytestmark = pytest.mark.usefixtures("world")``, adding ``"outbox"`` and
    ``"provider_ledger"`` when its tests count notices or charges."""
    terms._cache_clear()
    clock.set_now(NOW)
    yield tables
    clock.set_now(None)
    terms._cache_clear()


@pytest.fixture
def outbox(tables: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """This test's own local outbox (the session's default one is shared by every test)."""
    path = tmp_path / "outbox.jsonl"
    point_service_at({"LOCAL_OUTBOX_PATH": str(path)}, monkeypatch)
    yield path
    monkeypatch.delenv("LOCAL_OUTBOX_PATH")
    get_settings.cache_clear()


@pytest.fixture
def provider_ledger(tables: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    """This test's own account at the payment stand-in (a key of its own), so its charges can be counted."""
    account = Ledger(new_payment_key())
    point_service_at(payment_environment(account.api_key), monkeypatch)
    yield account
    point_service_at(payment_environment(), monkeypatch)
