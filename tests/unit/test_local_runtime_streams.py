"""The local runtime's DynamoDB stream consumers: the template's ``AWS::Lambda::EventSourceMapping``
resources (and SAM's ``Type: DynamoDB`` events, read alike), and Lambda's event source mapping
(batches, partial batch responses, retries, bisection, the on-failure destination, shards)
against a fake stream, so no DynamoDB Local is needed.

The behaviour asserted is the AWS Lambda guide's: services-ddb-params (defaults),
services-ddb-batchfailurereporting (partial responses, bisection at the failed record),
services-dynamodb-errors (splitting uses no retries; the invocation record).
"""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from local_runtime import streams
from local_runtime.streams import DeadLetters, Delivery, StreamPoller, judge, lambda_record
from local_runtime.template import Resolver, StreamConsumer, load, resources, stream_consumers, tables
from tests.streams_fixtures import parse_template, stream_template

# OrderFunction consumes the Orders table's stream with every setting given; DefaultsFunction,
# from LATEST, with Lambda's defaults; PlainTable has no stream.
MORE = """
PlainTable:
  Type: AWS::DynamoDB::Table
  Properties:
    AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
    KeySchema: [{AttributeName: pk, KeyType: HASH}]
DefaultsFunction:
  Type: AWS::Serverless::Function
  Properties:
    CodeUri: functions/defaults/
    Handler: app.handler
    Events:
      Orders:
        Type: DynamoDB
        Properties:
          Stream: !GetAtt OrdersTable.StreamArn
          StartingPosition: LATEST
"""


def orders_template() -> dict[str, Any]:
    template = stream_template(
        table="OrdersTable",
        queue="FailedOrders",
        function="OrderFunction",
        event="Orders",
        code_uri="functions/order/",
        BatchSize=10,
        MaximumBatchingWindowInSeconds=2,
        MaximumRetryAttempts=3,
        MaximumRecordAgeInSeconds=600,
        BisectBatchOnFunctionError=True,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    resources = template["Resources"]
    resources["OrderFunction"]["Properties"]["Events"]["Api"] = {
        "Type": "HttpApi",
        "Properties": {"Method": "GET", "Path": "/orders"},
    }
    resources.update(parse_template(MORE))
    return template


# ---------------------------------------------------------------- the template


def test_dynamodb_events_are_read_with_their_settings_and_the_tables_stream_view() -> None:
    template = orders_template()
    found = {c.function: c for c in stream_consumers(template, Resolver(template, stack_name="s"))}

    assert set(found) == {"OrderFunction", "DefaultsFunction"}
    order = found["OrderFunction"]
    assert (order.table, order.table_name, order.stream_view_type) == (
        "OrdersTable",
        "s-OrdersTable",
        "NEW_AND_OLD_IMAGES",
    )
    assert order.starting_position == "TRIM_HORIZON"
    assert (order.batch_size, order.maximum_batching_window_seconds) == (10, 2)
    assert (order.maximum_retry_attempts, order.maximum_record_age_seconds) == (3, 600)
    assert order.bisect_batch_on_function_error
    assert order.report_batch_item_failures
    assert order.on_failure == "FailedOrders"
    assert (order.code_uri, order.handler) == ("functions/order/", "app.handler")


def test_lambdas_defaults_apply_where_the_event_sets_nothing() -> None:
    template = orders_template()
    found = {c.function: c for c in stream_consumers(template, Resolver(template))}

    defaults = found["DefaultsFunction"]
    assert defaults.starting_position == "LATEST"
    assert (defaults.batch_size, defaults.maximum_batching_window_seconds) == (100, 0)
    assert (defaults.maximum_retry_attempts, defaults.maximum_record_age_seconds) == (-1, -1)
    assert not defaults.bisect_batch_on_function_error
    assert not defaults.report_batch_item_failures
    assert defaults.on_failure is None
    assert defaults.enabled


def test_a_stream_table_is_created_with_its_stream_and_a_plain_one_without() -> None:
    template = orders_template()
    created = {spec.logical_id: spec for spec in tables(template, Resolver(template))}

    assert created["OrdersTable"].create_args["StreamSpecification"] == {
        "StreamEnabled": True,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    assert created["OrdersTable"].stream_view_type == "NEW_AND_OLD_IMAGES"
    assert "StreamSpecification" not in created["PlainTable"].create_args


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Stream": {"Fn::GetAtt": ["PlainTable", "StreamArn"]}}, "no StreamSpecification"),
        ({"Stream": "arn:aws:dynamodb:eu-central-1:1:table/x/stream/y"}, "!GetAtt <Table>.StreamArn"),
        ({"Stream": {"Fn::GetAtt": ["FailedOrders", "StreamArn"]}}, "not a DynamoDB table"),
        ({"StartingPosition": "AT_TIMESTAMP"}, "TRIM_HORIZON or LATEST"),
        (
            {"FilterCriteria": {"Filters": [{"Pattern": '{"eventName": [{"prefix": "IN"}]}'}]}},
            "does not run the filter operator prefix",
        ),
        (
            {"FilterCriteria": {"Filters": [{"Pattern": '{"dynamodb": {"Keys": [{"anything-but": ["x"]}]}}'}]}},
            "does not run the filter operator anything-but",
        ),
        (
            {"FilterCriteria": {"Filters": [{"Pattern": '{"dynamodb": {"SizeBytes": [{"numeric": [">", 1]}]}}'}]}},
            "does not run the filter operator numeric",
        ),
        ({"FilterCriteria": {"Filters": [{"Pattern": '{"x": [{"exists": true}]}'}]}}, "filter operator exists"),
        ({"FilterCriteria": {"Filters": [{"Pattern": "not json"}]}}, "Pattern is not JSON"),
        ({"TumblingWindowInSeconds": 60}, "does not run TumblingWindowInSeconds"),
        ({"BatchSize": 0}, "BatchSize 0 is outside Lambda's limits"),
        ({"BatchSize": 10_001}, "BatchSize 10001"),
        ({"MaximumRetryAttempts": -2}, "MaximumRetryAttempts -2"),
        ({"MaximumRecordAgeInSeconds": 59}, "MaximumRecordAgeInSeconds 59"),
        ({"MaximumBatchingWindowInSeconds": 301}, "MaximumBatchingWindowInSeconds 301"),
    ],
)
def test_an_event_the_local_runtime_cannot_run_is_refused_by_name(change: dict[str, Any], message: str) -> None:
    template = orders_template()
    template["Resources"]["OrderFunction"]["Properties"]["Events"]["Orders"]["Properties"].update(change)

    with pytest.raises(ValueError, match=r"OrderFunction\.Events\.Orders") as raised:
        stream_consumers(template, Resolver(template))
    assert message in str(raised.value)


def test_the_projects_template_parses() -> None:
    template = load()
    # Each consumer the template declares names a streamed table of it.
    for consumer in stream_consumers(template, Resolver(template)):
        assert consumer.stream_view_type


MAPPING = """
  OrdersMapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      FunctionName: !Ref DefaultsFunction
      EventSourceArn: !GetAtt OrdersTable.StreamArn
      StartingPosition: TRIM_HORIZON
      BatchSize: 25
      MaximumBatchingWindowInSeconds: 1
      FunctionResponseTypes: [ReportBatchItemFailures]
      BisectBatchOnFunctionError: true
      MaximumRetryAttempts: 10
      DestinationConfig:
        OnFailure: {Destination: !GetAtt FailedOrders.Arn}
"""


def test_an_event_source_mapping_written_out_is_run_like_a_dynamodb_event() -> None:
    template = orders_template()
    template["Resources"].update(parse_template(MAPPING))
    (mapped,) = [
        c for c in stream_consumers(template, Resolver(template, stack_name="s")) if c.event == "OrdersMapping"
    ]
    assert (mapped.function, mapped.table_name, mapped.code_uri) == (
        "DefaultsFunction",
        "s-OrdersTable",
        "functions/defaults/",
    )
    assert (mapped.starting_position, mapped.batch_size, mapped.maximum_batching_window_seconds) == (
        "TRIM_HORIZON",
        25,
        1,
    )
    assert (mapped.maximum_retry_attempts, mapped.bisect_batch_on_function_error) == (10, True)
    assert (mapped.report_batch_item_failures, mapped.on_failure) == (True, "FailedOrders")

    template["Resources"]["OrdersMapping"]["Properties"]["FunctionName"] = {"Ref": "NoSuchFunction"}
    with pytest.raises(ValueError, match="OrdersMapping: FunctionName"):
        stream_consumers(template, Resolver(template))


def test_the_campaign_counters_read_the_vouchers_stream_each_failure_reported_bisected_and_dead_lettered() -> None:
    template = load()
    (counters,) = [
        c for c in stream_consumers(template, Resolver(template)) if c.function == "CampaignCountersFunction"
    ]
    assert (counters.table, counters.stream_view_type, counters.starting_position) == (
        "VouchersTable",
        "NEW_AND_OLD_IMAGES",
        "TRIM_HORIZON",
    )
    assert counters.report_batch_item_failures
    assert counters.bisect_batch_on_function_error
    assert (counters.maximum_retry_attempts, counters.on_failure) == (10, "DeadLetterQueue")


def test_the_templates_consumers_are_its_three_mappings_each_with_its_own_settings() -> None:
    """Each consumer of template.yaml is an explicit AWS::Lambda::EventSourceMapping; the local
    runtime reads each with the mapping's settings (what ``make run``'s Stream lines say)."""
    template = load()
    found = {c.function: c for c in stream_consumers(template, Resolver(template))}

    assert {c.event for c in found.values()} <= set(resources(template, "AWS::Lambda::EventSourceMapping"))
    assert {name: streams.describe_consumer(c) for name, c in found.items()} == {
        "CampaignCountersFunction": "CampaignCountersFunction ← VouchersTable stream (TRIM_HORIZON, batch 100, "
        "retries 10, bisect, ReportBatchItemFailures, on failure → DeadLetterQueue)",
        "PriceFanoutFunction": "PriceFanoutFunction ← PricesTable stream (TRIM_HORIZON, batch 10, retries 2, "
        "on failure → DeadLetterQueue)",
        "NotifierFunction": "NotifierFunction ← NotificationsTable stream (TRIM_HORIZON, batch 25, retries 5, "
        "bisect, ReportBatchItemFailures, on failure → NotifierDeadLetterQueue)",
    }
    counters, fanout, notifier = (
        found[n] for n in ("CampaignCountersFunction", "PriceFanoutFunction", "NotifierFunction")
    )
    assert (counters.maximum_batching_window_seconds, counters.maximum_record_age_seconds) == (1, -1)
    assert counters.filter_patterns == ()
    assert (fanout.table, fanout.stream_view_type) == ("PricesTable", "KEYS_ONLY")
    assert (fanout.maximum_batching_window_seconds, fanout.maximum_record_age_seconds) == (0, -1)
    assert (fanout.bisect_batch_on_function_error, fanout.report_batch_item_failures) == (False, False)
    assert fanout.filter_patterns == ()
    assert (notifier.table, notifier.stream_view_type) == ("NotificationsTable", "NEW_IMAGE")
    assert (notifier.maximum_batching_window_seconds, notifier.maximum_record_age_seconds) == (0, 3600)
    assert notifier.filter_patterns == ({"eventName": ["INSERT"]},)


# ---------------------------------------------------------------- the event

STREAM_ARN = "arn:aws:dynamodb:ddblocal:000000000000:table/s-OrdersTable/stream/2026-12-07T01:00:00.000"
CREATED = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


def record(n: int, event_name: str = "INSERT") -> dict[str, Any]:
    """A stream record as boto3's GetRecords returns it (times and binaries parsed)."""
    return {
        "eventID": f"event-{n}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "ddblocal",
        "dynamodb": {
            "ApproximateCreationDateTime": CREATED,
            "Keys": {"pk": {"S": f"k{n}"}},
            "NewImage": {"pk": {"S": f"k{n}"}, "blob": {"B": b"\x00\xff"}, "n": {"N": str(n)}},
            "SequenceNumber": f"{n:021d}",
            "SizeBytes": 20,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


def seq(n: int) -> str:
    return f"{n:021d}"


def test_a_stream_record_becomes_lambdas_dynamodb_event_record() -> None:
    converted = lambda_record(record(1), STREAM_ARN)

    assert converted["eventID"] == "event-1"
    assert converted["eventName"] == "INSERT"
    assert (converted["eventVersion"], converted["eventSource"]) == ("1.1", "aws:dynamodb")
    assert converted["awsRegion"] == "eu-central-1"
    assert converted["eventSourceARN"] == (
        "arn:aws:dynamodb:eu-central-1:123456789012:table/s-OrdersTable/stream/2026-12-07T01:00:00.000"
    )
    body = converted["dynamodb"]
    assert body["ApproximateCreationDateTime"] == int(CREATED.timestamp())
    assert body["NewImage"]["blob"] == {"B": base64.b64encode(b"\x00\xff").decode()}
    assert (body["SequenceNumber"], body["StreamViewType"]) == (seq(1), "NEW_AND_OLD_IMAGES")
    assert "userIdentity" not in converted


def test_a_ttl_deletion_arrives_as_aws_sends_it_remove_by_the_dynamodb_service() -> None:
    converted = lambda_record(record(2, "UNKNOWN_TO_SDK_VERSION"), STREAM_ARN)

    assert converted["eventName"] == "REMOVE"
    assert converted["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


@pytest.mark.parametrize(
    ("result", "ok", "failed_from"),
    [
        (None, True, None),
        ({}, True, None),
        ({"batchItemFailures": None}, True, None),
        ({"batchItemFailures": []}, True, None),
        ({"batchItemFailures": [{"itemIdentifier": seq(3)}, {"itemIdentifier": seq(2)}]}, False, 1),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, False, 0),
        ({"batchItemFailures": [{"itemIdentifier": None}]}, False, 0),
        ({"batchItemFailures": [{"itemId": seq(2)}]}, False, 0),
    ],
)
def test_a_partial_batch_response_is_read_as_lambda_reads_it(result: Any, ok: bool, failed_from: int | None) -> None:
    outcome = judge(result, [record(1), record(2), record(3)], report_batch_item_failures=True)

    assert (outcome.ok, outcome.failed_from) == (ok, failed_from)


def test_batch_item_failures_count_for_nothing_without_report_batch_item_failures() -> None:
    outcome = judge({"batchItemFailures": [{"itemIdentifier": seq(1)}]}, [record(1)], report_batch_item_failures=False)

    assert outcome.ok


# ---------------------------------------------------------------- one batch


def consumer(**settings: Any) -> StreamConsumer:
    base = StreamConsumer(
        function="OrderFunction",
        event="Orders",
        table="OrdersTable",
        table_name="s-OrdersTable",
        stream_view_type="NEW_AND_OLD_IMAGES",
        starting_position="TRIM_HORIZON",
        code_uri="functions/order/",
        handler="app.handler",
        maximum_retry_attempts=2,
        on_failure="FailedOrders",
    )
    return replace(base, **settings)


class Function:
    """A consumer function: records the sequence numbers of each invocation; ``answer`` decides."""

    def __init__(self, answer: Any = None) -> None:
        self.calls: list[list[str]] = []
        self.answer = answer

    def __call__(self, logical_id: str, event: dict[str, Any]) -> Any:
        assert logical_id == "OrderFunction"
        numbers = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        self.calls.append(numbers)
        return self.answer(numbers) if callable(self.answer) else self.answer


def fails_on(bad: set[str]) -> Any:
    def answer(numbers: list[str]) -> None:
        if bad & set(numbers):
            raise RuntimeError("cannot process")

    return answer


def reports(bad: set[str]) -> Any:
    return lambda numbers: {"batchItemFailures": [{"itemIdentifier": n} for n in numbers if n in bad]}


NOW = CREATED.timestamp() + 60


def delivery(function: Function, tmp_path: Path, **settings: Any) -> Delivery:
    return Delivery(
        consumer(**settings),
        function,
        DeadLetters(tmp_path / "dead-letters.jsonl"),
        STREAM_ARN,
        "shardId-1",
        sleep=lambda _: None,
        now=lambda: NOW,
    )


def test_a_successful_batch_is_delivered_once_in_stream_order(tmp_path: Path) -> None:
    function = Function()
    delivery(function, tmp_path).deliver([record(1), record(2), record(3)])

    assert function.calls == [[seq(1), seq(2), seq(3)]]
    assert DeadLetters(tmp_path / "dead-letters.jsonl").read() == []


def test_a_failing_batch_is_retried_maximum_retry_attempts_times_then_dead_lettered(tmp_path: Path) -> None:
    function = Function(fails_on({seq(2)}))
    delivery(function, tmp_path, maximum_retry_attempts=2).deliver([record(1), record(2)])

    assert function.calls == [[seq(1), seq(2)]] * 3  # the first attempt and two retries
    (letter,) = DeadLetters(tmp_path / "dead-letters.jsonl").read()
    assert letter["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert letter["requestContext"]["approximateInvokeCount"] == 3
    assert letter["requestContext"]["functionArn"] == "arn:aws:lambda:eu-central-1:123456789012:function:OrderFunction"
    assert letter["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    info = letter["DDBStreamBatchInfo"]
    assert (info["shardId"], info["startSequenceNumber"], info["endSequenceNumber"]) == ("shardId-1", seq(1), seq(2))
    assert info["batchSize"] == 2
    assert info["approximateArrivalOfFirstRecord"] == "2026-12-07T01:00:00Z"
    assert info["streamArn"].startswith("arn:aws:dynamodb:eu-central-1:123456789012:table/s-OrdersTable/stream/")
    assert letter["destination"] == "FailedOrders"


def test_zero_retry_attempts_dead_letters_after_the_first_failure(tmp_path: Path) -> None:
    function = Function(fails_on({seq(1)}))
    delivery(function, tmp_path, maximum_retry_attempts=0).deliver([record(1)])

    assert function.calls == [[seq(1)]]
    assert len(DeadLetters(tmp_path / "dead-letters.jsonl").read()) == 1


def test_without_an_on_failure_destination_exhausted_records_are_dropped(tmp_path: Path) -> None:
    function = Function(fails_on({seq(1)}))
    delivery(function, tmp_path, on_failure=None, maximum_retry_attempts=1).deliver([record(1)])

    assert function.calls == [[seq(1)]] * 2
    assert DeadLetters(tmp_path / "dead-letters.jsonl").read() == []


def test_a_partial_failure_checkpoints_before_the_failed_record_and_retries_from_it(tmp_path: Path) -> None:
    attempts: list[int] = []

    def answer(numbers: list[str]) -> dict[str, Any]:
        attempts.append(1)
        # record 3 fails on the first attempt only
        return {"batchItemFailures": [{"itemIdentifier": seq(3)}]} if len(attempts) == 1 else {}

    function = Function(answer)
    delivery(function, tmp_path, report_batch_item_failures=True).deliver([record(n) for n in range(1, 6)])

    assert function.calls == [[seq(n) for n in range(1, 6)], [seq(n) for n in range(3, 6)]]
    assert DeadLetters(tmp_path / "dead-letters.jsonl").read() == []


def test_a_record_reported_failed_every_time_is_dead_lettered_from_it_on(tmp_path: Path) -> None:
    function = Function(reports({seq(2)}))
    delivery(function, tmp_path, report_batch_item_failures=True, maximum_retry_attempts=1).deliver(
        [record(1), record(2), record(3)]
    )

    assert function.calls == [[seq(1), seq(2), seq(3)], [seq(2), seq(3)]]
    (letter,) = DeadLetters(tmp_path / "dead-letters.jsonl").read()
    info = letter["DDBStreamBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (seq(2), seq(3), 2)
    assert "functionError" not in letter["responseContext"]  # the invocation itself succeeded


def test_bisection_isolates_the_failing_record_without_using_retries(tmp_path: Path) -> None:
    function = Function(fails_on({seq(3)}))
    delivery(function, tmp_path, bisect_batch_on_function_error=True, maximum_retry_attempts=1).deliver(
        [record(n) for n in range(1, 5)]
    )

    assert function.calls == [
        [seq(1), seq(2), seq(3), seq(4)],
        [seq(1), seq(2)],
        [seq(3), seq(4)],
        [seq(3)],
        [seq(3)],  # the one retry, spent on the isolated record
        [seq(4)],
    ]
    (letter,) = DeadLetters(tmp_path / "dead-letters.jsonl").read()
    assert letter["DDBStreamBatchInfo"]["startSequenceNumber"] == seq(3)
    assert letter["DDBStreamBatchInfo"]["batchSize"] == 1


def test_records_older_than_the_maximum_record_age_are_dead_lettered_unread(tmp_path: Path) -> None:
    function = Function()
    old = Delivery(
        consumer(maximum_record_age_seconds=30),
        function,
        DeadLetters(tmp_path / "dead-letters.jsonl"),
        STREAM_ARN,
        "shardId-1",
        sleep=lambda _: None,
        now=lambda: CREATED.timestamp() + 31,
    )
    old.deliver([record(1)])

    assert function.calls == []
    (letter,) = DeadLetters(tmp_path / "dead-letters.jsonl").read()
    assert letter["requestContext"]["condition"] == "RecordAgeExceeded"


# ---------------------------------------------------------------- shards


class FakeStreams:
    """DynamoDB Streams' read API over in-memory shards: {shard id: (parent, records, closed)}."""

    def __init__(self) -> None:
        self.shards: dict[str, dict[str, Any]] = {}
        self.iterator_requests: list[tuple[str, str]] = []

    def add_shard(self, shard_id: str, parent: str | None = None) -> None:
        self.shards[shard_id] = {"parent": parent, "records": [], "closed": False}

    def describe_stream(self, StreamArn: str, **_: Any) -> dict[str, Any]:
        shards = []
        for shard_id, shard in self.shards.items():
            entry: dict[str, Any] = {"ShardId": shard_id}
            if shard["parent"]:
                entry["ParentShardId"] = shard["parent"]
            shards.append(entry)
        return {"StreamDescription": {"StreamArn": StreamArn, "Shards": shards}}

    def get_shard_iterator(self, ShardId: str, ShardIteratorType: str, **kwargs: Any) -> dict[str, Any]:
        self.iterator_requests.append((ShardId, ShardIteratorType))
        records = self.shards[ShardId]["records"]
        if ShardIteratorType == "TRIM_HORIZON":
            position = 0
        elif ShardIteratorType == "LATEST":
            position = len(records)
        else:
            numbers = [r["dynamodb"]["SequenceNumber"] for r in records]
            position = numbers.index(kwargs["SequenceNumber"]) + 1
        return {"ShardIterator": f"{ShardId}|{position}"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        shard_id, position_text = ShardIterator.split("|")
        position = int(position_text)
        shard = self.shards[shard_id]
        taken = shard["records"][position : position + Limit]
        end = position + len(taken)
        answer: dict[str, Any] = {"Records": taken}
        if not (shard["closed"] and end >= len(shard["records"])):
            answer["NextShardIterator"] = f"{shard_id}|{end}"
        return answer


def poller(fake: FakeStreams, function: Function, tmp_path: Path, **settings: Any) -> StreamPoller:
    return StreamPoller(
        consumer(**settings),
        fake,
        STREAM_ARN,
        function,
        DeadLetters(tmp_path / "dead-letters.jsonl"),
        sleep=lambda _: None,
        now=lambda: NOW,
    )


def test_records_are_read_in_batches_of_batch_size_in_order(tmp_path: Path) -> None:
    fake = FakeStreams()
    fake.add_shard("shard-a")
    fake.shards["shard-a"]["records"] = [record(n) for n in range(1, 6)]
    function = Function()
    reader = poller(fake, function, tmp_path, batch_size=2)

    reader.poll_once()
    reader.poll_once()
    reader.poll_once()

    assert function.calls == [[seq(1), seq(2)], [seq(3), seq(4)], [seq(5)]]


def test_latest_starts_after_what_the_stream_holds_when_the_consumer_starts(tmp_path: Path) -> None:
    fake = FakeStreams()
    fake.add_shard("shard-a")
    fake.shards["shard-a"]["records"] = [record(1)]
    function = Function()
    reader = poller(fake, function, tmp_path, starting_position="LATEST")

    reader.poll_once()
    fake.shards["shard-a"]["records"].append(record(2))
    reader.poll_once()

    assert fake.iterator_requests == [("shard-a", "LATEST")]
    assert function.calls == [[seq(2)]]


def test_a_batching_window_waits_for_more_records_until_it_ends(tmp_path: Path) -> None:
    fake = FakeStreams()
    fake.add_shard("shard-a")
    fake.shards["shard-a"]["records"] = [record(1)]
    function = Function()
    clock = [100.0]
    reader = StreamPoller(
        consumer(maximum_batching_window_seconds=2),
        fake,
        STREAM_ARN,
        function,
        DeadLetters(tmp_path / "dead-letters.jsonl"),
        sleep=lambda _: None,
        now=lambda: NOW,
        monotonic=lambda: clock[0],
    )

    reader.poll_once()
    fake.shards["shard-a"]["records"].append(record(2))
    clock[0] += 1
    reader.poll_once()
    assert function.calls == []
    clock[0] += 1
    reader.poll_once()

    assert function.calls == [[seq(1), seq(2)]]


def test_a_closed_shard_is_read_to_its_end_before_its_child(tmp_path: Path) -> None:
    fake = FakeStreams()
    fake.add_shard("parent")
    fake.add_shard("child", parent="parent")
    fake.shards["parent"]["records"] = [record(1), record(2)]
    fake.shards["parent"]["closed"] = True
    fake.shards["child"]["records"] = [record(3)]
    function = Function()
    reader = poller(fake, function, tmp_path, batch_size=1)

    for _ in range(4):
        reader.poll_once()

    assert function.calls == [[seq(1)], [seq(2)], [seq(3)]]


def test_a_child_shard_opened_later_is_found_and_read_from_its_start(tmp_path: Path) -> None:
    fake = FakeStreams()
    fake.add_shard("first")
    function = Function()
    reader = poller(fake, function, tmp_path, starting_position="LATEST")
    reader.poll_once()
    fake.shards["first"]["records"].append(record(1))
    fake.shards["first"]["closed"] = True
    fake.add_shard("second", parent="first")
    fake.shards["second"]["records"] = [record(2)]

    reader.poll_once()  # reads the rest of "first" and learns it closed
    reader.poll_once()  # describes the stream again: "second" is read from TRIM_HORIZON

    assert ("second", "TRIM_HORIZON") in fake.iterator_requests
    assert function.calls == [[seq(1)], [seq(2)]]


def test_a_failed_batch_is_not_read_again_after_its_dead_letter(tmp_path: Path) -> None:
    fake = FakeStreams()
    fake.add_shard("shard-a")
    fake.shards["shard-a"]["records"] = [record(1), record(2)]
    function = Function(fails_on({seq(1)}))
    reader = poller(fake, function, tmp_path, batch_size=1, maximum_retry_attempts=0)

    reader.poll_once()
    reader.poll_once()
    reader.poll_once()

    assert function.calls == [[seq(1)], [seq(2)]]
    assert len(DeadLetters(tmp_path / "dead-letters.jsonl").read()) == 1


def test_a_poller_given_anothers_checkpoints_goes_on_after_them(tmp_path: Path) -> None:
    fake = FakeStreams()
    fake.add_shard("shard-a")
    fake.shards["shard-a"]["records"] = [record(1), record(2)]
    function = Function()
    first = poller(fake, function, tmp_path)
    first.poll_once()
    fake.shards["shard-a"]["records"].append(record(3))

    resumed = StreamPoller(
        consumer(),
        fake,
        STREAM_ARN,
        function,
        DeadLetters(tmp_path / "dead-letters.jsonl"),
        sleep=lambda _: None,
        now=lambda: NOW,
        checkpoints=first.checkpoints,
    )
    resumed.poll_once()

    assert first.checkpoints == {"shard-a": seq(2)}
    assert fake.iterator_requests[-1] == ("shard-a", "AFTER_SEQUENCE_NUMBER")
    assert function.calls == [[seq(1), seq(2)], [seq(3)]]
    assert resumed.checkpoints == {"shard-a": seq(3)}


def test_make_run_names_each_consumer_and_its_table() -> None:
    line = streams.describe_consumer(consumer(bisect_batch_on_function_error=True, report_batch_item_failures=True))

    assert line.startswith("OrderFunction ← OrdersTable stream (TRIM_HORIZON, batch 100, retries 2, bisect")
    assert "on failure → FailedOrders" in line


def test_make_run_prints_one_stream_line_per_consumer_and_where_dead_letters_go(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from types import SimpleNamespace

    from local_runtime.__main__ import _announce

    dynamodb = SimpleNamespace(endpoint="http://127.0.0.1:1", data_dir=None)
    payments = SimpleNamespace(url="http://127.0.0.1:2", state_path=None, webhook_url=None)
    identity = SimpleNamespace(endpoint="http://127.0.0.1:3", user_pool_id="pool", client_id="client")
    template = orders_template()
    consumers = stream_consumers(template, Resolver(template))

    _announce("127.0.0.1", 3000, dynamodb, payments, identity, consumers, tmp_path / "dead-letters.jsonl")  # type: ignore[arg-type]

    lines = capsys.readouterr().out.splitlines()
    stream_lines = [line for line in lines if line.startswith("Stream ")]
    assert [line.split()[1:4] for line in stream_lines] == [
        ["OrderFunction", "←", "OrdersTable"],
        ["DefaultsFunction", "←", "OrdersTable"],
    ]
    assert any(line.startswith("Failed ") and line.endswith("dead-letters.jsonl") for line in lines)
    assert lines[-1] == "local runtime ready on http://127.0.0.1:3000"


# ---------------------------------------------------------------- FilterCriteria ("Filtering event sources")

FILTERED = {
    "Filters": [
        {"Pattern": '{"eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": ["order", "refund"]}}}}'},
        {"Pattern": '{"eventName": ["REMOVE"]}'},
    ]
}


def _filtered_consumer() -> StreamConsumer:
    template = orders_template()
    template["Resources"]["OrderFunction"]["Properties"]["Events"]["Orders"]["Properties"]["FilterCriteria"] = FILTERED
    (consumer,) = [c for c in stream_consumers(template, Resolver(template)) if c.function == "OrderFunction"]
    return consumer


def _event(name: str, kind: str | None) -> dict[str, Any]:
    image = {} if kind is None else {"NewImage": {"kind": {"S": kind}}}
    return {"eventName": name, "dynamodb": image}


def test_filter_patterns_pass_a_record_that_any_pattern_matches_exactly() -> None:
    consumer = _filtered_consumer()

    assert streams.passes(consumer, _event("INSERT", "order"))
    assert streams.passes(consumer, _event("INSERT", "refund"))  # one of the allowed values
    assert streams.passes(consumer, _event("REMOVE", None))  # the second pattern
    assert not streams.passes(consumer, _event("INSERT", "invoice"))  # a nested value not allowed
    assert not streams.passes(consumer, _event("INSERT", None))  # a key the pattern names is missing
    assert not streams.passes(consumer, _event("MODIFY", "order"))
    assert not streams.passes(consumer, {"eventName": "INSERT", "dynamodb": {"NewImage": {"kind": {"N": "1"}}}})


def test_without_filter_criteria_every_record_passes() -> None:
    template = orders_template()
    (consumer,) = [c for c in stream_consumers(template, Resolver(template)) if c.function == "OrderFunction"]
    assert consumer.filter_patterns == ()
    assert streams.passes(consumer, _event("MODIFY", None))


def test_filtered_out_records_are_checkpointed_and_never_invoked(tmp_path: Path) -> None:
    consumer = replace(_filtered_consumer(), maximum_batching_window_seconds=0)
    records = [
        {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "1", "NewImage": {"kind": {"S": "order"}}}},
        {"eventName": "MODIFY", "dynamodb": {"SequenceNumber": "2", "NewImage": {"kind": {"S": "order"}}}},
        {"eventName": "INSERT", "dynamodb": {"SequenceNumber": "3", "NewImage": {"kind": {"S": "invoice"}}}},
    ]
    invoked: list[list[str]] = []

    def invoke(_: str, event: dict[str, Any]) -> dict[str, Any]:
        invoked.append([r["dynamodb"]["SequenceNumber"] for r in event["Records"]])
        return {"batchItemFailures": []}

    shard = {"ShardId": "s1", "SequenceNumberRange": {"StartingSequenceNumber": "1"}}

    class Stream:
        def describe_stream(self, **_: Any) -> dict[str, Any]:
            return {"StreamDescription": {"Shards": [shard]}}

        def get_shard_iterator(self, **_: Any) -> dict[str, Any]:
            return {"ShardIterator": "it"}

        def get_records(self, **_: Any) -> dict[str, Any]:
            answer, records[:] = list(records), []
            return {"Records": answer, "NextShardIterator": "it"}

    poller = StreamPoller(consumer, Stream(), "arn:stream", invoke, DeadLetters(tmp_path / "dl.jsonl"))
    poller.poll_once()

    assert invoked == [["1"]]
    assert poller._shards["s1"].checkpoint == "3"
    assert poller.wait_caught_up(0.0, timeout=0) is False  # read something: not yet caught up
    poller.poll_once()  # nothing new: caught up with everything before this pass
    assert poller.wait_caught_up(0.0, timeout=0) is True
