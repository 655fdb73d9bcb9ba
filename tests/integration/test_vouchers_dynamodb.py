"""Voucher codes on DynamoDB Local: thousands per request, duplicates, counters, races."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from lifecycle.core.settings import Settings
from lifecycle.storage import Campaign, Voucher
from lifecycle.vouchers import vouchers
from local_runtime import template
from tests.integration.conftest import started_dynamodb_local
from tests.support import STAFF, call
from tests.unit.test_campaigns import TERMS_DEAL

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("local_tables")]

CODES_PATH = "/admin/campaigns/appsumo-2019/codes"


@pytest.fixture
def dynamodb_local() -> Iterator[str]:
    """A DynamoDB Local of each test's own. With the Vouchers table's stream on, DynamoDB Local
    slows down as the stream records of every earlier test's tables pile up, deleted tables'
    included (10,000 generated codes: 8 s on a fresh one, 36-40 s after one 5,000-code import),
    and each test here writes thousands of codes."""
    with started_dynamodb_local() as endpoint:
        yield endpoint


def _function_timeout() -> float:
    props = template.resources(template.load(), "AWS::Serverless::Function")["CampaignsFunction"]["Properties"]
    return float(props["Timeout"])


def _codes(prefix: str, count: int) -> list[str]:
    return [f"{prefix}-{n:06d}" for n in range(count)]


def test_5000_codes_are_imported_within_the_function_timeout(local_tables: Settings) -> None:
    started = time.perf_counter()
    reply = call("POST", CODES_PATH, body={"codes": _codes("BULK", 5000)}, claims=STAFF)
    elapsed = time.perf_counter() - started
    print(f"\n5,000 codes imported into DynamoDB Local in {elapsed:.2f} s")
    assert reply.status == 201, reply.body
    assert (reply.body["added"], reply.body["duplicates"], reply.body["codes"]) == (5000, 0, [])
    assert elapsed < _function_timeout()
    assert Campaign.get("appsumo-2019", consistent_read=True).codes_total == 5000
    stored = Voucher.get(vouchers.code_hash("BULK-004999", local_tables.voucher_pepper), consistent_read=True)
    assert stored.campaign_id == "appsumo-2019"


def test_a_reimport_of_an_overlapping_set_reports_the_duplicates_and_counts_only_new_codes() -> None:
    first = call("POST", CODES_PATH, body={"codes": _codes("OVER", 3000)}, claims=STAFF)
    assert (first.body["added"], first.body["duplicates"]) == (3000, 0)

    # 1,500 stored before, 1,500 new, and 200 of the new ones repeated in other spellings.
    overlapping = _codes("OVER", 4500)[1500:]
    repeats = [code.lower().replace("-", " ") for code in overlapping[-200:]]
    second = call("POST", CODES_PATH, body={"codes": overlapping + repeats}, claims=STAFF)
    assert second.status == 201
    assert (second.body["added"], second.body["duplicates"]) == (1500, 1500 + 200)

    read = call("GET", "/admin/campaigns/appsumo-2019", claims=STAFF)
    assert read.body["codes"]["total"] == 4500


def test_concurrent_imports_of_the_same_codes_store_and_count_each_code_once() -> None:
    """Four importers race on one set: every code is written by exactly one of them."""
    call("POST", "/admin/campaigns", body={**TERMS_DEAL, "campaign_id": "race"}, claims=STAFF)
    codes = _codes("RACE", 800)
    with ThreadPoolExecutor(max_workers=4) as pool:
        replies = list(
            pool.map(
                lambda _: call("POST", "/admin/campaigns/race/codes", body={"codes": codes}, claims=STAFF), range(4)
            )
        )
    assert [reply.status for reply in replies] == [201] * 4
    assert sum(reply.body["added"] for reply in replies) == 800
    assert sum(reply.body["duplicates"] for reply in replies) == 3 * 800
    assert Campaign.get("race", consistent_read=True).codes_total == 800


def test_a_redeemed_code_survives_a_reimport_unchanged(local_tables: Settings) -> None:
    call("POST", CODES_PATH, body={"codes": ["KEEP-0001"]}, claims=STAFF)
    key = vouchers.code_hash("KEEP-0001", local_tables.voucher_pepper)
    item = Voucher.get(key, consistent_read=True)
    redeemed_at = datetime(2019, 10, 1, 9, 0, tzinfo=UTC)
    item.update(actions=[Voucher.redeemed_at.set(redeemed_at), Voucher.account_id.set("acc-1")])

    again = call("POST", CODES_PATH, body={"codes": ["keep 0001", *_codes("NEW", 150)]}, claims=STAFF)
    assert (again.body["added"], again.body["duplicates"]) == (150, 1)
    kept = Voucher.get(key, consistent_read=True)
    assert (kept.redeemed_at, kept.account_id, kept.imported_at) == (redeemed_at, "acc-1", item.imported_at)


def test_10000_generated_codes_are_remembered_for_an_idempotent_retry() -> None:
    """The largest response fits the idempotency record (a DynamoDB item is at most 400 KB)."""
    key = {"idempotency-key": "gen-10000"}
    started = time.perf_counter()
    first = call("POST", CODES_PATH, body={"count": 10_000}, claims=STAFF, headers=key)
    elapsed = time.perf_counter() - started
    print(f"\n10,000 codes generated into DynamoDB Local in {elapsed:.2f} s")
    assert first.status == 201, first.body
    assert len(set(first.body["codes"])) == first.body["added"] == 10_000
    again = call("POST", CODES_PATH, body={"count": 10_000}, claims=STAFF, headers=key)
    assert again.body == first.body
    assert Campaign.get("appsumo-2019", consistent_read=True).codes_total == 10_000
