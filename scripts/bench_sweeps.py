"""Benchmark: every sweep reads only what is due, at scale, against a Scan.

Loads ``--accounts`` accounts (default 100,000) into an in-memory DynamoDB Local, with
1 % of them due for each sweep (a different 1 % per sweep) and the other 99 % in the same
sparse indexes but not yet due; the same number of emailed cancellation requests, retention
items and data subject requests. Then, over the same data:

1. a Scan-based sweep per schedule, before any real sweep changes the data: a paginated,
   consistent Scan of the sweep's table filtered by the sweep's own due condition (its
   index's shard attribute and due time, as it gives them to ``sweeps.due_in``). It must find
   exactly the due items; its items read are the Scan's ScannedCount, i.e. the whole table;
2. each schedule through its real handler (as EventBridge would, continuing with ``next``
   until done), counting every item DynamoDB returned to it from a read: Query and Scan
   ScannedCount (on indexes and tables), GetItem that found an item, BatchGetItem and
   TransactGetItems items. A due item read from the index and read again before it is
   changed counts twice.

It prints, per sweep, items read / items due for both (target: the index sweep's <= 1.1),
their calls and wall time, and where the index sweep's reads came from.

    make bench                      # or: .venv/bin/python scripts/bench_sweeps.py --accounts 10000
    .venv/bin/python scripts/bench_sweeps.py --json PATH   # also writes rows for `make bench`'s table

A benchmark, not a test: a read/due ratio over the target is reported as a "miss"; it exits
1 only if a correctness guard fails: a sweep scanned, a sweep examined other than the due
items, or the Scan found other than the due items.
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
from scripts.bench_report import Result as ReportResult  # noqa: E402
from scripts.bench_report import Row, Section, machine  # noqa: E402

NOW = datetime(2030, 6, 15, 12, 0, tzinfo=UTC)
SHARDS = 4
TARGET = 1.1  # items read / items due
# Each sweep over the accounts gets its own 1 % of them: index % 100 == its slot. The other
# sweeps have a table of their own, due at index % 100 == 0.
SLOTS = {"trial-sweep": 0, "billing-run": 1, "inactivity-sweep": 2, "purge-sweep": 3}


def iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")  # pynamodb's UTCDateTimeAttribute format


def shard(index: int) -> str:
    return str(index % SHARDS)


# ---------------------------------------------------------------- counting DynamoDB calls


def items_read(operation: str, response: dict[str, Any]) -> Counter[str]:
    """Items DynamoDB read for one call, by the table or index they came from (the key is
    filled in by ``Calls.record``); ScannedCount, not Count, so a filter hides nothing."""
    if operation in ("Query", "Scan"):
        return Counter({"": int(response.get("ScannedCount", response.get("Count", 0)))})
    if operation == "GetItem":
        return Counter({"": int("Item" in response)})
    if operation == "BatchGetItem":
        return Counter({table: len(items) for table, items in response.get("Responses", {}).items()})
    if operation == "TransactGetItems":
        return Counter({"": sum("Item" in found for found in response.get("Responses", []))})
    return Counter()


def label(operation: str, params: dict[str, Any], table: str) -> str:
    """Where items were read from, e.g. ``GetItem AccountsTable`` or ``Query trial-due``: table
    names without their stack prefix (logical ids have no "-")."""
    if "IndexName" in params:
        return f"{operation} {params['IndexName']}"
    tables = [table or params.get("TableName", "?")]
    if operation == "TransactGetItems":
        tables = sorted({get["Get"]["TableName"] for get in params.get("TransactItems", [])})
    return f"{operation} {','.join(name.rsplit('-', 1)[-1] for name in tables)}"


@dataclass
class Calls:
    operations: Counter[str] = field(default_factory=Counter)
    reads: Counter[str] = field(default_factory=Counter)  # items read, by "operation source"
    # Time in Query calls, by index: the sweep's own due index's is its time finding the due items.
    index_seconds: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, operation: str, params: dict[str, Any], response: dict[str, Any], seconds: float) -> None:
        with self.lock:
            self.operations[operation] += 1
            for table, count in items_read(operation, response).items():
                self.reads[label(operation, params, table)] += count
            if operation == "Query" and "IndexName" in params:
                index = params["IndexName"]
                self.index_seconds[index] = self.index_seconds.get(index, 0.0) + seconds

    @property
    def total(self) -> int:
        return sum(self.operations.values())

    @property
    def items(self) -> int:
        return sum(self.reads.values())


CURRENT: Calls | None = None
_original = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]


def _counting(self: Any, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    response: dict[str, Any] = _original(self, operation, params)
    if CURRENT is not None:
        CURRENT.record(operation, params, response, time.perf_counter() - started)
    return response


botocore.client.BaseClient._make_api_call = _counting  # type: ignore[attr-defined]


def counting(calls: Calls) -> Calls:
    """Count the calls made from now on into ``calls``."""
    global CURRENT
    CURRENT = calls
    return calls


def counting_off() -> None:
    global CURRENT
    CURRENT = None


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


TABLES: dict[str, Callable[[int], dict[str, Any]]] = {
    "AccountsTable": account_item,
    "CancellationRequestsTable": request_item,
    "RetentionTable": retention_item,
    "PrivacyRequestsTable": privacy_request_item,
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


# ---------------------------------------------------------------- the sweeps and their due conditions


@dataclass(frozen=True)
class Sweep:
    name: str
    slot: int  # index % 100 of the seeded items due for it
    model: Any  # the pynamodb model of the table it sweeps
    index: Any  # the model's sparse index its ``query_due`` reads
    strict: bool = False  # due when the range key < now, not <= now

    def due(self, now: datetime) -> Any:
        """The sweep's due condition as a Scan filter, what its ``sweeps.due_in`` asks the index:
        the item is in one of the shards (the index's hash key) and its range key has passed."""
        attributes = self.index.Meta.attributes.values()
        shard_key = next(a for a in attributes if a.is_hash_key)
        due_key = next(a for a in attributes if a.is_range_key)
        passed = due_key < now if self.strict else due_key <= now
        return shard_key.is_in(*(str(s) for s in range(SHARDS))) & passed

    @property
    def index_name(self) -> str:
        return str(self.index.Meta.index_name)

    def due_count(self, count: int) -> int:
        return len(range(self.slot, count, 100))


def sweeps() -> list[Sweep]:
    """Each schedule with the index and condition it gives ``sweeps.due_in`` (lifecycle/subscriptions/trials.py,
    billing_run.py, inactivity.py, purge.py, cancellation.py, retention.py, privacy_requests.py).
    Imported here: the models take their table names from the environment ``main`` sets first."""
    from lifecycle.storage import Account, CancellationRequest, PrivacyRequest, RetentionItem

    return [
        Sweep("trial-sweep", SLOTS["trial-sweep"], Account, Account.trial_due),
        Sweep("billing-run", SLOTS["billing-run"], Account, Account.billing_due),
        Sweep("inactivity-sweep", SLOTS["inactivity-sweep"], Account, Account.inactivity_due),
        Sweep("purge-sweep", SLOTS["purge-sweep"], Account, Account.purge_due),
        # lifecycle/ending/cancellation.py _overdue: ``due_by < now``.
        Sweep("cancellation-sla-sweep", 0, CancellationRequest, CancellationRequest.sla_due, strict=True),
        Sweep("retention-sweep", 0, RetentionItem, RetentionItem.retention_due),
        Sweep("privacy-request-sweep", 0, PrivacyRequest, PrivacyRequest.overdue_due),
    ]


# ---------------------------------------------------------------- running them


@dataclass
class ScanResult:
    found: int = 0
    seconds: float = 0.0
    calls: Calls = field(default_factory=Calls)


def scan(sweep: Sweep) -> ScanResult:
    """The Scan-based sweep's reading: every page of the table, filtered by the due condition,
    consistent as the real sweep's reads of the items it changes."""
    result = ScanResult(calls=counting(Calls()))
    started = time.perf_counter()
    result.found = sum(1 for _ in sweep.model.scan(sweep.due(NOW), consistent_read=True))
    result.seconds = time.perf_counter() - started
    counting_off()
    return result


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
    (schedule,) = [s for s in template.schedules(document, resolver) if s.name == name]
    spec = function_spec(document, resolver.stack_name, schedule.function)
    handler = load_handler(spec)
    result = Result(name, due, calls=counting(Calls()))
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
    counting_off()
    return result


# ---------------------------------------------------------------- reporting


@dataclass(frozen=True)
class Compared:
    """One sweep: its Scan-based reading and its real run over the same data."""

    sweep: Sweep
    loaded: int
    scanned: ScanResult
    swept: Result

    @property
    def ratio(self) -> float:
        return self.swept.calls.items / max(self.swept.due, 1)

    @property
    def scan_ratio(self) -> float:
        return self.scanned.calls.items / max(self.swept.due, 1)

    @property
    def guard_failures(self) -> list[str]:
        """The correctness guards: a sweep never scans, and both sweeps see exactly the due items."""
        failures = []
        if self.swept.calls.operations.get("Scan", 0):
            failures.append("the sweep scanned")
        if self.swept.examined != self.swept.due:
            failures.append(f"examined {self.swept.examined:,} of {self.swept.due:,} due")
        if self.scanned.found != self.swept.due:
            failures.append(f"the Scan found {self.scanned.found:,} of {self.swept.due:,} due")
        return failures

    @property
    def result(self) -> ReportResult:
        """A failed guard is a miss here (``measured`` says which) and the exit status 1."""
        return "pass" if self.ratio <= TARGET and not self.guard_failures else "miss"

    def cells(self) -> list[str]:
        s, c = self.swept, self.scanned
        return [
            s.name,
            f"{self.loaded:,}",
            f"{s.due:,}",
            f"{s.examined:,}",
            f"{s.changed:,}",
            f"{s.errors:,}",
            f"{s.calls.items:,}",
            f"{self.ratio:.2f}",
            f"{s.calls.total:,}",
            f"{s.calls.index_seconds.get(self.sweep.index_name, 0.0):.1f}",
            f"{s.seconds:.1f}",
            f"{c.calls.items:,}",
            f"{self.scan_ratio:.1f}",
            f"{c.calls.total:,}",
            f"{c.seconds:.1f}",
            f"FAILED: {'; '.join(self.guard_failures)}" if self.guard_failures else self.result,
        ]

    @property
    def found(self) -> int:
        """The items the due-index Query returned: how many the sweep had to look at."""
        return sum(n for source, n in self.swept.calls.reads.items() if self.sweep.index_name in source)

    def measured(self) -> str:
        failed = f"; FAILED: {'; '.join(self.guard_failures)}" if self.guard_failures else ""
        return (
            f"{self.swept.calls.items:,} read for {self.swept.due:,} due = {self.ratio:.2f}, "
            f"of which the due index {self.found:,} = {self.found / max(self.swept.due, 1):.2f} "
            f"(Scan: {self.scanned.calls.items:,} = {self.scan_ratio:.1f}){failed}"
        )

    def sources(self) -> str:
        """Where the index sweep's items read came from, most first."""
        return "; ".join(f"{source} {n:,}" for source, n in self.swept.calls.reads.most_common() if n)


HEADERS = [
    "sweep",
    "loaded",
    "due",
    "examined",
    "changed",
    "errors",
    "index: read",
    "read/due",
    "calls",
    "find s",
    "s",
    "Scan: read",
    "read/due",
    "calls",
    "s",
    "result",
]
LEFT = {0, len(HEADERS) - 1}
# "find s" is the time in the index queries alone, comparable with the Scan's "s" (which only
# finds the due items); the index sweep's "s" also acts on each of them.


def plain_table(rows: list[list[str]], headers: list[str], left: set[int]) -> str:
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        padded = (c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(row) for row in rows)])


def markdown_table(rows: list[list[str]], headers: list[str], left: set[int]) -> str:
    align = ["---" if i in left else "---:" for i in range(len(headers))]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in [headers, align, *rows])


def markdown(rows: list[Compared], summary: str) -> str:
    notes = [
        "index: the real sweep (handler, due-index queries and everything it reads per item); "
        "read = items DynamoDB returned to it from reads (Query/Scan ScannedCount, GetItem found, "
        "BatchGetItem and TransactGetItems items); find s = time in its index queries; "
        "Scan: a consistent, paginated Scan with the sweep's due condition as filter, over the same data, "
        f"before any sweep ran. Target: index read/due <= {TARGET}.",
        "Scan s is DynamoDB Local's: each of its pages costs about what remains of the table after the "
        "page's start key, so a 100,000-item Scan takes far more than 10 times a 10,000-item one; "
        "the items read are the figure that carries over to DynamoDB.",
    ]
    sources = [[row.swept.name, row.sources()] for row in rows]
    return "\n".join(
        [
            summary,
            "",
            markdown_table([row.cells() for row in rows], HEADERS, LEFT),
            "",
            *notes,
            "",
            markdown_table(sources, ["sweep", "index sweep's items read, by call and table or index"], {0, 1}),
        ]
    )


def report(rows: list[Compared], summary: str) -> Section:
    """For ``make bench`` (scripts/bench.py): one row per sweep, and the detailed tables."""
    target = f"read/due <= {TARGET}"
    found = [Row("sweeps", row.swept.name, row.measured(), target, row.result) for row in rows]
    return Section("sweeps", found, markdown(rows, summary))


# ---------------------------------------------------------------- main


def configure(endpoint: str, document: dict[str, Any], resolver: template.Resolver) -> None:
    """The functions' environment, as the local runtime gives it, and the clock at NOW."""
    os.environ.update(template.function_environment(document, resolver))
    os.environ.update(
        DYNAMODB_ENDPOINT=endpoint,
        SWEEP_SHARDS=str(SHARDS),
        LOCAL_OUTBOX_PATH=os.devnull,
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_METRICS_DISABLED="true",
        POWERTOOLS_LOG_LEVEL="WARNING",
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",  # noqa: S106 - DynamoDB Local's dummy credentials
        AWS_DEFAULT_REGION="eu-central-1",
    )
    from lifecycle.core import clock

    clock.set_now(NOW)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--json", type=Path, help="also write the results for make bench's table to this file")
    args = parser.parse_args()
    count = args.accounts
    begun = time.perf_counter()

    ensure_installed(ROOT)
    server = DynamoDBLocal(port=free_port(), data_dir=None).start()
    try:
        document = template.load()
        resolver = template.Resolver(document, stack_name=f"bench-{uuid.uuid4().hex[:6]}")
        create_tables(server.endpoint, document, resolver)
        configure(server.endpoint, document, resolver)
        print(f"seeding {count:,} accounts, cancellation requests, retention items and data subject requests …")
        seeded: dict[str, float] = {}
        for logical_id, make in TABLES.items():
            seeded[logical_id] = seed(server.endpoint, resolver.table_name(logical_id), make, count)
            print(f"  {logical_id:28} {count:>9,} items in {seeded[logical_id]:6.1f} s", flush=True)

        plan = sweeps()
        # Every Scan first: each real sweep changes (or deletes) its due items.
        scans = {sweep.name: scan(sweep) for sweep in plan}
        print(f"Scan-based sweeps: {sum(s.seconds for s in scans.values()):.1f} s; the sweeps:", flush=True)
        rows = []
        for sweep in plan:
            swept = run(sweep.name, sweep.due_count(count), document, resolver)
            print(f"  {sweep.name:24} {swept.seconds:6.1f} s", flush=True)
            rows.append(Compared(sweep, count, scans[sweep.name], swept))
    finally:
        server.stop()

    info = machine()
    summary = (
        f"{count:,} accounts loaded (and as many cancellation requests, retention items and data subject "
        f"requests), 1 % due per sweep; seeding {sum(seeded.values()):.0f} s "
        f"(accounts {seeded['AccountsTable']:.0f} s), Scans {sum(s.seconds for s in scans.values()):.0f} s, "
        f"sweeps {sum(row.swept.seconds for row in rows):.0f} s, whole run {time.perf_counter() - begun:.0f} s; "
        f"{info['machine']}, {info['cpus']} CPUs, Python {info['python']}; {info['date']}"
    )
    print()
    print(summary)
    print()
    print(plain_table([row.cells() for row in rows], HEADERS, LEFT))
    print()
    print(plain_table([[row.swept.name, row.sources()] for row in rows], ["sweep", "index sweep's items read"], {0, 1}))
    if args.json:
        report(rows, summary).write(args.json)
    return 1 if any(row.guard_failures for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
