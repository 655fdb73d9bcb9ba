"""The fan-out of scheduled price changes (R-PAY-9): the Prices table's stream starts it when a
change is saved (INSERT; the fan-out's own updates are ignored), and the ``price-fanout``
schedule resumes any fan-out that stalled, from the cursor stored on the change."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from lifecycle.billing.price_fanout import FANOUT_SWEEP, on_saved, resume_stalled, stream_keys
from lifecycle.core.observability import log_metrics, logger, tracer
from lifecycle.core.settings import get_settings
from lifecycle.entry.scheduled import sweep_handler

scheduled = sweep_handler(FANOUT_SWEEP, resume_stalled)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@log_metrics
def saved(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """A batch of the Prices stream: each change inserted is fanned out within this invocation's
    time; what is left is the schedule's (the change keeps its cursor and stays pending). An
    owner whose notice could not be recorded fails the batch, which Lambda retries."""
    settings = get_settings()
    complete = failed = 0
    for price_key, effective_at in stream_keys(event):
        result = on_saved(price_key, effective_at, context.get_remaining_time_in_millis, settings)
        complete += result.complete
        failed += result.failed
    if failed:
        # Lambda retries the batch (then its on-failure destination); the schedule resumes it anyway.
        raise RuntimeError(f"{failed} owners' price notices not recorded")
    return {"complete": complete}


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    handler = saved if "Records" in event else scheduled
    result: dict[str, Any] = handler(event, context)
    return result
