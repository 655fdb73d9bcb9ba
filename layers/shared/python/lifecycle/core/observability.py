"""The function's Logger, Tracer and Metrics: module-level singletons made once.

Service name, namespace, log level and tracing switches come from the Powertools
environment variables that template.yaml sets in ``Globals``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

__all__ = ["MetricUnit", "log_metrics", "logger", "metrics", "traced", "tracer"]

# X-Ray records what the functions call out to: DynamoDB and the other AWS services
# (botocore, which pynamodb uses too) and the CAPTCHA and email providers (urllib over
# http.client, "httplib"). Patching every library the SDK knows (its default) imports
# requests, sqlite3, httpx and more at each cold start only to patch them, a slower cold start.
TRACED_MODULES = ("botocore", "httplib")

logger = Logger()
tracer = Tracer(patch_modules=TRACED_MODULES)
metrics = Metrics()

Handler = Callable[[Any, Any], Any]


def log_metrics(handler: Handler) -> Handler:
    """Publishes what ``handler`` added to ``metrics`` when it returns or raises, as Powertools'
    ``log_metrics`` does, without its cost on the many invocations that add none (it warns "No
    application metrics to publish" on each). With metrics off (the local runtime and tests)
    Powertools never clears what a handler added, so one process serving every request would keep
    each metric value and warn that the ``sweep`` dimension "has already been added": cleared here."""

    @functools.wraps(handler)
    def wrapper(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        finally:
            if is_metrics_disabled():
                metrics.clear_metrics()
            elif metrics.metric_set:
                metrics.flush_metrics()

    return wrapper


def traced(handler: Handler) -> Handler:
    """``tracer.capture_lambda_handler``, or ``handler`` itself when tracing is off (the local
    runtime and tests): a disabled Tracer still opens a dummy segment per invocation, for nothing."""
    if tracer.disabled:
        return handler
    captured: Handler = tracer.capture_lambda_handler(handler)
    return captured
