"""DynamoDB stream consumers, run as Lambda's event source mapping runs them.

One poller thread per event source mapping of the template on a table's stream (an
``AWS::Lambda::EventSourceMapping``, or SAM's ``Type: DynamoDB`` event; ``template.stream_consumers``):
it reads the table's stream shard by shard from DynamoDB Local (DescribeStream, GetShardIterator,
GetRecords; a parent shard is read to its end before its children), hands batches to the
function as Lambda's DynamoDB event, and handles what the function answers as Lambda does
(AWS Lambda guide, "Using Lambda with DynamoDB", services-ddb-batchfailurereporting,
services-dynamodb-errors):

- success, or ``{"batchItemFailures": []}``: checkpoint after the batch;
- with ``ReportBatchItemFailures``, failed items: checkpoint before the lowest failed sequence
  number and retry from it (counts as a retry); an empty, missing or unknown ``itemIdentifier``
  fails the whole batch;
- an error (exception): with ``BisectBatchOnFunctionError`` the batch is split in two and each
  half tried on its own (splitting uses no retry), otherwise retried;
- ``FilterCriteria``: only records an exact-value pattern matches are delivered (``passes``); the
  others are checkpointed, never invoked (operators such as prefix or anything-but are refused
  when the template is read);
- after ``MaximumRetryAttempts`` retries (-1: until the record is older than
  ``MaximumRecordAgeInSeconds`` or the stream's 24 h), the batch's description goes to the
  ``OnFailure`` destination, and reading moves on. Locally that destination is a JSON-lines file
  (``dead-letters.jsonl`` in the data dir), one Lambda invocation record per line.

Checkpoints live in memory: a restarted runtime is a new mapping (LATEST starts at the stream's
end, TRIM_HORIZON replays what the stream still holds).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from local_runtime.template import LOCAL_ACCOUNT_ID, LOCAL_REGION, StreamConsumer

log = logging.getLogger("local_runtime.streams")

DEAD_LETTERS_FILE = "dead-letters.jsonl"
# Lambda polls a DynamoDB stream's shards four times a second (AWS Lambda guide, with-ddb).
POLL_INTERVAL_SECONDS = 0.25
# DynamoDB Streams keeps records 24 hours: MaximumRecordAgeInSeconds -1 means that long.
STREAM_RETENTION_SECONDS = 24 * 3600
# How often the stream is described again to find shards opened since.
DESCRIBE_INTERVAL_SECONDS = 10.0
RETRY_BACKOFF_SECONDS = 0.1
RETRY_BACKOFF_MAX_SECONDS = 5.0

Invoke = Callable[[str, dict[str, Any]], Any]


# ---------------------------------------------------------------- the event


def local_arn(stream_arn: str) -> str:
    """DynamoDB Local's stream ARN (region ``ddblocal``) as the local stack's region and account say it."""
    parts = stream_arn.split(":", 5)
    if len(parts) != 6:
        return stream_arn
    parts[3], parts[4] = LOCAL_REGION, LOCAL_ACCOUNT_ID
    return ":".join(parts)


def _wire(value: Any) -> Any:
    """A boto3-parsed stream value as JSON carries it: binary base64, times as epoch seconds."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, dict):
        return {key: _wire(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_wire(item) for item in value]
    return value


# DynamoDB's own identity on a record its TTL removed.
_TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """One stream record (as GetRecords returns it) as a record of Lambda's DynamoDB event."""
    event_name = str(record.get("eventName", ""))
    converted: dict[str, Any] = {
        "eventID": record.get("eventID"),
        "eventName": event_name,
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": LOCAL_REGION,
        "dynamodb": _wire(record.get("dynamodb", {})),
        "eventSourceARN": local_arn(stream_arn),
    }
    identity = record.get("userIdentity")
    if identity:
        converted["userIdentity"] = {"type": identity.get("Type"), "principalId": identity.get("PrincipalId")}
    if event_name not in {"INSERT", "MODIFY", "REMOVE"}:
        # DynamoDB Local streams a TTL deletion as "UNKNOWN_TO_SDK_VERSION" without an identity
        # (docs TOOLING.md, checked 2026-12); AWS sends REMOVE by the DynamoDB service.
        converted["eventName"] = "REMOVE"
        converted["userIdentity"] = dict(_TTL_IDENTITY)
    return converted


def stream_event(records: list[dict[str, Any]], stream_arn: str) -> dict[str, Any]:
    """Lambda's DynamoDB event for a batch of stream records."""
    return {"Records": [lambda_record(record, stream_arn) for record in records]}


def _sequence(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def _created(record: dict[str, Any]) -> float | None:
    value = record.get("dynamodb", {}).get("ApproximateCreationDateTime")
    if isinstance(value, datetime):
        return value.timestamp()
    return None if value is None else float(value)


# ---------------------------------------------------------------- filtering


def matches(pattern: dict[str, Any], value: Any) -> bool:
    """Exact-value matching of one filter pattern (Lambda guide, "Filtering event sources"): each
    key of the pattern must be in ``value``; a nested object matches recursively, a list of
    allowed values matches a field equal to one of them (or, for an array field, holding one)."""
    if not isinstance(value, dict):
        return False
    for key, expected in pattern.items():
        if key not in value:
            return False
        found = value[key]
        if isinstance(expected, dict):
            if not matches(expected, found):
                return False
            continue
        candidates = found if isinstance(found, list) else [found]
        if not any(_same(candidate, allowed) for candidate in candidates for allowed in expected):
            return False
    return True


def _same(candidate: Any, allowed: Any) -> bool:
    # JSON's true is not the number 1, nor null an empty string: compare type and value.
    if isinstance(candidate, bool) or isinstance(allowed, bool) or candidate is None or allowed is None:
        return candidate is allowed or (type(candidate) is type(allowed) and candidate == allowed)
    if isinstance(candidate, int | float) and isinstance(allowed, int | float):
        return candidate == allowed
    return type(candidate) is type(allowed) and candidate == allowed


def passes(consumer: StreamConsumer, record: dict[str, Any]) -> bool:
    """Whether the consumer's FilterCriteria pass a Lambda event record: any pattern matching
    is enough; with no patterns every record passes."""
    return not consumer.filter_patterns or any(matches(pattern, record) for pattern in consumer.filter_patterns)


# ---------------------------------------------------------------- the function's answer


@dataclass(frozen=True)
class Outcome:
    """What one invocation did: all done, failed from a record on, or failed as a whole."""

    ok: bool
    failed_from: int | None = None
    function_error: str | None = None


def judge(result: Any, batch: list[dict[str, Any]], report_batch_item_failures: bool) -> Outcome:
    """The function's answer read as Lambda reads it (services-ddb-batchfailurereporting)."""
    if not report_batch_item_failures or not isinstance(result, dict):
        return Outcome(ok=True)
    failures = result.get("batchItemFailures")
    if failures is None or failures == []:
        return Outcome(ok=True)
    if not isinstance(failures, list):
        return Outcome(ok=False, failed_from=0)
    positions = {_sequence(record): index for index, record in enumerate(batch)}
    failed = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in positions:
            return Outcome(ok=False, failed_from=0)  # the whole batch failed
        failed.append(positions[identifier])
    return Outcome(ok=False, failed_from=min(failed))


# ---------------------------------------------------------------- dead letters


class DeadLetters:
    """The on-failure destination, locally: one Lambda invocation record per line of a file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def send(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, sort_keys=True)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")

    def read(self) -> list[dict[str, Any]]:
        return read_dead_letters(self.path)


def read_dead_letters(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- one batch


@dataclass
class Delivery:
    """Delivers one batch of one shard to a consumer, with Lambda's retries, bisection and
    on-failure destination. ``invoke`` raises when the function fails."""

    consumer: StreamConsumer
    invoke: Invoke
    dead_letters: DeadLetters
    stream_arn: str
    shard_id: str
    sleep: Callable[[float], object] = time.sleep
    now: Callable[[], float] = time.time
    stopping: Callable[[], bool] = lambda: False

    def deliver(self, batch: list[dict[str, Any]]) -> None:
        # Sub-batches still to go, in stream order, each with the retries it has used.
        pending: list[tuple[list[dict[str, Any]], int]] = [(batch, 0)]
        while pending and not self.stopping():
            records, retries = pending.pop(0)
            if self._too_old(records):
                self._discard(records, retries, "RecordAgeExceeded", None)
                continue
            outcome = self._invoke(records)
            if outcome.ok:
                continue
            if outcome.function_error is not None and self.consumer.bisect_batch_on_function_error and len(records) > 1:
                half = len(records) // 2
                log.info("%s: batch of %d failed; bisecting", self.consumer.function, len(records))
                pending[0:0] = [(records[:half], retries), (records[half:], retries)]
                continue
            # Partial failure: what came before the first failed record is checkpointed.
            remaining = records[outcome.failed_from or 0 :]
            if self._may_retry(retries):
                self.sleep(min(RETRY_BACKOFF_SECONDS * 2**retries, RETRY_BACKOFF_MAX_SECONDS))
                pending.insert(0, (remaining, retries + 1))
                continue
            self._discard(remaining, retries, "RetryAttemptsExhausted", outcome.function_error)

    def _invoke(self, records: list[dict[str, Any]]) -> Outcome:
        try:
            result = self.invoke(self.consumer.function, stream_event(records, self.stream_arn))
        except Exception as error:  # the function failed: Lambda's "Unhandled"
            log.warning("%s failed on %d record(s): %r", self.consumer.function, len(records), error)
            return Outcome(ok=False, failed_from=0, function_error="Unhandled")
        outcome = judge(result, records, self.consumer.report_batch_item_failures)
        if not outcome.ok:
            log.info(
                "%s reported a failure at record %d of %d", self.consumer.function, outcome.failed_from, len(records)
            )
        return outcome

    def _may_retry(self, retries: int) -> bool:
        limit = self.consumer.maximum_retry_attempts
        return limit < 0 or retries < limit

    def _too_old(self, records: list[dict[str, Any]]) -> bool:
        limit = self.consumer.maximum_record_age_seconds
        limit = STREAM_RETENTION_SECONDS if limit < 0 else limit
        created = _created(records[0])
        return created is not None and self.now() - created > limit

    def _discard(self, records: list[dict[str, Any]], retries: int, condition: str, error: str | None) -> None:
        first, last = records[0], records[-1]
        log.warning(
            "%s: %d record(s) %s..%s discarded (%s)",
            self.consumer.function,
            len(records),
            _sequence(first),
            _sequence(last),
            condition,
        )
        if self.consumer.on_failure is None:
            return  # Lambda drops them when the mapping has no on-failure destination
        function = self.consumer.function
        response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if error is not None:
            response["functionError"] = error
        self.dead_letters.send(
            {
                # Lambda's invocation record for a stream source (services-dynamodb-errors) …
                "requestContext": {
                    "requestId": str(uuid.uuid4()),
                    "functionArn": f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{function}",
                    "condition": condition,
                    "approximateInvokeCount": retries + 1,
                },
                "responseContext": response,
                "version": "1.0",
                "timestamp": datetime.fromtimestamp(self.now(), UTC).isoformat(timespec="milliseconds"),
                "DDBStreamBatchInfo": {
                    "shardId": self.shard_id,
                    "startSequenceNumber": _sequence(first),
                    "endSequenceNumber": _sequence(last),
                    "approximateArrivalOfFirstRecord": _iso(_created(first)),
                    "approximateArrivalOfLastRecord": _iso(_created(last)),
                    "batchSize": len(records),
                    "streamArn": local_arn(self.stream_arn),
                },
                # … and, locally only, the queue the template sends it to.
                "destination": self.consumer.on_failure,
            }
        )


# ---------------------------------------------------------------- one stream


@dataclass
class _Shard:
    shard_id: str
    parent: str | None
    start: str  # TRIM_HORIZON or LATEST, when no checkpoint yet
    iterator: str | None = None
    checkpoint: str | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)
    first_pending_at: float | None = None
    closed: bool = False  # no more records will come (no NextShardIterator)
    last_read: str | None = None  # the last sequence number read, delivered or filtered out

    @property
    def finished(self) -> bool:
        return self.closed and not self.pending


class StreamPoller:
    """Reads one consumer's stream and delivers its batches; ``poll_once`` is one pass over the shards.

    ``checkpoints`` (shard id → the last sequence number done, as ``checkpoints`` reads them
    from an earlier poller) carry a mapping on: those shards are read after them."""

    def __init__(
        self,
        consumer: StreamConsumer,
        streams: Any,
        stream_arn: str,
        invoke: Invoke,
        dead_letters: DeadLetters,
        *,
        sleep: Callable[[float], object] | None = None,
        now: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        checkpoints: Mapping[str, str] | None = None,
    ) -> None:
        self.consumer = consumer
        self.stream_arn = stream_arn
        self._streams = streams
        self._invoke = invoke
        self._dead_letters = dead_letters
        self._now = now
        self._monotonic = monotonic
        self._shards: dict[str, _Shard] = {}
        self._resume_from = dict(checkpoints or {})
        self._described_at: float | None = None
        self._stop = threading.Event()
        self._caught_up = threading.Condition()
        self._idle_pass_started = float("-inf")
        # Waiting between retries ends early when the runtime stops.
        self._sleep = sleep or self._stop.wait
        self._thread = threading.Thread(target=self._run, name=f"stream-{consumer.function}", daemon=True)

    # -- shards

    def _describe(self) -> None:
        first_time = self._described_at is None
        self._described_at = self._monotonic()
        start_shard: dict[str, Any] = {}
        while True:
            description = self._streams.describe_stream(StreamArn=self.stream_arn, **start_shard)["StreamDescription"]
            for shard in description.get("Shards", []):
                shard_id = shard["ShardId"]
                if shard_id in self._shards:
                    continue
                # The mapping's starting position applies to the shards there when it starts;
                # shards opened later are read from their beginning, so nothing is skipped.
                start = self.consumer.starting_position if first_time else "TRIM_HORIZON"
                self._shards[shard_id] = _Shard(
                    shard_id, shard.get("ParentShardId"), start, checkpoint=self._resume_from.get(shard_id)
                )
            last = description.get("LastEvaluatedShardId")
            if not last:
                return
            start_shard = {"ExclusiveStartShardId": last}

    def _ready(self, shard: _Shard) -> bool:
        parent = self._shards.get(shard.parent) if shard.parent else None
        return not shard.finished and (parent is None or parent.finished)

    def _iterator(self, shard: _Shard) -> str | None:
        if shard.iterator is None:
            position: dict[str, Any] = (
                {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": shard.checkpoint}
                if shard.checkpoint
                else {"ShardIteratorType": shard.start}
            )
            answer = self._streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard.shard_id, **position)
            shard.iterator = answer.get("ShardIterator")
            if shard.iterator is None:
                shard.closed = True
        return shard.iterator

    def _read(self, shard: _Shard) -> int:
        iterator = self._iterator(shard)
        if iterator is None:
            return 0
        limit = self.consumer.batch_size - len(shard.pending)
        try:
            answer = self._streams.get_records(ShardIterator=iterator, Limit=max(1, limit))
        except Exception as error:
            code = getattr(error, "response", {}).get("Error", {}).get("Code")
            if code == "ExpiredIteratorException":
                shard.iterator = None  # from the checkpoint again
                return 0
            if code == "TrimmedDataAccessException":
                shard.iterator, shard.checkpoint, shard.start = None, None, "TRIM_HORIZON"
                return 0
            raise
        read = list(answer.get("Records", []))
        # Records the filter drops are never delivered: checkpointed once nothing before them waits.
        records = [record for record in read if passes(self.consumer, lambda_record(record, self.stream_arn))]
        if read:
            shard.last_read = _sequence(read[-1])
            if not records and not shard.pending:
                shard.checkpoint = shard.last_read
        if records and not shard.pending:
            shard.first_pending_at = self._monotonic()
        shard.pending.extend(records)
        shard.iterator = answer.get("NextShardIterator")
        if shard.iterator is None:
            shard.closed = True
            log.info("%s: shard %s closed", self.consumer.function, shard.shard_id)
        return len(read)

    def _due(self, shard: _Shard) -> bool:
        if not shard.pending:
            return False
        if len(shard.pending) >= self.consumer.batch_size or shard.closed:
            return True
        waited = self._monotonic() - (shard.first_pending_at or 0.0)
        return waited >= self.consumer.maximum_batching_window_seconds

    def _deliver(self, shard: _Shard) -> None:
        batch = shard.pending[: self.consumer.batch_size]
        delivery = Delivery(
            self.consumer,
            self._invoke,
            self._dead_letters,
            self.stream_arn,
            shard.shard_id,
            sleep=self._sleep,
            now=self._now,
            stopping=self._stop.is_set,
        )
        delivery.deliver(batch)
        if self._stop.is_set():
            return  # stopped mid-batch: not checkpointed
        shard.pending = shard.pending[len(batch) :]
        # With nothing left waiting, what the filter dropped after the batch is checkpointed too.
        shard.checkpoint = _sequence(batch[-1]) if shard.pending else (shard.last_read or _sequence(batch[-1]))
        shard.first_pending_at = self._monotonic() if shard.pending else None

    def poll_once(self) -> int:
        """Read every shard that may be read now and deliver what is due; the records read."""
        started = self._monotonic()
        stale = self._described_at is None or self._monotonic() - self._described_at >= DESCRIBE_INTERVAL_SECONDS
        if stale or not self._all_children_known():
            self._describe()
        read = 0
        for shard in list(self._shards.values()):
            if not self._ready(shard):
                continue
            read += self._read(shard)
            while self._due(shard) and not self._stop.is_set():
                self._deliver(shard)
        if not read and not any(shard.pending for shard in self._shards.values()):
            with self._caught_up:
                self._idle_pass_started = started
                self._caught_up.notify_all()
        return read

    def wait_caught_up(self, since: float, timeout: float) -> bool:
        """Wait until a pass over the shards that began at or after ``since`` (this poller's
        monotonic clock) read nothing new and left no batch in flight: everything committed
        before ``since`` has been delivered. False if that took longer than ``timeout``."""
        with self._caught_up:
            return self._caught_up.wait_for(lambda: self._idle_pass_started >= since, timeout)

    @property
    def checkpoints(self) -> dict[str, str]:
        """Each shard's checkpoint: the last sequence number delivered or filtered out."""
        return {shard.shard_id: shard.checkpoint for shard in self._shards.values() if shard.checkpoint}

    def _all_children_known(self) -> bool:
        # A closed shard's children appear in DescribeStream; until one of them is known, look again.
        parents = {shard.parent for shard in self._shards.values()}
        return all(shard.shard_id in parents for shard in self._shards.values() if shard.closed)

    # -- the thread

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                read = self.poll_once()
            except Exception:  # DynamoDB Local going away, or a bug: log and keep polling
                log.exception("%s: reading %s failed", self.consumer.function, self.consumer.table_name)
                read = 0
            if not read:
                self._stop.wait(POLL_INTERVAL_SECONDS)


def describe_consumer(consumer: StreamConsumer) -> str:
    """One line for ``make run``: the function and the table stream it consumes."""
    options = [consumer.starting_position, f"batch {consumer.batch_size}"]
    retries = "until the record expires" if consumer.maximum_retry_attempts < 0 else consumer.maximum_retry_attempts
    options.append(f"retries {retries}")
    if consumer.bisect_batch_on_function_error:
        options.append("bisect")
    if consumer.report_batch_item_failures:
        options.append("ReportBatchItemFailures")
    if consumer.on_failure:
        options.append(f"on failure → {consumer.on_failure}")
    return f"{consumer.function} ← {consumer.table} stream ({', '.join(options)})"


class StreamConsumers:
    """The pollers of all the template's stream consumers, started and stopped together."""

    def __init__(
        self, consumers: list[StreamConsumer], streams: Any, dynamodb: Any, invoke: Invoke, dead_letters: DeadLetters
    ) -> None:
        self.pollers = []
        for consumer in consumers:
            if not consumer.enabled:
                continue
            table = dynamodb.describe_table(TableName=consumer.table_name)["Table"]
            stream_arn = table.get("LatestStreamArn")
            if not stream_arn:
                raise ValueError(f"table {consumer.table_name} has no stream for {consumer.function}")
            self.pollers.append(StreamPoller(consumer, streams, stream_arn, invoke, dead_letters))

    def start(self) -> None:
        for poller in self.pollers:
            log.info("stream consumer %s", describe_consumer(poller.consumer))
            poller.start()

    def stop(self) -> None:
        for poller in self.pollers:
            poller.stop()

    def wait_caught_up(self, timeout: float) -> bool:
        """Wait until every running poller has delivered what was committed before this call
        (``StreamPoller.wait_caught_up``), at most ``timeout`` seconds in all."""
        since = time.monotonic()
        deadline = since + timeout
        return all(
            poller.wait_caught_up(since, max(0.0, deadline - time.monotonic()))
            for poller in self.pollers
            if poller.running
        )


def streams_client(endpoint: str) -> Any:
    """A boto3 DynamoDB Streams client for DynamoDB Local, with the runtime's fixed credentials."""
    import boto3

    from local_runtime.dynamodb_local import LOCAL_AWS_ENV

    return boto3.client(
        "dynamodbstreams",
        endpoint_url=endpoint,
        region_name=LOCAL_REGION,
        aws_access_key_id=LOCAL_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )
