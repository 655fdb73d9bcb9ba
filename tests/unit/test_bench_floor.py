"""The throughput floor's pairs (scripts/bench_latency.py): each a redemption's recorded calls with
fresh ids, its own voucher and campaign, and the rate limits out of reach; nothing else changed."""

from __future__ import annotations

import json

from scripts import bench_latency
from scripts.bench_latency import RedemptionShape

ACCOUNT = "acc_0123456789abcdef0123"
CODE_HASH = "ab" * 32
IP_KEY = "signup-ip:29943533:60c3218e39e65bd3e938771ae4b4bb1b"
EMAIL_KEY = "signup-email:29943533:f3713a4d7befdbf5522663d412e03192"


def _shape() -> RedemptionShape:
    get = {"TableName": "s-VouchersTable", "Key": {"code_hash": {"S": CODE_HASH}}, "ConsistentRead": True}
    limit = {
        "ConditionExpression": "(attribute_not_exists (#0) OR #0 < :0)",
        "UpdateExpression": "SET #1 = :1 ADD #0 :2",
        "ExpressionAttributeValues": {":0": {"N": "1000"}, ":1": {"N": "1"}, ":2": {"N": "1"}},
    }
    transaction = {
        "TransactItems": [
            {"Put": {"TableName": "s-AccountsTable", "Item": {"id": {"S": ACCOUNT}, "subdomain": {"S": "c-tag123-r"}}}},
            {"Put": {"TableName": "s-AuditTable", "Item": {"account_id": {"S": ACCOUNT}, "at": {"S": "2026-12-07"}}}},
            {"Update": {"TableName": "s-RateLimitsTable", "Key": {"key": {"S": IP_KEY}}, **limit}},
            {"Update": {"TableName": "s-RateLimitsTable", "Key": {"key": {"S": EMAIL_KEY}}, **limit}},
            {"Update": {"TableName": "s-VouchersTable", "Key": {"code_hash": {"S": CODE_HASH}}}},
            {"Update": {"TableName": "s-CampaignsTable", "Key": {"id": {"S": "deal-1"}}}},
        ],
        "ClientRequestToken": "token",
    }
    calls = [("GetItem", get), ("TransactWriteItems", transaction), ("UpdateItem", {})]
    return RedemptionShape(calls, "tag123-r", "deal-1", CODE_HASH, {"code_hash": {"S": CODE_HASH}})


def test_each_pair_has_fresh_ids_its_own_voucher_and_a_campaign_in_turn() -> None:
    shape = _shape()
    pairs = bench_latency.floor_pairs(shape, ["deal-a", "deal-b"], 3)

    hashes = {get["Key"]["code_hash"]["S"] for get, _ in pairs}
    assert len(hashes) == 3
    assert CODE_HASH not in hashes
    for index, (get, transaction) in enumerate(pairs):
        items = transaction["TransactItems"]
        account = items[0]["Put"]["Item"]["id"]["S"]
        assert account.startswith("acc_")
        assert len(account) == len(ACCOUNT)
        assert account != ACCOUNT
        assert items[1]["Put"]["Item"]["account_id"]["S"] == account  # the same fresh id wherever it recurs
        assert "tag123-r" not in json.dumps(transaction)
        assert items[4]["Update"]["Key"]["code_hash"] == get["Key"]["code_hash"]
        assert items[5]["Update"]["Key"]["id"]["S"] == ["deal-a", "deal-b"][index % 2]
        assert transaction["ClientRequestToken"] != "token"
    assert len({t["TransactItems"][0]["Put"]["Item"]["id"]["S"] for _, t in pairs}) == 3


def test_the_ip_counter_is_shared_as_by_the_redemptions_and_no_limit_is_reached() -> None:
    (_, transaction), *_ = bench_latency.floor_pairs(_shape(), ["deal-1"], 1)
    ip, email = (entry["Update"] for entry in transaction["TransactItems"][2:4])

    assert ip["Key"]["key"]["S"] == IP_KEY
    assert email["Key"]["key"]["S"] != EMAIL_KEY  # a new email's counter, as each redemption's
    for update in (ip, email):
        assert update["ExpressionAttributeValues"][":0"] == {"N": bench_latency.UNLIMITED}
        assert update["ExpressionAttributeValues"][":2"] == {"N": "1"}
    assert _shape().others() == ["UpdateItem"]
