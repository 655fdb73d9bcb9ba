"""The Lambda entry point of a schedule: parse the EventBridge event, run the sweep."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from lifecycle.core import clock
from lifecycle.core.observability import log_metrics, logger, metrics, tracer
from lifecycle.core.settings import Settings, get_settings
from lifecycle.entry.sweeps import SweepRequest, SweepSummary

Sweep = Callable[[SweepRequest, datetime, Callable[[], int], Settings], SweepSummary]


class ScheduledSweepEvent(EventBridgeModel):
    detail: SweepRequest


def sweep_handler(name: str, sweep: Sweep) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """A handler running ``sweep`` with the clock's now and the Lambda's remaining time."""

    @logger.inject_lambda_context
    @tracer.capture_lambda_handler
    @log_metrics
    @event_parser(model=ScheduledSweepEvent)
    def handler(event: ScheduledSweepEvent, context: LambdaContext) -> dict[str, Any]:
        summary = sweep(event.detail, clock.now(), context.get_remaining_time_in_millis, get_settings())
        logger.info("sweep done", extra={"sweep": name, **summary.model_dump(exclude={"next"})})
        metrics.add_dimension(name="sweep", value=name)
        metrics.add_metric(name="ItemsChanged", unit="Count", value=summary.changed)
        metrics.add_metric(name="ItemErrors", unit="Count", value=summary.errors)
        return summary.model_dump(mode="json")

    return handler
