"""API.md: "Every mutating route accepts an Idempotency-Key header: the same key and body within
24 h returns the first response and changes nothing." Proved for every mutating operation of
the OpenAPI document, generated from it (tests/route_examples.py has one example per route).

For each: a fresh scene; the example with key K as its allowed caller (the first answer);
a snapshot of every DynamoDB table but the idempotency store, the outbox (notices sent) and
the payment provider's objects (customers, charges, refunds); the same key and body again must answer the same
status and body and leave the snapshot as it was (no second charge, no second notice,
nothing written); the same key with another body is 409 ``idempotency_key_reused`` and still
changes nothing. The key is scoped to (key, route, raw path, caller's sub).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest

from lifecycle.core.settings import Settings, get_settings
from tests import figures
from tests.conftest import Ledger
from tests.route_examples import (
    EXAMPLES,
    InProcessClient,
    Operation,
    assert_catalogued,
    build_scene,
    operations,
    other_body,
)
from tests.support import deliver_notices

pytestmark = pytest.mark.hardening

MUTATING_OPERATIONS = [op for op in operations() if op.mutating]

# Routes whose example does not answer 2xx the first time, each with its reason. Keep it
# small: the replay is only meaningful when the first request did something.
NOT_2XX: dict[str, str] = {}
# Routes that cannot be replayed, each with its reason: API.md promises every mutating route.
NOT_REPLAYABLE: dict[str, str] = {}

_tally: dict[str, int] = {"routes": 0, "identical": 0, "changes": 0, "refused": 0, "first_2xx": 0}


def snapshot(settings: Settings, outbox: Path, provider: Ledger) -> dict[str, Any]:
    """Every table's items (but the idempotency store's), the notices sent, the charges made
    and the exports written."""
    deliver_notices()  # what the requests committed, sent (and marked) as the notifier does
    client = boto3.client("dynamodb", region_name=settings.region)
    state: dict[str, Any] = {}
    names = client.list_tables()["TableNames"]
    assert settings.idempotency_table in names, (settings.idempotency_table, names)
    for name in names:
        if name == settings.idempotency_table:
            continue
        items: list[str] = []
        for page in client.get_paginator("scan").paginate(TableName=name, ConsistentRead=True):
            items.extend(json.dumps(item, sort_keys=True) for item in page["Items"])
        state[f"table {name}"] = sorted(items)
    state["outbox"] = outbox.read_text(encoding="utf-8") if outbox.exists() else ""
    state["payment provider"] = repr(provider.book())
    exports = Path(get_settings().local_exports_path or "")
    state["exports"] = sorted(str(p) for p in exports.rglob("*")) if str(exports) and exports.exists() else []
    return state


def changed(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [name for name in sorted(set(before) | set(after)) if before.get(name) != after.get(name)]


@pytest.fixture(scope="module", autouse=True)
def _figure() -> Iterator[None]:
    yield
    if _tally["routes"]:
        figures.record(
            f"idempotency: {_tally['routes']} mutating routes replayed ({_tally['first_2xx']} answered 2xx first), "
            f"{_tally['identical']} identical, {_tally['changes']} state changes, "
            f"{_tally['refused']} reused keys refused with 409"
        )


def test_every_operation_has_an_example() -> None:
    assert_catalogued(operations())


@pytest.mark.parametrize("op", MUTATING_OPERATIONS, ids=lambda op: op.id)
def test_same_key_and_body_answers_the_first_response_and_changes_nothing(
    op: Operation,
    tables: Settings,
    frozen_now: datetime,
    outbox: Path,
    provider_ledger: Ledger,
) -> None:
    assert op.key in EXAMPLES, f"{op.id} has no example in tests/route_examples.py"
    if op.id in NOT_REPLAYABLE:
        pytest.fail(f"{op.id} is listed as not replayable ({NOT_REPLAYABLE[op.id]}): API.md promises every route")
    example = EXAMPLES[op.key]
    client = InProcessClient(frozen_now, outbox)
    scene = build_scene(client, example.needs)
    request = example.build(scene)
    claims = None if example.caller == "public" else scene.claims(example.caller)
    key = {"Idempotency-Key": f"idem-{scene.tag}"}
    _tally["routes"] += 1

    key = {**request.headers, **key}
    first = client.send(op.method, request.url, body=request.body, claims=claims, headers=key)
    if op.id in NOT_2XX:
        assert not 200 <= first.status < 300, f"{op.id} now answers {first.status}: drop it from NOT_2XX"
    else:
        assert 200 <= first.status < 300, f"{op.id} as {example.caller}: {first.status} {first.body}"
        _tally["first_2xx"] += 1
    before = snapshot(tables, outbox, provider_ledger)

    again = client.send(op.method, request.url, body=request.body, claims=claims, headers=key)
    after_replay = snapshot(tables, outbox, provider_ledger)
    assert (again.status, again.body) == (first.status, first.body)
    assert changed(before, after_replay) == [], f"the replay of {op.id} changed state"
    _tally["identical"] += 1

    reused = client.send(op.method, request.url, body=other_body(request.body), claims=claims, headers=key)
    assert (reused.status, reused.code) == (409, "idempotency_key_reused"), reused.body
    assert changed(before, snapshot(tables, outbox, provider_ledger)) == []
    _tally["refused"] += 1


def test_the_key_is_scoped_to_the_caller_and_the_path(tables: Settings, frozen_now: datetime, outbox: Path) -> None:
    """The same key and body from another caller, or on another account's path, is a request of its own."""
    client = InProcessClient(frozen_now, outbox)
    scene = build_scene(client, {"other"})
    key = {"Idempotency-Key": "shared-key"}
    body = {"device_id": "laptop-1"}
    sessions = f"/accounts/{scene.account_id}/sessions"
    by_owner = client.send("POST", sessions, body=body, claims=scene.claims("owner"), headers=key)
    by_agent = client.send("POST", sessions, body=body, claims=scene.claims("agent"), headers=key)
    elsewhere = client.send(
        "POST", f"/accounts/{scene.other_account_id}/sessions", body=body, claims=scene.other_owner(), headers=key
    )
    assert [by_owner.status, by_agent.status, elsewhere.status] == [201, 201, 201]
    assert [by_owner.body["user_id"], by_agent.body["user_id"], elsewhere.body["user_id"]] == [
        scene.owner_id,
        scene.agent_id,
        scene.other_owner_id,
    ]
