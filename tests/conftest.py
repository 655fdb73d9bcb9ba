"""Test-wide setup: the functions' environment, as template.yaml gives it, before any import.

Settings are read once per process, so the environment is fixed here first; fixtures
then point the storage models at moto (unit) or DynamoDB Local (integration).
"""

from __future__ import annotations

import os
import tempfile

from local_runtime import template

_resolver = template.Resolver(template.load())
for _name, _value in template.function_environment(template.load(), _resolver).items():
    os.environ.setdefault(_name, _value)
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-central-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_DEV", "false")
# Notices go to a file in tests, never to SES (the local runtime does the same).
os.environ.setdefault("LOCAL_OUTBOX_PATH", os.path.join(tempfile.gettempdir(), f"outbox-{os.getpid()}.jsonl"))
# Access exports go to a folder in tests, never to S3 (the local runtime does the same).
os.environ.setdefault("LOCAL_EXPORTS_PATH", os.path.join(tempfile.gettempdir(), f"exports-{os.getpid()}"))


def point_service_at(environment: dict[str, str], monkeypatch: object) -> None:
    """Re-read settings from ``environment`` and point the models and idempotency store at it.

    Settings, the idempotency store and pynamodb connections are cached per process (as in
    Lambda, once per cold start); tests switching backends must drop all three.
    """
    from lifecycle import storage
    from lifecycle.core.settings import get_settings
    from lifecycle.entry import http

    for name, value in environment.items():
        monkeypatch.setenv(name, value)  # type: ignore[attr-defined]
    get_settings.cache_clear()
    http._persistence.cache_clear()
    storage.configure(get_settings())


def pytest_terminal_summary(terminalreporter: object) -> None:
    """The hardening tests' figures (tests/figures.py), before pytest's own summary line."""
    from tests import figures

    lines = figures.recorded()
    if lines:
        terminalreporter.section("hardening figures")  # type: ignore[attr-defined]
        for line in lines:
            terminalreporter.write_line(line)  # type: ignore[attr-defined]
