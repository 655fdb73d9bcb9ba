"""The local runtime's stream consumers on DynamoDB Local's own streams: a tiny streamed table and
a consumer function written by this test (not in template.yaml), run through the same
``Functions`` pool and poller ``make run`` uses."""

from __future__ import annotations

import json
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from local_runtime import streams
from local_runtime.dynamodb_local import client, create_tables
from local_runtime.functions import Functions
from local_runtime.template import Resolver, stream_consumers
from tests.streams_fixtures import stream_template

pytestmark = pytest.mark.integration


def items_template() -> dict[str, Any]:
    return stream_template(
        table="ItemsTable",
        queue="ItemsFailed",
        function="ItemsConsumer",
        event="Items",
        code_uri="consumer/",
        BatchSize=10,
        MaximumRetryAttempts=2,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )


# The consumer: logs every batch it gets; reports the keys listed in fail_once.json as failed the
# first time it sees them, and those in fail_always.json every time.
HANDLER = """
import json
from pathlib import Path

HERE = Path(__file__).parent


def handler(event, context):
    fail_once = set(json.loads((HERE / "fail_once.json").read_text()))
    fail_always = set(json.loads((HERE / "fail_always.json").read_text()))
    seen_path = HERE / "seen.json"
    seen = set(json.loads(seen_path.read_text())) if seen_path.exists() else set()
    batch = [
        {"pk": r["dynamodb"]["Keys"]["pk"]["S"], "event": r["eventName"], "seq": r["dynamodb"]["SequenceNumber"],
         "old": "OldImage" in r["dynamodb"], "source": r["eventSource"], "region": r["awsRegion"]}
        for r in event["Records"]
    ]
    with (HERE / "calls.jsonl").open("a") as log:
        log.write(json.dumps(batch) + "\\n")
    failed = [b["seq"] for b in batch if b["pk"] in fail_always or (b["pk"] in fail_once and b["pk"] not in seen)]
    seen_path.write_text(json.dumps(sorted(seen | {b["pk"] for b in batch})))
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in failed]}
"""


@pytest.fixture
def world(dynamodb_local: str, tmp_path: Path) -> dict[str, Any]:
    folder = tmp_path / "consumer"
    folder.mkdir()
    (folder / "app.py").write_text(textwrap.dedent(HANDLER))
    (folder / "fail_once.json").write_text(json.dumps(["a3"]))
    (folder / "fail_always.json").write_text(json.dumps(["a5"]))
    template = items_template()
    resolver = Resolver(template, stack_name=f"it-{uuid.uuid4().hex[:10]}")
    create_tables(dynamodb_local, template, resolver)
    return {
        "template": template,
        "resolver": resolver,
        "folder": folder,
        "root": tmp_path,
        "dynamodb": client(dynamodb_local),
        "endpoint": dynamodb_local,
    }


def calls(folder: Path) -> list[list[dict[str, Any]]]:
    path = folder / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_for(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the consumer did not get there in time"
        time.sleep(0.05)


def test_records_arrive_in_order_partial_failures_redeliver_and_exhausted_ones_are_dead_lettered(
    world: dict[str, Any],
) -> None:
    template, resolver, folder = world["template"], world["resolver"], world["folder"]
    (consumer,) = stream_consumers(template, resolver)
    table = consumer.table_name
    dynamodb = world["dynamodb"]
    for n in range(1, 6):
        dynamodb.put_item(TableName=table, Item={"pk": {"S": f"a{n}"}, "n": {"N": str(n)}})
    dead_letters = streams.DeadLetters(world["root"] / "dead-letters.jsonl")
    functions = Functions(template, resolver.stack_name, root=world["root"])
    pollers = streams.StreamConsumers(
        [consumer], streams.streams_client(world["endpoint"]), dynamodb, functions.invoke, dead_letters
    )
    pollers.start()
    try:
        wait_for(lambda: len(dead_letters.read()) == 1)
        # Then the stream goes on: an update and a delete arrive after the dead-lettered record.
        dynamodb.update_item(
            TableName=table,
            Key={"pk": {"S": "a1"}},
            UpdateExpression="SET n = :n",
            ExpressionAttributeValues={":n": {"N": "10"}},
        )
        dynamodb.delete_item(TableName=table, Key={"pk": {"S": "a2"}})
        wait_for(lambda: sum(len(batch) for batch in calls(folder)) >= 11)
    finally:
        pollers.stop()

    batches = [[(record["pk"], record["event"]) for record in batch] for batch in calls(folder)]
    inserts = [(f"a{n}", "INSERT") for n in range(1, 6)]
    assert batches[0] == inserts  # in the order written
    assert batches[1] == inserts[2:]  # from the record that failed, a3, on
    assert batches[2] == [("a5", "INSERT")]  # a3 and a4 done; a5 fails again: the last retry
    rest = [record for batch in batches[3:] for record in batch]
    assert rest == [("a1", "MODIFY"), ("a2", "REMOVE")]  # a5 is not delivered again
    first = calls(folder)[0][0]
    assert (first["source"], first["region"]) == ("aws:dynamodb", "eu-central-1")
    assert all(record["old"] for record in calls(folder)[-1])  # NEW_AND_OLD_IMAGES

    (letter,) = dead_letters.read()
    a5 = calls(folder)[2][0]["seq"]
    assert letter["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert letter["requestContext"]["approximateInvokeCount"] == 3
    info = letter["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (a5, a5, 1)
    assert f"table/{table}/stream/" in info["streamArn"]
    assert letter["destination"] == "ItemsFailed"


def test_a_table_kept_from_before_its_stream_gets_the_stream_the_template_now_declares(dynamodb_local: str) -> None:
    template = items_template()
    resolver = Resolver(template, stack_name=f"it-{uuid.uuid4().hex[:10]}")
    table = template["Resources"]["ItemsTable"]["Properties"]
    declared = table.pop("StreamSpecification")
    create_tables(dynamodb_local, template, resolver)
    dynamodb = client(dynamodb_local)
    name = resolver.table_name("ItemsTable")
    assert "LatestStreamArn" not in dynamodb.describe_table(TableName=name)["Table"]

    table["StreamSpecification"] = declared
    create_tables(dynamodb_local, template, resolver)

    described = dynamodb.describe_table(TableName=name)["Table"]
    assert described["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert described["LatestStreamArn"]
