"""Benchmark: every sweep reads only what is due, at scale (issue: sweeps that scale).

Loads ``--accounts`` accounts (default 100,000) into an in-memory DynamoDB Local, with
1 % of them due for each sweep (a different 1 % per sweep) and the other 99 % in the same
sparse indexes but not yet due; the same number of emailed cancellation requests and
retention items. Then runs each schedule through its real handler (as EventBridge would,
continuing with ``next`` until done) and prints, per sweep: items due, items the sweep
examined, the items DynamoDB returned to it from Query on indexes, the Scan calls (always
0), all DynamoDB calls it made and the wall time.

    make bench                      # or: .venv/bin/python scripts/bench_sweeps.py --accounts 10000

A benchmark, not a test: it prints numbers and asserts only that no sweep scanned and
that each examined exactly what was due.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.client

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "shared" / "python")]

from local_runtime import events, template  # noqa: E402
from local_runtime.dynamodb_local import DynamoDBLocal, client, create_tables, ensure_installed, free_port  # noqa: E402
from local_runtime.functions import function_spec, load_handler  # noqa: E402

NOW = datetime(2030, 6, 15, 12, 0, tzinfo=UTC)
SHARDS = 4
# Each sweep gets its own 1 % of the accounts: index % 100 == its slot.
SLOTS = {"trial-sweep": 0, "billing-run": 1, "inactivity-sweep": 2, "purge-sweep": 3}


def iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")  # pynamodb's UTCDateTimeAttribute format


def shard(index: int) -> str:
    return str(index % SHARDS)


# ---------------------------------------------------------------- counting DynamoDB calls


@dataclass
class Calls:
    operations: Counter[str] = field(default_factory=Counter)
    index_items: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, operation: str, params: dict[str, Any], response: dict[str, Any]) -> None:
        with self.lock:
            self.operations[operation] += 1
            if operation == "Query" and "IndexName" in params:
                self.index_items += int(response.get("Count", 0))


CURRENT: Calls | None = None
_original = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]


def _counting(self: Any, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = _original(self, operation, params)
    if CURRENT is not None:
        CURRENT.record(operation, params, response)
    return response


botocore.client.BaseClient._make_api_call = _counting  # type: ignore[attr-defined]


# ---------------------------------------------------------------- seeding


def account_item(index: int) -> dict[str, Any]:
    """An account in every sweep's index; due (in the past) only for its slot's sweep."""
    slot = index % 100
    past, future = NOW - timedelta(hours=1), NOW + timedelta(days=3650)
    account_id = f"acc_bench_{index:07d}"
    status = "cancelled" if slot == SLOTS["purge-sweep"] else "trialing"
    item: dict[str, Any] = {
        "id": account_id,
        "status": status,
        "plan": "ticket",
        "billing_period": "monthly",
        "created_at": iso(NOW - timedelta(days=400)),
        "lifetime": slot == SLOTS["billing-run"],
        "included_seats": 1,
        "seats_used": 1,
        "included_seats_used": 1,
        "has_payment_method": False,
        "charge_attempts": 0,
        "credit_balance": 0,
        "abuse_signals": 0,
        "trial_sweep": shard(index),
        "trial_ends_at": iso(past if slot == SLOTS["trial-sweep"] else future),
        "billing_shard": shard(index),
        "bill_due_at": iso(past if slot == SLOTS["billing-run"] else future),
        "inactivity_shard": shard(index),
        "inactivity_due_at": iso(past if slot == SLOTS["inactivity-sweep"] else future),
        "last_active_at": iso(NOW - timedelta(days=60)),
    }
    if slot == SLOTS["billing-run"]:
        # A voucher account without extra users: the run finds nothing to bill (R-VOUCH-9).
        anchor = NOW - timedelta(days=40)
        item.update(
            status="active",
            plan="all-inclusive",
            included_seats=2,
            billing_anchor=iso(anchor),
            billed_through=iso(anchor),
        )
        del item["trial_sweep"], item["trial_ends_at"]
    if slot == SLOTS["purge-sweep"]:
        item.update(purge_shard=shard(index), purge_after=iso(past), ended_at=iso(past))
    return item


def request_item(index: int) -> dict[str, Any]:
    due = NOW - timedelta(hours=1) if index % 100 == 0 else NOW + timedelta(days=3650)
    return {
        "id": f"ccr_bench_{index:07d}",
        "account_id": f"acc_bench_{index:07d}",
        "status": "pending",
        "requested_at": iso(due - timedelta(days=1)),
        "requested_by": "usr_bench",
        "due_by": iso(due),
        "sla_sweep": shard(index),
    }


def retention_item(index: int) -> dict[str, Any]:
    due = NOW - timedelta(hours=1) if index % 100 == 0 else NOW + timedelta(days=3650)
    return {
        "subject_key": f"account#acc_gone_{index:07d}",
        "kind": "ended_customer",
        "basis": "R-GDPR-2",
        "ended_at": iso(due - timedelta(days=3653)),
        "erase_at": iso(due),
        "retention_shard": shard(index),
    }


def privacy_request_item(index: int) -> dict[str, Any]:
    due = NOW - timedelta(hours=1) if index % 100 == 0 else NOW + timedelta(days=20)
    received = due - timedelta(days=30)
    return {
        "id": f"dsr_bench_{index:07d}",
        "type": "access",
        "status": "verified",
        "email": f"person{index}@example.com",
        "person_key": f"bench{index:07d}",
        "received_at": iso(received),
        "due_at": iso(due),
        "escalation_shard": shard(index),
        "history": json.dumps([{"at": iso(received), "step": "received", "actor": "data_subject"}]),
    }


def to_wire(item: dict[str, Any]) -> dict[str, Any]:
    def value(v: Any) -> dict[str, Any]:
        if isinstance(v, bool):
            return {"BOOL": v}
        if isinstance(v, int):
            return {"N": str(v)}
        return {"S": str(v)}

    return {key: value(v) for key, v in item.items()}


def seed(endpoint: str, table: str, make: Callable[[int], dict[str, Any]], count: int) -> float:
    started = time.perf_counter()
    dynamodb = client(endpoint)

    def batches() -> Iterator[list[dict[str, Any]]]:
        for start in range(0, count, 25):
            yield [{"PutRequest": {"Item": to_wire(make(i))}} for i in range(start, min(start + 25, count))]

    def write(batch: list[dict[str, Any]]) -> None:
        pending = {table: batch}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, batches()))
    return time.perf_counter() - started


# ---------------------------------------------------------------- running the sweeps


@dataclass
class Result:
    name: str
    due: int
    examined: int = 0
    changed: int = 0
    errors: int = 0
    invocations: int = 0
    seconds: float = 0.0
    calls: Calls = field(default_factory=Calls)


def run(name: str, due: int, document: dict[str, Any], resolver: template.Resolver) -> Result:
    global CURRENT
    (schedule,) = [s for s in template.schedules(document, resolver) if s.name == name]
    spec = function_spec(document, resolver.stack_name, schedule.function)
    handler = load_handler(spec)
    result = Result(name, due)
    CURRENT = result.calls
    detail: dict[str, Any] = {}
    started = time.perf_counter()
    while True:
        context = events.LambdaContext(spec.function_name, spec.timeout, spec.memory_size)
        summary = handler(events.scheduled_event(schedule, resolver.stack_name, detail), context)
        result.invocations += 1
        result.examined += summary["examined"]
        result.changed += summary["changed"]
        result.errors += summary["errors"]
        if not summary.get("next"):
            break
        detail = {"next": summary["next"]}
    result.seconds = time.perf_counter() - started
    CURRENT = None
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=100_000)
    args = parser.parse_args()
    count, due = args.accounts, args.accounts // 100

    ensure_installed(ROOT)
    server = DynamoDBLocal(port=free_port(), data_dir=None).start()
    try:
        document = template.load()
        resolver = template.Resolver(document, stack_name=f"bench-{uuid.uuid4().hex[:6]}")
        create_tables(server.endpoint, document, resolver)
        os.environ.update(template.function_environment(document, resolver))
        os.environ.update(
            DYNAMODB_ENDPOINT=server.endpoint,
            SWEEP_SHARDS=str(SHARDS),
            LOCAL_OUTBOX_PATH=os.devnull,
            POWERTOOLS_TRACE_DISABLED="true",
            POWERTOOLS_METRICS_DISABLED="true",
            POWERTOOLS_LOG_LEVEL="WARNING",
            AWS_ACCESS_KEY_ID="local",
            AWS_SECRET_ACCESS_KEY="local",  # noqa: S106 - DynamoDB Local's dummy credentials
            AWS_DEFAULT_REGION="eu-central-1",
        )
        from lifecycle import clock

        clock.set_now(NOW)
        print(f"seeding {count:,} accounts, cancellation requests, retention items and data subject requests …")
        for logical_id, maker in (
            ("AccountsTable", account_item),
            ("CancellationRequestsTable", request_item),
            ("RetentionTable", retention_item),
            ("PrivacyRequestsTable", privacy_request_item),
        ):
            seconds = seed(server.endpoint, resolver.table_name(logical_id), maker, count)
            print(f"  {logical_id:28} {count:>9,} items in {seconds:6.1f} s")

        names = [
            "trial-sweep",
            "billing-run",
            "inactivity-sweep",
            "purge-sweep",
            "cancellation-sla-sweep",
            "retention-sweep",
            "privacy-request-sweep",
        ]
        results = [run(name, due, document, resolver) for name in names]
    finally:
        server.stop()

    print()
    header = f"{'sweep':24} {'loaded':>9} {'due':>6} {'examined':>9} {'changed':>8} {'errors':>6} "
    header += f"{'index items read':>17} {'Scan':>5} {'DynamoDB calls':>15} {'wall s':>8}"
    print(header)
    print("-" * len(header))
    failed = False
    for r in results:
        scans = r.calls.operations.get("Scan", 0)
        print(
            f"{r.name:24} {count:>9,} {r.due:>6,} {r.examined:>9,} {r.changed:>8,} {r.errors:>6,} "
            f"{r.calls.index_items:>17,} {scans:>5} {sum(r.calls.operations.values()):>15,} {r.seconds:>8.1f}"
        )
        failed |= scans > 0 or r.examined != r.due
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
