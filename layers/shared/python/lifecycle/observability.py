"""The function's Logger, Tracer and Metrics: module-level singletons made once.

Service name, namespace, log level and tracing switches come from the Powertools
environment variables that template.yaml sets in ``Globals``.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

__all__ = ["MetricUnit", "logger", "metrics", "tracer"]

logger = Logger()
tracer = Tracer()
metrics = Metrics()
