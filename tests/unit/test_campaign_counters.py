"""CampaignCountersFunction over moto's DynamoDB Streams: campaigns' redeemed counts and abuse
signals counted from the Vouchers table's stream, each record once however often it is delivered
(R-VOUCH-1, R-VOUCH-2), a record that cannot be counted failing alone."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifecycle.core import clock
from lifecycle.core.settings import get_settings
from lifecycle.storage import Campaign, Claim, Voucher
from lifecycle.storage.claims import COUNTED
from lifecycle.vouchers import counters
from tests import streams_fixtures
from tests.faults import Fault, FaultInjector
from tests.streams_fixtures import campaign_counts, new_campaign, new_codes
from tests.support import STAFF, call, deliver, invoke, ok, stream_batches

pytestmark = pytest.mark.usefixtures("world")

FUNCTION = "CampaignCountersFunction"


def campaign(campaign_id: str = "deal") -> None:
    new_campaign(campaign_id)


def codes(count: int, campaign_id: str = "deal") -> list[str]:
    """``count`` new codes, at most 100 a request: the import writes larger ones from threads,
    which moto does not make safe (tests/unit/test_no_thread_races_on_moto.py)."""
    return new_codes(count, campaign_id, per_request=100)


def redeem(code: str, tag: str) -> int:
    return streams_fixtures.redeem(code, tag, source_ip=f"10.1.0.{sum(map(ord, tag)) % 250}")


def mark_redeemed(count: int, campaign_id: str = "deal") -> None:
    """``count`` codes of the campaign redeemed as a redemption's transaction sets them (no accounts)."""
    codes(count, campaign_id)
    now = clock.now()
    for n, voucher in enumerate(Voucher.scan(Voucher.campaign_id == campaign_id)):  # test-only Scan
        if n < count and voucher.redeemed_at is None:
            voucher.update(actions=[Voucher.redeemed_at.set(now), Voucher.account_id.set(f"acc-{n}")])


def counts(campaign_id: str = "deal") -> dict[str, Any]:
    return campaign_counts(campaign_id)


def records() -> list[dict[str, Any]]:
    return [record for event in stream_batches(FUNCTION) for record in event["Records"]]


def answers() -> list[Any]:
    """The counters' answers to what the stream holds that they have not been given yet."""
    return [invoked.answer for invoked in deliver(FUNCTION)]


def test_r_vouch_1_a_redemption_delivered_twice_is_counted_once() -> None:
    campaign()
    (code,) = codes(1)
    assert redeem(code, "first-co") == 201
    assert counts()["codes"] == {"total": 1, "redeemed": 0, "abuse_signals": 0}
    assert counts()["counts_as_of"] is None  # nothing counted yet

    (delivered,) = deliver(FUNCTION)
    assert delivered.answer == {"batchItemFailures": []}
    event = delivered.event
    assert invoke(FUNCTION, copy.deepcopy(event)) == {"batchItemFailures": []}  # the same eventIDs again
    deliver(FUNCTION, replay=True)  # and the whole stream once more

    seen = counts()
    assert seen["codes"] == {"total": 1, "redeemed": 1, "abuse_signals": 0}
    (redeemed,) = [r for r in event["Records"] if r["eventName"] == "MODIFY"]
    created = redeemed["dynamodb"]["ApproximateCreationDateTime"]
    assert seen["counts_as_of"] == clock.to_iso(datetime.fromtimestamp(created, UTC))
    marker = Claim.get(COUNTED + redeemed["eventID"])
    assert marker.ref == "deal"
    # Kept past every possible delivery: the stream's 24 h from the record's own time.
    assert marker.expires_at - datetime.fromtimestamp(created, UTC) > timedelta(hours=24)


def test_r_vouch_2_reuse_attempts_are_counted_as_abuse_signals_once_each() -> None:
    campaign()
    (code,) = codes(1)
    assert redeem(code, "holder-co") == 201
    assert [redeem(code, f"again-{n}") for n in range(3)] == [409, 409, 409]
    assert counts()["codes"]["abuse_signals"] == 0  # the attempts wrote no campaign item
    deliver(FUNCTION)
    deliver(FUNCTION, replay=True)
    assert counts()["codes"] == {"total": 1, "redeemed": 1, "abuse_signals": 3}


def test_r_vouch_2_a_reuse_attempts_increase_counts_by_how_much_it_rose() -> None:
    campaign()
    (code,) = codes(1)
    assert redeem(code, "holder-co") == 201
    (voucher,) = Voucher.scan()  # test-only Scan
    voucher.update(actions=[Voucher.reuse_attempts.add(2)])
    deliver(FUNCTION)
    assert counts()["codes"]["abuse_signals"] == 2


def test_r_vouch_1_records_that_change_no_count_are_passed_over() -> None:
    """Imports, a revocation and the purge unlinking the account change nothing counted."""
    campaign()
    (code,) = codes(1)
    ok(
        call(
            "POST",
            f"/admin/vouchers/{code}/revoke",
            body={"reason": "fraud", "evidence": "posted on a forum"},
            claims=STAFF,
        ),
        200,
    )
    assert answers() == [{"batchItemFailures": []}]
    assert counts()["codes"] == {"total": 1, "redeemed": 0, "abuse_signals": 0}
    assert Claim.count() == 0  # test-only Scan: no marker for what was not counted


def test_r_vouch_1_one_unreadable_record_fails_alone_and_the_rest_are_counted() -> None:
    campaign()
    mark_redeemed(3)
    (event,) = stream_batches(FUNCTION)
    modifies = [r for r in event["Records"] if r["eventName"] == "MODIFY"]
    assert len(modifies) == 3
    bad = modifies[1]
    del bad["dynamodb"]["NewImage"]["campaign_id"]  # a redemption that names no campaign
    broken = modifies[2]
    broken["dynamodb"]["NewImage"]["reuse_attempts"] = {"N": "not a number"}

    answer = invoke(FUNCTION, event)

    failed = [item["itemIdentifier"] for item in answer["batchItemFailures"]]
    assert failed == [bad["dynamodb"]["SequenceNumber"], broken["dynamodb"]["SequenceNumber"]]
    assert counts()["codes"]["redeemed"] == 1
    deliver(FUNCTION)  # the records as the table really streamed them
    assert counts()["codes"]["redeemed"] == 3


def test_r_vouch_1_a_batch_is_counted_per_campaign_in_transactions_of_at_most_100_items() -> None:
    campaign("deal")
    campaign("other")
    mark_redeemed(150, "deal")
    mark_redeemed(2, "other")
    with FaultInjector() as seen:
        deliver(FUNCTION)
    transactions = [c for c in seen.calls if c.operation == "TransactWriteItems"]
    settings = get_settings()
    assert all(c.items <= 100 for c in transactions)
    assert all(c.tables.count(settings.campaigns_table) == 1 for c in transactions)
    assert sum(c.items - 1 for c in transactions) == 152  # one marker per record
    assert counts("deal")["codes"]["redeemed"] == 150
    assert counts("other")["codes"]["redeemed"] == 2


def test_r_vouch_1_a_batch_whose_records_were_partly_counted_counts_only_the_rest() -> None:
    campaign()
    mark_redeemed(12)
    all_records = records()
    modifies = [r for r in all_records if r["eventName"] == "MODIFY"]
    assert invoke(FUNCTION, {"Records": modifies[:5]}) == {"batchItemFailures": []}
    assert counts()["codes"]["redeemed"] == 5
    with FaultInjector() as seen:
        assert invoke(FUNCTION, {"Records": all_records}) == {"batchItemFailures": []}
    # The first attempt was cancelled by the markers that exist; the second counted the rest.
    assert [c.items for c in seen.calls if c.operation == "TransactWriteItems"] == [13, 8]
    assert counts()["codes"]["redeemed"] == 12


def test_r_vouch_1_a_throttled_count_fails_its_records_and_their_redelivery_counts_them() -> None:
    campaign()
    mark_redeemed(2)
    throttled = Fault("ProvisionedThroughputExceededException", operation="TransactWriteItems", at=1)
    with FaultInjector(throttled):
        failed, retried = deliver(FUNCTION)
    modifies = [r["dynamodb"]["SequenceNumber"] for r in records() if r["eventName"] == "MODIFY"]
    assert [item["itemIdentifier"] for item in failed.answer["batchItemFailures"]] == modifies
    # Retried from the first failed record on, which the redelivery counts.
    assert [r["dynamodb"]["SequenceNumber"] for r in retried.event["Records"]] == modifies
    assert retried.answer == {"batchItemFailures": []}
    assert counts()["codes"]["redeemed"] == 2


def test_r_vouch_1_a_count_throttled_past_every_retry_fails_loudly_and_is_counted_when_delivered_again() -> None:
    campaign()
    mark_redeemed(2)
    throttled = Fault("ProvisionedThroughputExceededException", operation="TransactWriteItems")
    with FaultInjector(throttled), pytest.raises(AssertionError, match="RetryAttemptsExhausted"):
        deliver(FUNCTION)
    assert counts()["codes"]["redeemed"] == 0
    deliver(FUNCTION, replay=True)
    assert counts()["codes"]["redeemed"] == 2


def test_r_vouch_1_a_batch_of_which_nothing_was_counted_is_answered_with_every_record() -> None:
    campaign()
    mark_redeemed(2)
    modifies = [r for r in records() if r["eventName"] == "MODIFY"]
    throttled = Fault("ProvisionedThroughputExceededException", operation="TransactWriteItems")
    with FaultInjector(throttled):
        answer = invoke(FUNCTION, {"Records": modifies})
    assert answer == {"batchItemFailures": [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in modifies]}


def test_r_vouch_2_a_reuse_attempt_on_a_code_the_purge_unlinked_still_counts() -> None:
    campaign()
    (code,) = codes(1)
    assert redeem(code, "gone-co") == 201
    (voucher,) = Voucher.scan()  # test-only Scan
    voucher.update(actions=[Voucher.account_id.remove()])  # as the purge unlinks an ended account
    assert redeem(code, "late-co") == 409
    assert answers() == [{"batchItemFailures": []}]
    assert counts()["codes"] == {"total": 1, "redeemed": 1, "abuse_signals": 1}


def test_r_vouch_1_counts_for_a_campaign_whose_item_is_gone_are_dropped_not_retried() -> None:
    campaign()
    mark_redeemed(1)
    Campaign("deal").delete()
    assert answers() == [{"batchItemFailures": []}]
    assert Campaign.count() == 0  # test-only Scan: no half campaign made by an ADD


def test_r_vouch_1_the_change_a_record_makes_is_read_from_its_images() -> None:
    base: dict[str, Any] = {
        "eventID": "e-1",
        "eventName": "MODIFY",
        "dynamodb": {
            "ApproximateCreationDateTime": 1764072000,
            "SequenceNumber": "100",
            "OldImage": {"campaign_id": {"S": "deal"}, "reuse_attempts": {"N": "1"}},
            "NewImage": {
                "campaign_id": {"S": "deal"},
                "reuse_attempts": {"N": "4"},
                "redeemed_at": {"S": "2026-11-25T12:00:00.000000+0000"},
                "account_id": {"S": "acc-1"},
            },
        },
    }
    change = counters.change_of(base)
    assert change is not None
    assert (change.campaign_id, change.redeemed, change.abuse_signals, change.account_id) == ("deal", 1, 3, "acc-1")
    assert counters.change_of({**base, "eventName": "INSERT"}) is None
    assert counters.change_of({**base, "eventName": "REMOVE"}) is None
    with pytest.raises(counters.UncountableRecord):
        counters.change_of({**base, "eventName": "RENAME"})
    with pytest.raises(counters.UncountableRecord):
        counters.change_of({"eventName": "MODIFY", "dynamodb": base["dynamodb"]})  # no eventID
