"""Campaign counters on DynamoDB Local (R-VOUCH-1, R-VOUCH-2): 1,000 redemptions of one campaign
from 32 threads through the handlers, and reuse attempts, then the Vouchers table's own stream
consumed by the template's CampaignCountersFunction through the local runtime's poller, and the
whole stream delivered a second time: the counts are exact."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from lifecycle.core.settings import Settings
from local_runtime import streams, template
from local_runtime.dynamodb_local import client
from tests.route_examples import registrant
from tests.support import STAFF, call, invoke, ok

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("world")]

REDEMPTIONS = 1_000
THREADS = 32
CAMPAIGN = "launch"
FUNCTION = "CampaignCountersFunction"


def _redeem(n: int, code: str, tag: str) -> int:
    ip = f"10.{n // 250}.{n % 250}.7"  # the per-IP signup limit (R-REG-2) counts each caller alone
    return call("POST", "/redemptions", body=registrant(tag, code=code), source_ip=ip).status


def _consumer(settings: Settings) -> template.StreamConsumer:
    document = template.load()
    stack = settings.vouchers_table.removesuffix("-VouchersTable")
    (consumer,) = [
        c for c in template.stream_consumers(document, template.Resolver(document, stack)) if c.function == FUNCTION
    ]
    assert consumer.table_name == settings.vouchers_table
    return consumer


def _consume(endpoint: str, consumer: template.StreamConsumer, dead_letters: Path) -> list[dict[str, Any]]:
    """One mapping from TRIM_HORIZON, polled until the stream holds nothing more for it; its batches."""
    batches: list[dict[str, Any]] = []

    def deliver(function: str, event: dict[str, Any]) -> Any:
        batches.append(event)
        return invoke(function, event)

    arn = client(endpoint).describe_table(TableName=consumer.table_name)["Table"]["LatestStreamArn"]
    poller = streams.StreamPoller(
        consumer,
        streams.streams_client(endpoint),
        arn,
        deliver,
        streams.DeadLetters(dead_letters),
        sleep=lambda _: None,
    )
    idle_since = time.monotonic()
    deadline = time.monotonic() + 300
    while time.monotonic() - idle_since < 2 * consumer.maximum_batching_window_seconds + 1:
        assert time.monotonic() < deadline, "the stream was not consumed in time"
        if poller.poll_once():
            idle_since = time.monotonic()
    return batches


def test_r_vouch_1_r_vouch_2_a_thousand_concurrent_redemptions_are_counted_exactly_once_however_delivered(
    dynamodb_local: str, world: Settings, tmp_path: Path
) -> None:
    ok(
        call(
            "POST",
            "/admin/campaigns",
            body={
                "campaign_id": CAMPAIGN,
                "name": "Launch",
                "price": {"amount": 5900, "currency": "USD"},
                "redeem_by": "2027-06-30",
            },
            claims=STAFF,
        ),
        201,
    )
    codes = ok(call("POST", f"/admin/campaigns/{CAMPAIGN}/codes", body={"count": REDEMPTIONS + 10}, claims=STAFF), 201)[
        "codes"
    ]
    redeemed = codes[:REDEMPTIONS]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        statuses = Counter(pool.map(lambda n: _redeem(n, redeemed[n], f"l{n:04d}"), range(REDEMPTIONS)))
    took = time.perf_counter() - started
    assert statuses == {201: REDEMPTIONS}, statuses
    # Reuse attempts (R-VOUCH-2): the first 30 codes once more, the first 10 of them twice more.
    reuses = [(REDEMPTIONS + n, redeemed[n % 30]) for n in range(50)]
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        refused = Counter(pool.map(lambda pair: _redeem(pair[0], pair[1], f"r{pair[0]:04d}"), reuses))
    assert refused == {409: 50}, refused
    before = ok(call("GET", f"/admin/campaigns/{CAMPAIGN}", claims=STAFF), 200)
    assert before["codes"] == {"total": REDEMPTIONS + 10, "redeemed": 0, "abuse_signals": 0}

    consumer = _consumer(world)
    first = _consume(dynamodb_local, consumer, tmp_path / "dead-letters.jsonl")
    counted = ok(call("GET", f"/admin/campaigns/{CAMPAIGN}", claims=STAFF), 200)
    assert counted["codes"] == {"total": REDEMPTIONS + 10, "redeemed": REDEMPTIONS, "abuse_signals": 50}
    assert counted["counts_as_of"] is not None

    # At least once: a second mapping from TRIM_HORIZON delivers every record again, and each
    # batch is delivered twice more by hand.
    second = _consume(dynamodb_local, consumer, tmp_path / "dead-letters.jsonl")
    assert sum(len(b["Records"]) for b in second) == sum(len(b["Records"]) for b in first)
    for event in second[:3]:
        assert invoke(FUNCTION, event) == {"batchItemFailures": []}
    again = ok(call("GET", f"/admin/campaigns/{CAMPAIGN}", claims=STAFF), 200)
    assert again["codes"] == counted["codes"]
    assert not (tmp_path / "dead-letters.jsonl").exists()
    print(
        f"\n{REDEMPTIONS} redemptions from {THREADS} threads in {took:.1f} s; "
        f"{sum(len(b['Records']) for b in first)} stream records in {len(first)} batches"
    )
