"""The Vouchers table's stream: campaigns' redeemed counts and abuse signals (R-VOUCH-1, R-VOUCH-2).

The whole batch is counted per campaign first (``counters.count``); Powertools' batch processor
then answers Lambda with the records that were not counted (unreadable ones, or whose campaign's
transaction DynamoDB refused), so only those and what follows them are delivered again.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from lifecycle.core import clock
from lifecycle.core.observability import log_metrics, logger, metrics, tracer
from lifecycle.vouchers import counters

# A batch of which nothing was counted is answered as such too (not raised): Lambda then retries
# from its first record, rather than bisecting a batch that failed for want of DynamoDB.
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


class NotCounted(Exception):
    """A record this invocation did not count: Lambda delivers it again."""


def _sequence(record: Any) -> str | None:
    stream = record.get("dynamodb") if isinstance(record, dict) else None
    return stream.get("SequenceNumber") if isinstance(stream, dict) else None


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    changes, failed = [], set()
    for record in event.get("Records") or []:
        try:
            change = counters.change_of(record)
        except counters.UncountableRecord as error:
            logger.error("uncountable stream record", extra={"sequence": _sequence(record), "error": str(error)})
            failed.add(_sequence(record))
            continue
        if change is not None:
            changes.append(change)
    not_counted = counters.count(changes, clock.now())
    failed |= not_counted

    def check(record: DynamoDBRecord) -> None:
        if record.dynamodb is None or record.dynamodb.sequence_number in failed:
            raise NotCounted(record.event_id)

    metrics.add_metric(name="RecordsCounted", unit="Count", value=len(changes) - len(not_counted))
    metrics.add_metric(name="RecordErrors", unit="Count", value=len(failed))
    return process_partial_response(event=event, record_handler=check, processor=processor, context=context)
