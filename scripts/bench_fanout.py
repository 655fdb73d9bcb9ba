"""Benchmark: a price change fanned out to many owners (R-PAY-9) through the local runtime.

``--owners`` subscriptions of one plan are put straight into the runtime's DynamoDB Local
(BatchWriteItem, 25 a call), then ``POST /admin/prices`` schedules a change of that plan and
the run times: the request (it saves the change only), the fan-out until ``GET /admin/prices``
says ``fanout: complete`` (the Prices stream's PriceFanoutFunction records one notice per
owner), and, where the template runs a stream consumer of the Notifications table (a notifier
that sends the recorded notices), until every notice has ``sent_at``.

The runtime is started as the e2e tier and bench_latency.py start it (``tests/e2e/conftest.
start_runtime``: in memory, schedules off, stream consumers on). DynamoDB calls per owner are
computed from the design (``lifecycle.billing.price_fanout``), not counted: the functions run
inside the runtime's process. Per page of ``OWNERS_PAGE`` owners: one Query of the by-price
index, one BatchGetItem, one TransactWriteItems per owner and one UpdateItem of the change
(a full last page is followed by an empty one); one GetItem of the change per run.

    make bench-fanout                                   # 10,000 owners
    .venv/bin/python scripts/bench_fanout.py --owners 1000
    .venv/bin/python scripts/bench_fanout.py --json PATH  # also rows for make bench's table
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "shared" / "python")]

from lifecycle.billing.price_fanout import OWNERS_PAGE  # noqa: E402
from local_runtime import dynamodb_local, template  # noqa: E402
from scripts.bench_report import Row, Section, machine  # noqa: E402
from tests.e2e.conftest import Runtime, start_runtime  # noqa: E402

DYNAMODB_LINE = re.compile(r"^DynamoDB\s+(http://\S+)", re.MULTILINE)
PLAN, BILLING_PERIOD = "ticket", "monthly"
# API Gateway waits 30 s; the request must not grow with the owners.
REQUEST_TARGET_MS = 1000.0
POLL_SECONDS = 0.5
DEADLINE_SECONDS = 3600.0


def iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%S.%f+0000")  # pynamodb's UTCDateTimeAttribute format


def owner_item(index: int, created: datetime) -> dict[str, Any]:
    account_id = f"acc_fanout_{index:07d}"
    return {
        "id": {"S": account_id},
        "status": {"S": "active"},
        "plan": {"S": PLAN},
        "billing_period": {"S": BILLING_PERIOD},
        "created_at": {"S": iso(created)},
        "owner_email": {"S": f"owner{index}@example.com"},
        "lifetime": {"BOOL": False},
        "seats": {"N": "1"},
        "price_key": {"S": f"{PLAN}#{BILLING_PERIOD}"},
    }


def seed(endpoint: str, table: str, owners: int) -> float:
    started = time.perf_counter()
    client = dynamodb_local.client(endpoint)
    created = datetime.now(UTC) - timedelta(days=60)

    def batches() -> Iterator[list[dict[str, Any]]]:
        for start in range(0, owners, 25):
            yield [{"PutRequest": {"Item": owner_item(i, created)}} for i in range(start, min(start + 25, owners))]

    def write(batch: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {table: batch}
        while pending:
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, batches()))
    return time.perf_counter() - started


def notifier_runs(document: dict[str, Any]) -> bool:
    """Whether a function of the template consumes the Notifications table's stream (a notifier)."""
    consumers = template.stream_consumers(document, template.Resolver(document))
    return any(consumer.table == "NotificationsTable" for consumer in consumers)


def listed(runtime: Runtime, token: str, change_id: str) -> dict[str, Any]:
    reply = runtime.get("/admin/prices", token=token)
    reply.raise_for_status()
    (found,) = [item for item in reply.json()["items"] if item["id"] == change_id]
    return dict(found)


def sent_notices(endpoint: str, table: str) -> int:
    """Price change notices with ``sent_at`` (a counting Scan of the bench's own table)."""
    client = dynamodb_local.client(endpoint)
    count, after = 0, None
    while True:
        page = client.scan(
            TableName=table,
            Select="COUNT",
            FilterExpression="#t = :t AND attribute_exists(sent_at)",
            ExpressionAttributeNames={"#t": "type"},
            ExpressionAttributeValues={":t": {"S": "price_change_notice"}},
            **({"ExclusiveStartKey": after} if after else {}),
        )
        count += int(page["Count"])
        after = page.get("LastEvaluatedKey")
        if not after:
            return count


def calls_per_owner(owners: int) -> float:
    """DynamoDB calls of one fan-out run per owner, from the design (module doc)."""
    # A full last page still has a next key: one more (empty) page ends the walk.
    queries = owners // OWNERS_PAGE + 1
    batch_gets = math.ceil(owners / OWNERS_PAGE)
    return (1 + queries + batch_gets + queries + owners) / owners


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--owners", type=int, default=10_000)
    parser.add_argument("--json", type=Path, help="also write the results for make bench's table to this file")
    args = parser.parse_args()
    owners = args.owners
    document = template.load()
    resolver = template.Resolver(document)
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as data_dir, start_runtime(Path(data_dir)) as runtime:
        found = DYNAMODB_LINE.search(runtime.output())
        if found is None:
            raise RuntimeError(f"the runtime did not print its DynamoDB endpoint:\n{runtime.output()}")
        endpoint = found.group(1)
        seeded = seed(endpoint, resolver.table_name("AccountsTable"), owners)
        print(f"seeded {owners:,} owners of {PLAN}#{BILLING_PERIOD} in {seeded:.1f} s", flush=True)

        staff = runtime.token("staff-1", None, "staff")
        effective_at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=31)
        change = {
            "plan": PLAN,
            "billing_period": BILLING_PERIOD,
            "price": {"amount": 2500, "currency": "USD"},
            "effective_at": effective_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        # The function's environment is made first (its cold start is bench_cold_start's subject):
        # a change refused for its short notice runs the same route and saves nothing.
        too_soon = {**change, "effective_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        warm = runtime.post("/admin/prices", json=too_soon, token=staff, headers={"Idempotency-Key": uuid.uuid4().hex})
        assert warm.status_code == 422, warm.text
        started = time.perf_counter()
        reply = runtime.post("/admin/prices", json=change, token=staff, headers={"Idempotency-Key": uuid.uuid4().hex})
        request_ms = (time.perf_counter() - started) * 1000
        reply.raise_for_status()
        change_id = str(reply.json()["id"])
        print(f"POST /admin/prices answered {reply.status_code} in {request_ms:.0f} ms", flush=True)

        deadline = started + DEADLINE_SECONDS
        state = listed(runtime, staff, change_id)
        while state["fanout"] != "complete":
            if time.perf_counter() > deadline:
                raise RuntimeError(f"fan-out not complete after {DEADLINE_SECONDS:.0f} s: {state}")
            time.sleep(POLL_SECONDS)
            state = listed(runtime, staff, change_id)
        fanned_out = time.perf_counter() - started
        recorded = int(state["notified_accounts"])
        print(f"fan-out complete after {fanned_out:.1f} s: {recorded:,} notices recorded", flush=True)

        sent_seconds: float | None = None
        notifier = notifier_runs(document)
        if notifier:
            table = resolver.table_name("NotificationsTable")
            while sent_notices(endpoint, table) < recorded:
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"notices not all sent after {DEADLINE_SECONDS:.0f} s")
                time.sleep(POLL_SECONDS)
            sent_seconds = time.perf_counter() - started
            print(f"all {recorded:,} notices sent after {sent_seconds:.1f} s", flush=True)

    per_owner = calls_per_owner(owners)
    rows = [
        Row(
            "price fan-out",
            f"POST /admin/prices, {owners:,} owners",
            f"{request_ms:.0f} ms",
            f"< {REQUEST_TARGET_MS:.0f} ms",
            "pass" if request_ms < REQUEST_TARGET_MS else "miss",
        ),
        Row(
            "price fan-out",
            "notices recorded",
            f"{recorded:,} of {owners:,} in {fanned_out:.1f} s ({recorded / fanned_out:.0f} owners/s)",
            "every owner once",
            "pass" if recorded == owners else "miss",
        ),
        Row(
            "price fan-out",
            "DynamoDB calls per owner (from the design)",
            f"{per_owner:.3f}",
            "≤ 1.1",
            "pass" if per_owner <= 1.1 else "miss",
        ),
        Row(
            "price fan-out",
            "notices sent (notifier)",
            f"{recorded:,} in {sent_seconds:.1f} s" if sent_seconds is not None else "no notifier in the template",
            "every notice",
            "info",
        ),
    ]
    info = machine()
    summary = (
        f"{owners:,} owners seeded in {seeded:.0f} s; POST {request_ms:.0f} ms; fan-out {fanned_out:.1f} s "
        f"({recorded / fanned_out:.0f} owners/s); {per_owner:.3f} DynamoDB calls per owner (design); "
        f"{info['machine']}, {info['cpus']} CPUs, Python {info['python']}; {info['date']}"
    )
    print()
    print(summary)
    for row in rows:
        print(f"  {row.subject:45} {row.measured:45} {row.target:18} {row.result}")
    if args.json:
        Section("price fan-out", rows, summary).write(args.json)
    return 0 if recorded == owners else 1


if __name__ == "__main__":
    sys.exit(main())
