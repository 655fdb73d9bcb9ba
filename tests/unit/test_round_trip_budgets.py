"""The round-trip budgets as a gate: every OpenAPI operation's example (``tests/route_examples.py``)
sent once on fresh moto tables, its DynamoDB calls counted by ``scripts/bench_round_trips.py``'s own
``measure`` and held to ``bench/round_trip_budgets.json`` (the default, or the operation's entry and
its ``why``). About 30 s of CPU for all operations (one process, moto)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from lifecycle.accounts import terms
from lifecycle.core import clock
from scripts.bench_round_trips import BUDGETS, Budget, load_budgets, measure
from tests.route_examples import operations

DEFAULT, OWN = load_budgets(BUDGETS)
OPERATIONS = operations()


@pytest.fixture(autouse=True)
def _own_clock_and_terms() -> Iterator[None]:
    """Each measurement stands the clock at the bench's start and caches its scene's terms
    version; neither may reach the next test of the process."""
    terms._cache_clear()
    yield
    clock.set_now(None)
    terms._cache_clear()


def test_budgets_name_only_operations_the_openapi_document_has() -> None:
    ids = {op.id for op in OPERATIONS}
    assert set(OWN) <= ids, sorted(set(OWN) - ids)


def test_an_operation_with_its_own_budget_says_why() -> None:
    import json

    entries = json.loads(BUDGETS.read_text(encoding="utf-8"))["operations"]
    assert all(str(entry.get("why", "")).strip() for entry in entries.values()), entries


@pytest.mark.parametrize("op", OPERATIONS, ids=[op.id for op in OPERATIONS])
def test_operation_within_its_round_trip_budget(op: Any) -> None:
    budget: Budget = OWN.get(op.id, DEFAULT)
    measured = measure(op, keyed=False, budget=budget)
    assert measured.answered_2xx, f"{op.id}: the example answered {measured.status}, not its main path"
    assert not measured.over, (
        f"{op.id}: {len(measured.calls)} calls ({measured.reads} reads) over its budget {budget.describe()}: "
        f"{measured.calls}"
    )
