"""Benchmark: CPU per request in process, each operation's handler against the bare DynamoDB calls it made.

For every operation of the OpenAPI document (``tests/route_examples.py``: one valid example
per operation, made by the caller it names, on a scene built for it), against DynamoDB Local
(AWS's engine in its own JVM, started here in memory; not moto, whose own CPU would be
counted in this process):

- **handler**: ``time.process_time()`` around the function's ``app.handler`` called with the
  API Gateway event the local runtime builds (``tests.support.invocation``: the template's
  route, handler and context); the event is built and the scene set up before the clock starts.
  The process's CPU, so the threads a handler starts (code generation writes on a pool) count.
- **bare calls**: every DynamoDB call that request made, recorded by ``tests/faults.py``'s
  patch of botocore (``FaultInjector`` with no fault: it sees pynamodb's, the transactions'
  and boto3's clients alike) as operation name and parameters, copied after the handler
  returned, then sent again by one plain boto3 client, ``time.process_time()`` around them all.

- **bare provider calls**: a route that reaches the payment provider (``PUT
  /accounts/{id}/payment-method``, a charge) makes HTTP requests through the provider's SDK;
  each is recorded at the SDK's transport (``stripe.RequestsClient``: method, URL, headers,
  body) and sent again by one plain ``requests`` session, its JSON answer parsed, inside the
  same bare clock. As for DynamoDB, what a plain client must spend to make the call is the
  floor; what the SDK spends beyond it (its parameters, retries logic, typed objects) is the
  request's, counted in the handler.

The bare calls are replayed right after the handler, on the same items, unchanged: a
conditional write the handler has just made fails its condition the second time
(``ConditionalCheckFailedException``, ``TransactionCanceledException``), and a transaction
sent again with its ``ClientRequestToken`` is answered as already done. Such a reply is
taken as the same CPU shape (the request is built, signed, sent and its answer parsed alike;
the error is a smaller body than an ``ALL_NEW`` item) and counted in the table's
note; keys are not refreshed, as each route's items would need their own rules.

Per operation: ``--repeats`` samples, medians reported. A read is repeated on one scene; a
mutating operation gets a fresh scene per sample (so does a read that spends what it reads:
an export downloads once). Each operation's first answer is an untimed
warm-up (the function's cold start and its lazy imports). Only 2xx answers are samples.
Target: handler CPU <= 1.5x the bare calls' CPU (the service's own work beside botocore's).

Logs are written at production's level (``POWERTOOLS_LOG_LEVEL=INFO``) to ``/dev/null``;
tracing and metrics are off (as in every local run). The payment provider's stand-in runs
in a process of its own, so its CPU is not the handler's; the SDK's side of a charge is, and
its POSTs replay under their idempotency keys (answered with the first outcome, as a retried
DynamoDB transaction is).
No user pool is configured (the service manages no identities here): a signup's Cognito call
is not measured. Every operation runs on one set of tables, so one that fans out over the
accounts (``POST /admin/prices`` notifies every owner) grows with the scenes built before it.

    .venv/bin/python scripts/bench_cpu.py [--repeats 7] [--only 'POST /redemptions' ...]
        [--profile 'POST /redemptions' --profile-runs 20] [--json PATH] [--markdown PATH]

``--profile OP`` runs that operation's handler ``--profile-runs`` times under cProfile (CPU
time as its timer; fresh scenes for a mutating one) and prints the functions by cumulative
and own time; ``--callers NAME`` adds who called the functions matching NAME.

A measurement, not a test: exit 0 whatever the ratios (misses are reported).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import cProfile
import io
import os
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "shared" / "python")]

# Production's log level (the template's is DEBUG outside prod): set before the service reads it.
os.environ["POWERTOOLS_LOG_LEVEL"] = "INFO"

from botocore.exceptions import ClientError  # noqa: E402

import tests.conftest  # noqa: E402, F401 - sets the functions' environment before the service is imported
from scripts.bench_report import Row, Section  # noqa: E402

REPEATS = 7
TARGET_RATIO = 1.5
PROFILE_RUNS = 20
FRESH_SCENE_FAILURES = 2


# ---------------------------------------------------------------- recording and replaying DynamoDB calls


def replay(client: Any, calls: list[tuple[str, dict[str, Any]]]) -> tuple[float, list[str]]:
    """(CPU seconds, the error codes answered) of ``calls`` sent by ``client``, one after another."""
    from botocore import xform_name

    methods = [(getattr(client, xform_name(operation)), params) for operation, params in calls]
    refused: list[str] = []
    started = time.process_time()
    for method, params in methods:
        try:
            method(**params)
        except ClientError as error:
            refused.append(str(error.response.get("Error", {}).get("Code")))
    return time.process_time() - started, refused


ProviderCall = tuple[str, str, dict[str, str], Any]  # method, URL, headers, body


def replay_provider(session: Any, calls: list[ProviderCall]) -> float:
    """CPU seconds of the payment provider's ``calls`` sent again by a plain ``requests``
    session, each answer's JSON parsed (what the SDK must do at least)."""
    import json

    started = time.process_time()
    for method, url, headers, body in calls:
        json.loads(session.request(method, url, headers=headers, data=body, timeout=30).content)
    return time.process_time() - started


@contextlib.contextmanager
def provider_recorder() -> Iterator[list[ProviderCall]]:
    """The payment provider's HTTP requests made while on, as the SDK's transport sent them."""
    import stripe

    transport = stripe.RequestsClient
    original: Any = transport._request_internal
    calls: list[ProviderCall] = []

    def recording(self: Any, method: str, url: str, headers: Any, post_data: Any, is_streaming: bool) -> Any:
        calls.append((method, url, dict(headers or {}), post_data))
        return original(self, method, url, headers, post_data, is_streaming)

    transport._request_internal = recording  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        transport._request_internal = original  # type: ignore[method-assign]


# ---------------------------------------------------------------- the world: DynamoDB Local and the payment stand-in


@contextlib.contextmanager
def payment_standin_process() -> Iterator[str]:
    """The payment provider's stand-in in a process of its own; its base address."""
    script = (
        "import sys, time\n"
        "from local_runtime.payment_standin import PaymentStandIn\n"
        "print(PaymentStandIn().start(), flush=True)\n"
        "sys.stdin.read()\n"  # until the bench closes its end
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(10)


@contextlib.contextmanager
def world() -> Iterator[str]:
    """DynamoDB Local in memory with the template's tables, the service pointed at it and at
    a stand-in in its own process, logs to /dev/null; DynamoDB Local's endpoint."""
    from lifecycle.core import clock
    from local_runtime import template
    from local_runtime.dynamodb_local import DynamoDBLocal, create_tables, ensure_installed, free_port
    from scripts.bench_round_trips import _Environment
    from tests.conftest import point_service_at

    ensure_installed(ROOT)
    document = template.load()
    resolver = template.Resolver(document)
    with DynamoDBLocal(port=free_port(), data_dir=None) as dynamodb, payment_standin_process() as payments:
        create_tables(dynamodb.endpoint, document, resolver)
        environment = {
            **template.function_environment(document, resolver),
            "DYNAMODB_ENDPOINT": dynamodb.endpoint,
            "PAYMENT_API_BASE": payments,
            "LOCAL_OUTBOX_PATH": os.environ["LOCAL_OUTBOX_PATH"],
            "LOCAL_EXPORTS_PATH": os.environ["LOCAL_EXPORTS_PATH"],
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
        with _Environment() as saved, quiet_stdout():
            point_service_at(environment, saved)
            clock.set_now(None)
            yield dynamodb.endpoint


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """The handlers' log lines (Powertools writes to file descriptor 1) go to /dev/null; the
    report is printed after."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w", encoding="utf-8") as null:
        os.dup2(null.fileno(), 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)


class RealTimeClient:
    """``tests.route_examples.InProcessClient`` on real time: a scene step that moves the clock
    puts it back to real time (the stand-in and the signed webhook run on it)."""

    def __init__(self) -> None:
        from lifecycle.core.settings import get_settings
        from tests.route_examples import InProcessClient

        self._inner = InProcessClient(datetime.now(UTC), Path(get_settings().local_outbox_path or ""))

    def send(self, method: str, url: str, **kwargs: Any) -> Any:
        return self._inner.send(method, url, **kwargs)

    def now(self) -> datetime:
        return self._inner.now()

    def set_clock(self, instant: datetime | None) -> None:
        from lifecycle.core import clock

        clock.set_now(instant)

    def outbox(self) -> list[dict[str, Any]]:
        return self._inner.outbox()


# ---------------------------------------------------------------- measuring


@dataclass
class Sample:
    handler: float  # CPU seconds
    bare: float  # the DynamoDB calls and the payment provider's, replayed
    calls: int
    refused: list[str]
    provider_calls: int = 0


@dataclass
class RouteCpu:
    operation: str
    samples: list[Sample] = field(default_factory=list)
    refused_answers: dict[int, int] = field(default_factory=dict)  # non-2xx answers: not samples
    failure: str | None = None

    @property
    def handler_ms(self) -> float:
        return statistics.median(s.handler for s in self.samples) * 1000 if self.samples else float("nan")

    @property
    def bare_ms(self) -> float:
        return statistics.median(s.bare for s in self.samples) * 1000 if self.samples else float("nan")

    @property
    def calls(self) -> int:
        return max((s.calls for s in self.samples), default=0)

    @property
    def ratio(self) -> float:
        bare = self.bare_ms
        return self.handler_ms / bare if bare > 0 else float("inf")

    @property
    def provider_calls(self) -> int:
        return max((s.provider_calls for s in self.samples), default=0)

    @property
    def refused_calls(self) -> int:
        return max((len(s.refused) for s in self.samples), default=0)

    @property
    def result(self) -> str:
        if not self.samples:
            return "miss"
        if self.calls == 0:
            return "info"
        return "pass" if self.ratio <= TARGET_RATIO else "miss"


def prepared(op: Any, scene: Any) -> Any:
    """The example's invocation on ``scene`` (event and context built; nothing run yet)."""
    from tests.route_examples import EXAMPLES
    from tests.support import invocation

    example = EXAMPLES[op.key]
    request = example.build(scene)
    claims = None if example.caller == "public" else scene.claims(example.caller)
    return invocation(op.method, request.url, body=request.body, claims=claims, headers=request.headers or None)


def measure(op: Any, client: Any, bare: Any, provider: Any, repeats: int) -> RouteCpu:
    """``repeats`` 2xx samples of ``op`` after one untimed; a read on one scene, a write on a fresh one each."""
    from tests.faults import FaultInjector
    from tests.route_examples import EXAMPLES, build_scene

    result = RouteCpu(op.id)
    needs = EXAMPLES[op.key].needs
    scene = None
    warm = False
    failures = 0
    while len(result.samples) < repeats:
        fresh = scene is None or op.mutating
        if fresh:
            scene = build_scene(client, needs)
        invoke = prepared(op, scene)
        with FaultInjector() as recorder, provider_recorder() as provider_calls:
            started = time.process_time()
            answer = invoke()
            spent = time.process_time() - started
        status = int(answer["statusCode"])
        if not 200 <= status < 300:
            result.refused_answers[status] = result.refused_answers.get(status, 0) + 1
            failures += 1 if fresh else 0
            if failures >= FRESH_SCENE_FAILURES:  # not spent but broken: stop asking
                result.failure = f"answered {status} on a fresh scene"
                break
            scene = None  # a read that spends what it reads (an export downloads once): a fresh scene
            continue
        failures = 0
        calls = [(call.operation, copy.deepcopy(call.params)) for call in recorder.calls]
        replayed, refused = replay(bare, calls)
        replayed += replay_provider(provider, provider_calls)
        if warm:
            result.samples.append(Sample(spent, replayed, len(calls), refused, len(provider_calls)))
        warm = True
    return result


def profile(op: Any, client: Any, runs: int, callers: list[str]) -> str:
    """``op``'s handler ``runs`` times under cProfile (warmed first): the top functions, and who
    called each function matching ``callers`` (pstats' patterns)."""
    from tests.route_examples import EXAMPLES, build_scene

    needs = EXAMPLES[op.key].needs
    scene = build_scene(client, needs)
    prepared(op, scene)()  # warm-up
    profiler = cProfile.Profile(time.process_time)  # CPU, as measured; waiting for DynamoDB is not in it
    for _ in range(runs):
        if op.mutating:
            scene = build_scene(client, needs)
        invoke = prepared(op, scene)
        profiler.enable()
        invoke()
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("cumulative").print_stats("lifecycle|email_validator|pydantic|json", 40)
    stats.sort_stats("tottime").print_stats(30)
    for name in callers:
        stats.print_callers(name)
    return out.getvalue()


# ---------------------------------------------------------------- report


def _ordered(results: list[RouteCpu]) -> list[RouteCpu]:
    return sorted(results, key=lambda r: (-r.ratio if r.samples and r.calls else float("inf"), r.operation))


def _note(result: RouteCpu) -> str:
    parts = []
    if result.provider_calls:
        parts.append(f"+{result.provider_calls} payment provider calls, replayed by plain requests")
    if result.refused_calls:
        codes = sorted({code for s in result.samples for code in s.refused})
        parts.append(f"{result.refused_calls} of {result.calls} replayed refused ({', '.join(codes)})")
    if result.calls == 0 and result.samples:
        parts.append("no DynamoDB call")
    if result.refused_answers:
        parts.append("not 2xx: " + ", ".join(f"{s} x{n}" for s, n in sorted(result.refused_answers.items())))
    if result.failure:
        parts.append(result.failure)
    return "; ".join(parts)


def table(results: list[RouteCpu], markdown: bool) -> list[str]:
    header = ["operation", "samples", "calls", "handler CPU ms", "bare calls CPU ms", "ratio", "result", "note"]
    lines = [
        [
            r.operation,
            str(len(r.samples)),
            str(r.calls),
            f"{r.handler_ms:.2f}",
            f"{r.bare_ms:.2f}",
            f"{r.ratio:.2f}x" if r.calls else "-",
            r.result,
            _note(r),
        ]
        for r in _ordered(results)
    ]
    if markdown:
        rule = ["---:" if 1 <= i <= 5 else "---" for i in range(len(header))]
        return ["| " + " | ".join(cells) + " |" for cells in [header, rule, *lines]]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    rendered = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *lines]]
    return [rendered[0], "-" * len(rendered[0]), *rendered[1:]]


def summary(results: list[RouteCpu], repeats: int, seconds: float) -> str:
    judged = [r for r in results if r.result != "info"]
    passed = sum(r.result == "pass" for r in judged)
    handler = sum(r.handler_ms for r in results if r.samples)
    bare = sum(r.bare_ms for r in results if r.samples)
    return (
        f"CPU per request: {passed}/{len(judged)} within {TARGET_RATIO:g}x; over all operations the handlers "
        f"take {handler:.0f} ms of CPU, their bare DynamoDB calls {bare:.0f} ms ({handler / bare:.2f}x); "
        f"medians of {repeats} samples each, {os.cpu_count()} CPUs shared with whatever else runs; {seconds:.0f} s"
    )


def section(results: list[RouteCpu], repeats: int, seconds: float) -> Section:
    rows = [
        Row(
            "CPU per request",
            r.operation,
            (
                f"handler {r.handler_ms:.2f} ms, bare calls {r.bare_ms:.2f} ms ({r.calls} calls"
                f"{f' + {r.provider_calls} to the payment provider' if r.provider_calls else ''}) = {r.ratio:.2f}x"
                if r.samples and r.calls
                else (f"handler {r.handler_ms:.2f} ms, no DynamoDB call" if r.samples else f"no sample: {_note(r)}")
            ),
            f"<= {TARGET_RATIO:g}x bare calls",
            r.result,  # type: ignore[arg-type]
        )
        for r in _ordered(results)
    ]
    heading = "CPU per request (in process, against DynamoDB Local; medians)"
    markdown = "\n".join([f"## {heading}", "", *table(results, True), "", summary(results, repeats, seconds), ""])
    return Section("CPU per request", rows, markdown)


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=REPEATS, help="timed samples per operation")
    parser.add_argument("--only", action="append", default=[], help="measure only this 'METHOD /path' (repeatable)")
    parser.add_argument("--profile", action="append", default=[], help="cProfile this 'METHOD /path' (repeatable)")
    parser.add_argument("--profile-runs", type=int, default=PROFILE_RUNS)
    parser.add_argument("--callers", action="append", default=[], help="with --profile: who calls this function")
    parser.add_argument("--json", type=Path, help="write make bench's rows here (scripts/bench.py)")
    parser.add_argument("--markdown", type=Path, help="write the table as markdown here")
    args = parser.parse_args(argv)

    import requests

    from local_runtime.dynamodb_local import client as dynamodb_client
    from tests.route_examples import assert_catalogued, operations

    ops = operations()
    assert_catalogued(ops)
    by_id = {op.id: op for op in ops}
    missing = sorted(set(args.only + args.profile) - set(by_id))
    if missing:
        print(f"no such operations: {missing}", file=sys.stderr)
        return 2
    chosen = (
        [by_id[name] for name in args.profile]
        if args.profile
        else [op for op in ops if op.id in args.only or not args.only]
    )

    started = time.monotonic()
    results: list[RouteCpu] = []
    profiles: list[str] = []
    with world() as endpoint:
        client = RealTimeClient()
        bare = dynamodb_client(endpoint)
        bare.list_tables(Limit=1)  # its connection and endpoint resolution, outside any clock
        provider = requests.Session()  # the payment provider's plain client, its connection kept
        for op in chosen:
            if args.profile:
                profiles.append(f"=== {op.id}\n{profile(op, client, args.profile_runs, args.callers)}")
                continue
            op_started = time.monotonic()
            try:
                result = measure(op, client, bare, provider, args.repeats)
            except AssertionError as error:  # a scene step refused: report the route, go on
                result = RouteCpu(op.id, failure=f"scene not built: {error}")
            results.append(result)
            print(
                f"  {op.id}: handler {result.handler_ms:.2f} ms, bare {result.bare_ms:.2f} ms "
                f"({time.monotonic() - op_started:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
    if profiles:
        print("\n".join(profiles))
        return 0
    seconds = time.monotonic() - started
    print("\n".join([*table(results, False), "", summary(results, args.repeats, seconds)]))
    made = section(results, args.repeats, seconds)
    if args.json is not None:
        made.write(args.json)
    if args.markdown is not None:
        args.markdown.write_text(made.markdown, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
