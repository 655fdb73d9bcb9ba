"""The notifier over HTTP: the local runtime's stream poller runs the template's NotifierFunction on
the Notifications table's stream (RULES.md "Notify"). A replayed request and a notice written again
send nothing twice; a notice record the notifier cannot read fails alone, is retried and
dead-lettered as Lambda's mapping would, and the notices after it are still sent."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import boto3
import pytest

from local_runtime import streams, template
from local_runtime.dynamodb_local import LOCAL_AWS_ENV
from tests.e2e.conftest import Runtime
from tests.route_examples import registrant

pytestmark = pytest.mark.e2e


def _dynamodb(runtime: Runtime) -> Any:
    found = re.search(r"^DynamoDB\s+(\S+)", runtime.output(), re.MULTILINE)
    assert found, runtime.output()
    return boto3.client(
        "dynamodb",
        endpoint_url=found.group(1),
        region_name=template.LOCAL_REGION,
        aws_access_key_id=LOCAL_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )


def _notices(runtime: Runtime, account_id: str) -> list[dict[str, Any]]:
    return [item for item in runtime.get("/_local/outbox").json()["items"] if item["account_id"] == account_id]


def test_notify_r_a_replayed_request_and_a_rewritten_notice_are_sent_once(runtime: Runtime) -> None:
    tag = f"ntf-{uuid.uuid4().hex[:8]}"
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = runtime.post("/signups", json=registrant(tag, plan="ticket"), headers=key)
    again = runtime.post("/signups", json=registrant(tag, plan="ticket"), headers=key)
    assert (first.status_code, again.json()) == (201, first.json())
    account_id = first.json()["id"]

    (welcome,) = _notices(runtime, account_id)  # the outbox answers once the notifier caught up
    assert welcome["type"] == "welcome"

    # The record written again as unsent (a MODIFY on the stream): never a second send.
    table = template.Resolver(template.load()).table_name("NotificationsTable")
    client = _dynamodb(runtime)
    (item,) = client.query(
        TableName=table,
        KeyConditionExpression="account_id = :a",
        ExpressionAttributeValues={":a": {"S": account_id}},
        ConsistentRead=True,
    )["Items"]
    assert "sent_at" in item
    client.put_item(
        TableName=table, Item={k: v for k, v in item.items() if k != "sent_at"} | {"unsent_shard": {"S": "0"}}
    )

    assert [n["id"] for n in _notices(runtime, account_id)] == [welcome["id"]]


def test_notify_r_a_notice_the_notifier_cannot_read_fails_alone_and_is_dead_lettered(runtime: Runtime) -> None:
    table = template.Resolver(template.load()).table_name("NotificationsTable")
    broken_key = f"erased#broken-{uuid.uuid4().hex[:8]}"
    # An item missing the notice's fields: the notifier fails on it (a batch item failure).
    _dynamodb(runtime).put_item(
        TableName=table, Item={"account_id": {"S": broken_key}, "notification_key": {"S": "x"}, "id": {"N": "1"}}
    )
    tag = f"ntf-{uuid.uuid4().hex[:8]}"
    made = runtime.post("/signups", json=registrant(tag, plan="ticket"))
    assert made.status_code == 201, made.text

    # Sent once, though the retries from the failing record delivered it again.
    (welcome,) = _notices(runtime, made.json()["id"])
    assert welcome["type"] == "welcome"
    dead = streams.read_dead_letters(runtime.log_path.parent / streams.DEAD_LETTERS_FILE)
    (letter,) = [entry for entry in dead if entry["destination"] == "NotifierDeadLetterQueue"]
    assert letter["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert letter["DDBStreamBatchInfo"]["batchSize"] >= 1
    assert json.dumps(letter).count(broken_key) == 0  # a description of the batch, not its data
