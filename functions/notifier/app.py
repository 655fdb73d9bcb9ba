"""The notifier: sends each notice committed to the Notifications table, fed by the table's stream
(template.yaml ``NotifierFunction``, docs/ARCHITECTURE.md "Notices and the audit log").

Only an INSERT is a notice to send (the mapping's filter passes only those; others are ignored here
too). ``deliver`` claims each notice before sending, so a re-delivered record is sent once. A failed
send is kept for the retry sweep and is not a batch item failure; anything else (DynamoDB throttled,
a bug) fails that record alone, for Lambda to retry, bisect and at last dead-letter.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from lifecycle import notifications
from lifecycle.core import clock
from lifecycle.core.observability import log_metrics, logger, tracer
from lifecycle.core.settings import get_settings

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def send_record(record: DynamoDBRecord) -> None:
    """One stream record: an inserted notice is delivered; any other change is none of ours."""
    if record.raw_event.get("eventName") != "INSERT":
        return
    image = record.raw_event.get("dynamodb", {}).get("NewImage")
    if not image:
        raise ValueError("an INSERT without its new image: the stream must be NEW_IMAGE")
    notifications.deliver_stream_record(image, clock.now(), notifications.sender_for(get_settings()))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(process_partial_response(event=event, record_handler=send_record, processor=processor, context=context))
