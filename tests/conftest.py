"""Test-wide setup: the functions' environment, as template.yaml gives it, before any import.

Settings are read once per process, so the environment is fixed here first; fixtures
then point the storage models at moto (unit) or DynamoDB Local (integration).

``make test`` runs pytest-xdist workers (``-n 2 --dist loadgroup``): each worker is a process
of its own (its own outbox and exports folder below, its own DynamoDB Local and local runtime
on ports of its own, ``worker_port``); tests sharing a costly session or module resource are
kept on one worker (``xdist_scope``); the hardening
figures each worker records are sent to the controller, which prints them once.
"""

from __future__ import annotations

import itertools
import os
import socket
import tempfile
import uuid
import zlib
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import pytest

from lifecycle.core import clock
from local_runtime import template
from local_runtime.payment_standin import Book, PaymentStandIn
from tests import figures

if TYPE_CHECKING:
    from lifecycle.billing import payments
    from lifecycle.core.money import Money

# The session's account at the payment stand-in (tests/conftest.py "the payment provider").
SESSION_PAYMENT_KEY = "sk_test_session"

_resolver = template.Resolver(template.load())
for _name, _value in template.function_environment(template.load(), _resolver).items():
    os.environ.setdefault(_name, _value)
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-central-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_DEV", "false")
# Notices go to a file in tests, never to SES, and access exports to a folder, never to S3 (the
# local runtime does the same). The template declares both empty (AWS's value): empty is unset here.
if not os.environ.get("LOCAL_OUTBOX_PATH"):
    os.environ["LOCAL_OUTBOX_PATH"] = os.path.join(tempfile.gettempdir(), f"outbox-{os.getpid()}.jsonl")
if not os.environ.get("LOCAL_EXPORTS_PATH"):
    os.environ["LOCAL_EXPORTS_PATH"] = os.path.join(tempfile.gettempdir(), f"exports-{os.getpid()}")


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


# ---------------------------------------------------------------- xdist workers

# Each worker takes ports from a block of its own, so two workers never pick the same port
# between probing it and binding it; the blocks of two checkouts differ too (both below the
# kernel's ephemeral range, where the OS hands out ports to others).
PORT_BLOCK = 200
_PORTS_FIRST = 10_000 + 2_000 * (zlib.crc32(str(template.ROOT).encode()) % 10)
_next_port = itertools.count()


def worker_index() -> int:
    """This xdist worker's number (``gw3``: 3); 0 without xdist."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)


def worker_port() -> int:
    """A TCP port free right now, from this worker's own block (each call another one)."""
    first = _PORTS_FIRST + PORT_BLOCK * (worker_index() % 10)
    for _ in range(PORT_BLOCK):
        port = first + next(_next_port) % PORT_BLOCK
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {first}..{first + PORT_BLOCK - 1}")


# ---------------------------------------------------------------- the payment provider


@cache
def payment_standin() -> PaymentStandIn:
    """This process's stand-in of the payment provider (one per xdist worker, on a port of its
    own), serving every test of the process; its clock is the service's."""
    standin = PaymentStandIn(now=lambda: clock.now().timestamp())
    standin.start(port=worker_port())
    return standin


def payment_environment(api_key: str = SESSION_PAYMENT_KEY) -> dict[str, str]:
    """The settings that point the service at the stand-in, charging to ``api_key``'s account
    (a test with a key of its own counts its charges alone)."""
    return {
        "PAYMENT_API_BASE": payment_standin().url,
        "PAYMENT_PROVIDER_SECRET": api_key,
        "PAYMENT_WEBHOOK_SECRET": payment_standin().webhook_secret,
    }


@dataclass
class Ledger:
    """One account at the stand-in, as the service's types: its successful charges (the payment
    intents that succeeded) and its refunds, oldest first."""

    api_key: str

    def book(self) -> Book:
        return payment_standin().book(self.api_key)

    def charges(self) -> list[payments.Charge]:
        intents = self.book().payment_intents.values()
        return [_charge(intent) for intent in intents if intent["status"] == "succeeded"]

    def refunds(self) -> list[payments.Refund]:
        from lifecycle.billing import payments

        return [
            payments.Refund(refund["id"], refund["payment_intent"], _money(refund))
            for refund in self.book().refunds.values()
        ]


def _money(stripe_object: dict[str, Any]) -> Money:
    from lifecycle.core.money import Money

    return Money(amount=stripe_object["amount"], currency=stripe_object["currency"].upper())


def _charge(intent: dict[str, Any]) -> payments.Charge:
    from lifecycle.billing import payments

    return payments.Charge(intent["id"], _money(intent))


def ledger() -> Ledger:
    """The account the service charges to now (its settings' key)."""
    from lifecycle.core.settings import get_settings

    return Ledger(get_settings().payment_provider_secret)


def new_payment_key() -> str:
    return "sk_test_" + uuid.uuid4().hex


# Every test charges at the stand-in: the session's own account unless a test takes one of its own.
os.environ.update(payment_environment())


# Tests that share a session or module resource run on one worker (a "scope" of xdist's
# scheduler, taken whole by one worker): the e2e tests on the session's local runtime (one
# start-up, and test_zz_logs_e2e scans the whole e2e log after them), the integration tests
# on the session's DynamoDB Local (one JVM), and each module with a module-scoped resource
# (its own runtime, a world built once). Every other test is scheduled on its own. The
# scheduler sees node ids only, so the scopes are told by path and by the module's source;
# xdist_group marks cannot say it: under pytest 9, xdist's renaming of the marked items
# (``item._nodeid``) is no longer read.
@cache
def _source(module: str) -> str:
    path = template.ROOT / module
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def xdist_scope(nodeid: str) -> str:
    """The scope of one test: the tests of one scope run on one worker, in collection order."""
    module = nodeid.split("::")[0]
    if module.startswith("tests/integration/"):
        return "dynamodb-local"
    if module.startswith("tests/e2e/"):
        return module if "start_runtime(" in _source(module) else "local-runtime"
    if 'scope="module"' in _source(module):
        return module
    return nodeid


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup``: xdist's scope scheduling over the scopes of ``xdist_scope``."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedResourceScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

    return SharedResourceScheduling(config, log)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """A worker sends the figures its tests recorded to the controller (``workeroutput``)."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["figures"] = figures.recorded()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """The controller takes a finished worker's figures (printed once, below)."""
    for line in getattr(node, "workeroutput", {}).get("figures", []):
        figures.record(line)


def pytest_terminal_summary(terminalreporter: object) -> None:
    """The hardening tests' figures (tests/figures.py), before pytest's own summary line."""
    lines = figures.recorded()
    if lines:
        terminalreporter.section("hardening figures")  # type: ignore[attr-defined]
        for line in lines:
            terminalreporter.write_line(line)  # type: ignore[attr-defined]
