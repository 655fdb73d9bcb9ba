"""Benchmark: DynamoDB round trips per request, for every operation of the OpenAPI document.

For each operation, a fresh scene is built (``tests/route_examples.py``: one valid example
request per operation, made by the caller it names) in moto's in-process DynamoDB, tables
from template.yaml; then only the example request is measured: every DynamoDB API call it
makes, whichever client makes it (pynamodb's, the transactions' connection, boto3's), is
counted by operation name (``tests/faults.py``'s injector, with no fault: it patches
``botocore.client.BaseClient._make_api_call`` for the class, so it sees them all).

The main count is of the request sent without an Idempotency-Key (the route's own work).
The same request with a key, on a second fresh scene, gives the idempotency store's
overhead, reported in a column of its own (typically PutItem to claim the key and
UpdateItem to save the response).

Budgets live in ``bench/round_trip_budgets.json``: a default number of calls and, per
``METHOD /path``, its own ``calls`` and optionally ``reads``. The run prints a table sorted
by total calls and a summary, and exits 1 when an operation exceeds its budget (``--no-fail``:
report only) or an example does not answer 2xx (the count would not be of the main path).

    .venv/bin/python scripts/bench_round_trips.py [--only 'POST /redemptions'] [--no-keyed] [--no-fail]

Every request is measured on its own fresh tables (a new ``moto.mock_aws``, tables from the
template, as the unit tests' ``tables`` fixture): a route whose work grows with what else is
stored (a fan-out over accounts, a list) is counted for the scene alone, not for whatever
the operations measured before it left behind. No cold-start calls were seen (pynamodb builds
its table metadata from the models; no DescribeTable), so no warm-up request is sent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "shared" / "python")]

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")  # the service's logs would drown the table
warnings.filterwarnings("ignore", category=UserWarning, module="aws_lambda_powertools")  # "no idempotency key"

import tests.conftest  # noqa: E402, F401 - sets the functions' environment before the service is imported
from scripts.bench_report import Row, Section  # noqa: E402

BUDGETS = ROOT / "bench" / "round_trip_budgets.json"
READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"})
TRANSACTIONS = frozenset({"TransactWriteItems"})
START = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


# ---------------------------------------------------------------- budgets


@dataclass(frozen=True)
class Budget:
    calls: int
    reads: int | None = None

    def describe(self) -> str:
        return f"{self.calls}" if self.reads is None else f"{self.calls} (≤{self.reads}r)"


def load_budgets(path: Path) -> tuple[Budget, dict[str, Budget]]:
    """The default budget and each operation's own, from ``path``."""
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    default = Budget(int(document["default"]["calls"]), document["default"].get("reads"))
    own = {
        name: Budget(int(entry["calls"]), entry.get("reads")) for name, entry in document.get("operations", {}).items()
    }
    return default, own


# ---------------------------------------------------------------- measuring


@dataclass
class Measurement:
    operation: str
    caller: str
    status: int
    calls: list[str] = field(default_factory=list)  # ``Operation:Table`` in order (the store's excluded)
    idempotency: list[str] | None = None  # the store's calls of the keyed request (None: not measured)
    keyed_main: list[str] | None = None  # the keyed request's other calls (should equal ``calls``)
    keyed_status: int | None = None
    budget: Budget = field(default_factory=lambda: Budget(3))

    @property
    def reads(self) -> int:
        return sum(1 for name in self.calls if _op(name) in READS)

    @property
    def writes(self) -> int:
        return sum(1 for name in self.calls if _op(name) in WRITES)

    @property
    def transactions(self) -> int:
        return sum(1 for name in self.calls if _op(name) in TRANSACTIONS)

    @property
    def other(self) -> int:
        return len(self.calls) - self.reads - self.writes - self.transactions

    @property
    def over(self) -> int:
        """By how many calls (or reads, if only those) the budget is exceeded; 0 if within."""
        by_calls = len(self.calls) - self.budget.calls
        by_reads = self.reads - self.budget.reads if self.budget.reads is not None else 0
        return max(by_calls, by_reads, 0)

    @property
    def answered_2xx(self) -> bool:
        return 200 <= self.status < 300


def _label(call: Any) -> str:
    """``Operation:Table`` (``+``-joined for a transaction), the stack's prefix and ``Table`` dropped."""
    tables = "+".join(name.rsplit("-", 1)[-1].removesuffix("Table") for name in call.tables)
    return f"{call.operation}:{tables}" if tables else call.operation


def _op(label: str) -> str:
    return label.split(":", 1)[0]


def _split(calls: list[Any], store: str) -> tuple[list[str], list[str]]:
    """(the service's own calls, the idempotency store's calls), each labelled ``Operation:Table``."""
    own = [_label(c) for c in calls if not any(t.endswith(store) for t in c.tables)]
    kept = [_label(c) for c in calls if any(t.endswith(store) for t in c.tables)]
    return own, kept


def measure(op: Any, *, keyed: bool, budget: Budget) -> Measurement:
    import boto3
    from moto import mock_aws

    from lifecycle.core.settings import get_settings
    from local_runtime import template
    from tests.conftest import point_service_at
    from tests.faults import FaultInjector
    from tests.route_examples import EXAMPLES, InProcessClient, build_scene
    from tests.unit.conftest import create_tables

    example = EXAMPLES[op.key]
    client = InProcessClient(START, Path(get_settings().local_outbox_path or ""))
    store = get_settings().idempotency_table

    def send(headers: dict[str, str] | None) -> tuple[int, list[str], list[str]]:
        with mock_aws(), _Environment() as environment:
            create_tables(boto3.client("dynamodb", region_name="eu-central-1"), template.Resolver(template.load()))
            point_service_at({}, environment)
            client.set_clock(None)
            scene = build_scene(client, example.needs)
            request = example.build(scene)
            claims = None if example.caller == "public" else scene.claims(example.caller)
            sent = {**request.headers, **(headers or {})}  # the example's own (a webhook's signature) and the key
            with FaultInjector() as counter:
                answer = client.send(op.method, request.url, body=request.body, claims=claims, headers=sent or None)
            point_service_at({}, environment)
        own, kept = _split(counter.calls, store)
        return answer.status, own, kept

    status, own, kept = send(None)
    result = Measurement(op.id, example.caller, status, own, budget=budget)
    if kept:  # a request without a key must not touch the store: show it rather than hide it
        result.calls = own + kept
    if keyed and op.mutating:
        keyed_status, keyed_own, keyed_kept = send({"Idempotency-Key": "bench-round-trips"})
        result.keyed_status, result.keyed_main, result.idempotency = keyed_status, keyed_own, keyed_kept
    return result


# ---------------------------------------------------------------- report


def _tally(names: list[str]) -> str:
    counts = Counter(names)
    return " ".join(f"{name} x{n}" if n > 1 else name for name, n in counts.items()) or "-"


def report(results: list[Measurement]) -> list[str]:
    rows = _ordered(results)
    width = max(len(r.operation) for r in rows)
    header = (
        f"{'operation':<{width}}  {'caller':<6}  {'status':>6}  {'total':>5}  {'reads':>5}  {'writes':>6}  "
        f"{'trans':>5}  {'budget':>9}  {'over':>4}  {'idem':>4}  calls (idempotency store's, keyed)"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        over = f"+{r.over}" if r.over else ""
        idem = "-" if r.idempotency is None else str(len(r.idempotency))
        detail = _tally(r.calls)
        if r.idempotency is not None:
            detail += f"  [store: {_tally([_op(n) for n in r.idempotency])}]"
            if r.keyed_status != r.status:
                detail += f"  keyed request answered {r.keyed_status}"
            if r.keyed_main is not None and Counter(r.keyed_main) != Counter(r.calls):
                detail += f"  keyed main path differs: {_tally(r.keyed_main)}"
        if r.other:
            detail += f"  ({r.other} other)"
        lines.append(
            f"{r.operation:<{width}}  {r.caller:<6}  {r.status:>6}  {len(r.calls):>5}  {r.reads:>5}  {r.writes:>6}  "
            f"{r.transactions:>5}  {r.budget.describe():>9}  {over:>4}  {idem:>4}  {detail}"
        )
    return lines


def _ordered(results: list[Measurement]) -> list[Measurement]:
    return sorted(results, key=lambda r: (-len(r.calls), -r.over, r.operation))


def section(results: list[Measurement], seconds: float) -> Section:
    """make bench's rows (one per operation) and the table of where the calls go, as markdown."""
    rows = [
        Row(
            "round trips",
            r.operation,
            f"{len(r.calls)} calls ({r.reads} reads, {r.writes} writes, {r.transactions} transactions)",
            f"<= {r.budget.calls}" + (f" (<= {r.budget.reads} read)" if r.budget.reads is not None else ""),
            "miss" if r.over else "pass",
        )
        for r in _ordered(results)
    ]
    table = [
        "| operation | calls | reads | budget | over | the calls |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
        *(
            f"| {r.operation} | {len(r.calls)} | {r.reads} | {r.budget.describe()} | "
            f"{f'+{r.over}' if r.over else ''} | {_tally(r.calls)} |"
            for r in _ordered(results)
        ),
    ]
    markdown = "\n".join(["## DynamoDB round trips per route", "", *table, "", summary(results, seconds), ""])
    return Section("round trips", rows, markdown)


def summary(results: list[Measurement], seconds: float) -> str:
    over = [r for r in results if r.over]
    totals = [len(r.calls) for r in results]
    keyed = [r for r in results if r.idempotency is not None]
    idem = f", idempotency store adds {min(len(r.idempotency or []) for r in keyed)}-" if keyed else ""
    idem += f"{max(len(r.idempotency or []) for r in keyed)} calls per keyed request" if keyed else ""
    return (
        f"round trips: {len(results)} operations, {sum(totals)} DynamoDB calls in all "
        f"(max {max(totals)}, mean {sum(totals) / len(totals):.1f}), {len(over)} over budget "
        f"({', '.join(f'{r.operation} +{r.over}' for r in sorted(over, key=lambda r: -r.over)) or 'none'}){idem}; "
        f"{sum(1 for r in results if not r.answered_2xx)} examples not 2xx; {seconds:.0f} s"
    )


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budgets", type=Path, default=BUDGETS, help="the budgets file (default: %(default)s)")
    parser.add_argument("--only", action="append", default=[], help="measure only this 'METHOD /path' (repeatable)")
    parser.add_argument("--no-keyed", action="store_true", help="skip the keyed request (idempotency overhead)")
    parser.add_argument("--no-fail", action="store_true", help="report only: exit 0 even when over budget")
    parser.add_argument("--json", type=Path, default=None, help="write make bench's rows here (scripts/bench.py)")
    args = parser.parse_args(argv)

    from tests.route_examples import assert_catalogued, operations

    default, own = load_budgets(args.budgets)
    ops = operations()
    assert_catalogued(ops)
    unknown = sorted(set(own) - {op.id for op in ops})
    if unknown:
        print(f"budgets for operations the OpenAPI document does not have: {unknown}", file=sys.stderr)
        return 2
    if args.only:
        missing = sorted(set(args.only) - {op.id for op in ops})
        if missing:
            print(f"no such operations: {missing}", file=sys.stderr)
            return 2
        ops = [op for op in ops if op.id in args.only]

    started = time.monotonic()
    results: list[Measurement] = []
    for op in ops:
        results.append(measure(op, keyed=not args.no_keyed, budget=own.get(op.id, default)))
    for line in report(results):
        print(line)
    print()
    seconds = time.monotonic() - started
    print(summary(results, seconds))
    if args.json is not None:
        section(results, seconds).write(args.json)
    not_2xx = [r.operation for r in results if not r.answered_2xx]
    if not_2xx:
        print(f"examples that did not answer 2xx (not their main path): {not_2xx}", file=sys.stderr)
    failed = bool(not_2xx) or any(r.over for r in results)
    return 1 if failed and not args.no_fail else 0


class _Environment:
    """``point_service_at``'s ``monkeypatch``: sets variables, restores them on exit."""

    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def setenv(self, name: str, value: str) -> None:
        import os

        self._saved.setdefault(name, os.environ.get(name))
        os.environ[name] = value

    def __enter__(self) -> _Environment:
        return self

    def __exit__(self, *_: object) -> None:
        import os

        for name, value in self._saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


if __name__ == "__main__":
    raise SystemExit(main())
