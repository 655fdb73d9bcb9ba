"""Campaign counters on DynamoDB Local (R-VOUCH-1, R-VOUCH-2): 1,000 redemptions of one campaign
from 32 threads through the handlers, and reuse attempts, then the Vouchers table's own stream
consumed by the template's CampaignCountersFunction through the local runtime's poller
(``tests.support.deliver``), and the whole stream delivered a second time: the counts are exact."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.streams_fixtures import campaign_counts, new_campaign, new_codes, redeem
from tests.support import Invoked, deliver, invoke

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("world")]

REDEMPTIONS = 1_000
THREADS = 32
CAMPAIGN = "launch"
FUNCTION = "CampaignCountersFunction"


def _redeem(n: int, code: str, tag: str) -> int:
    # The per-IP signup limit (R-REG-2) counts each caller alone.
    return redeem(code, tag, source_ip=f"10.{n // 250}.{n % 250}.7")


def records(delivered: list[Invoked]) -> int:
    return sum(len(invoked.event["Records"]) for invoked in delivered)


def test_r_vouch_1_r_vouch_2_a_thousand_concurrent_redemptions_are_counted_exactly_once_however_delivered() -> None:
    new_campaign(CAMPAIGN, name="Launch", redeem_by="2027-06-30")
    # One request: an import this large is written from threads.
    codes = new_codes(REDEMPTIONS + 10, CAMPAIGN, per_request=REDEMPTIONS + 10)
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
    before = campaign_counts(CAMPAIGN)
    assert before["codes"] == {"total": REDEMPTIONS + 10, "redeemed": 0, "abuse_signals": 0}

    first = deliver(FUNCTION)  # a batch given up on would fail here
    counted = campaign_counts(CAMPAIGN)
    assert counted["codes"] == {"total": REDEMPTIONS + 10, "redeemed": REDEMPTIONS, "abuse_signals": 50}
    assert counted["counts_as_of"] is not None

    # At least once: the stream read again from TRIM_HORIZON delivers every record again, and
    # each batch is delivered twice more by hand.
    second = deliver(FUNCTION, replay=True)
    assert records(second) == records(first)
    for again in second[:3]:
        assert invoke(FUNCTION, again.event) == {"batchItemFailures": []}
    assert campaign_counts(CAMPAIGN)["codes"] == counted["codes"]
    print(
        f"\n{REDEMPTIONS} redemptions from {THREADS} threads in {took:.1f} s; "
        f"{records(first)} stream records in {len(first)} batches"
    )
