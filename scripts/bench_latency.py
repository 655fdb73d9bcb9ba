"""Benchmark: latency per route and redemption throughput through the local runtime.

Everything goes HTTP -> ``python -m local_runtime`` (werkzeug, threaded) -> the functions'
handlers -> DynamoDB Local, started afresh in memory by ``tests/e2e/conftest.start_runtime``
in a temporary directory.

**Latency.** Every operation of the OpenAPI document (``tests/route_examples.operations()``)
is sent as its catalogue example (``EXAMPLES``), by the caller it names, on a scene built by
``build_scene`` over the e2e tier's ``HttpClient``. GETs are repeated on one shared scene
(built with every step but ``suspended``, as the authorization matrix builds it) and measured
before any mutating operation, so global changes (prices, terms) do not reach them. A mutating
example is sent on a scene of its own and repeated there while it answers 2xx; when it does
not any more (the second POST of the same user), a fresh scene of that example's needs is
built and the example sent again. Only 2xx answers are samples; scene building is not timed.
Each route gets one untimed request first, so the cold start of a function environment (the
runtime keeps one per function and makes more only under concurrency) is not in its latency.
A sample is the wall time of one ``requests.Session`` request, body read. The runtime does
not keep connections alive: werkzeug's server answers HTTP/1.1 but sends ``Connection:
close`` on every response (it cannot drain a request body safely), so every request sets up
a TCP connection and the threaded server starts a thread for it; the Session would reuse
the connection if the runtime allowed it. To show what that HTTP layer costs alone, the run
also times ``POST /_local/token`` (the runtime answers it itself: no function, no DynamoDB),
before and after the routes.

The floor is the same run's bare DynamoDB round trip: a boto3 client (its own keep-alive
pool) straight to the runtime's DynamoDB Local, whose endpoint the runtime prints at start
(``DynamoDB  http://127.0.0.1:<port>``), doing GetItem of the shared scene's account;
measured before and after the routes, the samples pooled. Target: each route's p99 <= 3x
the floor's p50.

**Throughput.** ``--redemptions`` distinct voucher codes (``POST /redemptions``, one new
account each) are redeemed by 32 client threads (``--clients``), each with its own Session,
taking the next code from a shared queue: (a) all codes of one campaign, (b) codes of 32
campaigns, interleaved. Only 201s count; every status is shown (5xx and 503 included), with
the wall time, redemptions per second and the latency under load. A
warm-up round (one redemption per client, concurrent, untimed) first makes the runtime's function
environments for the concurrency (``local_runtime/functions.py``: up to ``--max-concurrency`` per
function, more requests wait for one) and the clients' connections. These runs go to a runtime of
their own started ``--no-streams --no-identity`` (``THROUGHPUT_OPTIONS``) with as many environments
as clients: the request alone, the floor's exact shape. Then, for information, as many codes of 32
campaigns are redeemed through the runtime as ``make run`` runs it (the latency part's): its
identity provider (a process of its own) makes each owner's sign-in, its stream consumers send
each welcome and count each code.

**The floor of throughput.** Before each run, as many bare pairs of a redemption's shape are
sent to the same DynamoDB Local by as many threads, each with its own boto3 client: the
voucher's GetItem and the TransactWriteItems one real redemption sent (recorded once in this
process, after one unrecorded: the redemption handler pointed at the runtime's DynamoDB Local,
``tests/faults.py`` recording its calls), each pair with fresh ids, a voucher of its own (a
copy of the recorded one, put beforehand, of the run's campaigns in turn) and a fresh request
token; the per-IP counter stays the one item all of the run's redemptions count on, and the
rate limits' ceilings are raised out of reach, so every condition holds. An untimed floor run
first warms DynamoDB Local's JVM; then each run and its floor are measured in ``PARTS`` parts,
interleaved with the other run's (floor and redemptions of one campaign, of 32, and again), so
a drift of the machine over the minutes weighs on both alike. Targets: redemptions/s >= 0.9x
the floor's pairs/s, and one campaign's rate within 10 % of 32 campaigns'.

Signups and redemptions share a per-IP limit (locally 1,000 per 60 s window,
``local_runtime/template.py`` LOCAL_PARAMETERS), counted on the service's clock: the latency
part runs on real time and stays far below it; the throughput part stands the clock
(``PUT /_local/clock``) at the start of a fresh window for the warm-up and for every 1,000
redemptions, and puts it back to real time at the end. The limit itself is untouched.

CPU seconds of the runtime's process, DynamoDB Local's JVM and this process during each
throughput batch (``/proc``, Linux only) show which of them is the bottleneck; the machine's
(all its work, other people's included) shows whether the CPUs were to be had at all.

    .venv/bin/python scripts/bench_latency.py [--samples 50] [--only 'GET /accounts/{id}' ...]
        [--redemptions 2000] [--clients 32] [--part both|latency|throughput]
        [--json PATH] [--markdown PATH]

With the defaults (50 samples per GET, 25 per mutating operation) the latency part takes
about 4 minutes on the 2-core development machine, the throughput part about 3 minutes.

A measurement, not a test: the exit code is 0 whatever the results (misses are reported),
and non-zero only when the runtime fails (does not start, stops answering).
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import queue
import re
import secrets
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "shared" / "python")]

# The scene's `unsubscribe` step signs a link in process, with the template's link secret.
import tests.conftest  # noqa: E402, F401 - sets the functions' environment before the service is imported
from local_runtime import dynamodb_local, template  # noqa: E402
from local_runtime.functions import MAX_CONCURRENCY  # noqa: E402
from scripts.bench_report import Result, Row, Section  # noqa: E402
from tests.e2e.conftest import Runtime, start_runtime  # noqa: E402
from tests.e2e.test_authorization_matrix_e2e import SHARED_NEEDS, HttpClient  # noqa: E402
from tests.route_examples import (  # noqa: E402
    EXAMPLES,
    Operation,
    Scene,
    assert_catalogued,
    build_scene,
    operations,
    registrant,
)

GET_SAMPLES = 50  # mutating operations take half as many: each may need a scene per sample
FLOOR_SAMPLES = 200  # of each floor, before the routes and again after
TARGET_RATIO = 3.0
CLIENTS = 32
CAMPAIGNS = 32
REDEMPTIONS = 2000
TARGET_FLOOR_RATIO = 0.9  # redemptions/s over the floor's pairs/s
TARGET_SPREAD = 0.10  # one campaign's rate within this of many campaigns'
PARTS = 4  # parts of each throughput run, interleaved with the other run's
# The throughput runs measure the request against its bare calls: the runtime runs no stream
# consumers (in AWS they run in environments of their own, on other machines; here they would take
# the same 2 CPUs) and no identity provider (Cognito is a service of its own in AWS; moto's would
# too), so a redemption is its GetItem and its transaction, the floor's exact shape. A run as
# `make run` runs (both on) is reported beside them for what they cost here.
THROUGHPUT_OPTIONS = ("--no-streams", "--no-identity")
# Operations that notify every owner of a plan (PriceFanoutFunction, then the notifier).
FANS_OUT = frozenset({"POST /admin/prices"})
# A mutating example that is not 2xx even on a fresh scene is broken, not spent: give up on it.
FRESH_SCENE_FAILURES = 2
DYNAMODB_LINE = re.compile(r"^DynamoDB\s+(http://\S+)", re.MULTILINE)
STAFF = ("staff-1", None, "staff")


# ---------------------------------------------------------------- statistics


@dataclass(frozen=True)
class Percentiles:
    p50: float
    p95: float
    p99: float

    @classmethod
    def of(cls, samples: list[float]) -> Percentiles:
        ordered = sorted(samples)
        return cls(_percentile(ordered, 50), _percentile(ordered, 95), _percentile(ordered, 99))

    def text(self) -> str:
        return f"p50 {self.p50:.1f} ms, p95 {self.p95:.1f}, p99 {self.p99:.1f}"


def _percentile(ordered: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default); NaN without samples."""
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# ---------------------------------------------------------------- the runtime over HTTP


@dataclass
class KeepAliveRuntime(Runtime):
    """The e2e ``Runtime``, its requests through one ``requests.Session`` (a persistent
    connection, once the runtime's server keeps one open)."""

    session: requests.Session = field(default_factory=requests.Session)

    def send(self, method: str, url: str, *, timeout: float, **kwargs: Any) -> requests.Response:
        return self.session.request(method, url, timeout=timeout, **kwargs)


@contextmanager
def running_runtime(options: tuple[str, ...] = ()) -> Iterator[KeepAliveRuntime]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-latency-") as data_dir,
        start_runtime(Path(data_dir), options=options) as started,
    ):
        runtime = KeepAliveRuntime(url=started.url, log_path=started.log_path)
        try:
            yield runtime
        finally:
            runtime.session.close()


def dynamodb_endpoint(runtime: Runtime) -> str:
    """DynamoDB Local's endpoint, as the runtime announces it when ready."""
    found = DYNAMODB_LINE.search(runtime.output())
    if found is None:
        raise RuntimeError(f"the runtime did not print its DynamoDB endpoint:\n{runtime.output()}")
    return found.group(1)


def set_clock(runtime: Runtime, instant: datetime | None) -> None:
    now = instant.strftime("%Y-%m-%dT%H:%M:%SZ") if instant is not None else None
    runtime.put("/_local/clock", json={"now": now}).raise_for_status()


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


# ---------------------------------------------------------------- the floors: a bare GetItem, a bare HTTP request


def measure_floor(endpoint: str, account_id: str, samples: int) -> list[float]:
    """``samples`` GetItems of one account, each timed; one untimed first (the connection)."""
    client = dynamodb_local.client(endpoint)
    table = template.Resolver(template.load()).table_name("AccountsTable")

    def get() -> None:
        found = client.get_item(TableName=table, Key={"id": {"S": account_id}})
        assert "Item" in found, f"account {account_id} not in {table}"

    get()
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        get()
        timings.append(elapsed_ms(started))
    return timings


def measure_http_floor(runtime: Runtime, samples: int) -> list[float]:
    """``samples`` token requests, which the runtime answers without a function or DynamoDB."""
    claims = {"sub": STAFF[0], "account_id": STAFF[1], "role": STAFF[2]}
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        runtime.post("/_local/token", json=claims).raise_for_status()
        timings.append(elapsed_ms(started))
    return timings


# ---------------------------------------------------------------- latency per route


@dataclass
class RouteLatency:
    operation: str
    samples: list[float] = field(default_factory=list)
    scenes: int = 0  # scenes built for it (the shared scene not counted)
    refused: Counter[int] = field(default_factory=Counter)  # non-2xx answers: not samples
    failure: str | None = None  # why it has fewer samples than asked

    @property
    def stats(self) -> Percentiles:
        return Percentiles.of(self.samples)


def timed_example(client: HttpClient, op: Operation, scene: Scene) -> tuple[int, float]:
    """(status, ms) of ``op``'s example on ``scene``; the token is minted before the clock starts."""
    example = EXAMPLES[op.key]
    request = example.build(scene)
    token = None if example.caller == "public" else client.token(scene.claims(example.caller))
    started = time.perf_counter()
    response = client.runtime.request(op.method, request.url, json=request.body, token=token, headers=request.headers)
    return response.status_code, elapsed_ms(started)


def measure_route(client: HttpClient, op: Operation, samples: int, scene: Scene | None) -> RouteLatency:
    """``op``'s example repeated on ``scene`` (None: a fresh one) while it answers 2xx; when it
    does not any more, a fresh scene of the example's needs and again. The first 2xx is the
    untimed warm-up. A read stays on the shared scene unless it spends what it reads (an
    export downloads once)."""
    result = RouteLatency(op.id)
    needs = EXAMPLES[op.key].needs
    fresh_failures = 0
    warm = False
    while len(result.samples) < samples:
        fresh = scene is None
        if scene is None:
            scene = build_scene(client, needs)
            result.scenes += 1
        status, ms = timed_example(client, op, scene)
        if 200 <= status < 300:
            fresh_failures = 0
            if warm:
                result.samples.append(ms)
            warm = True
            continue
        result.refused[status] += 1
        scene = None
        fresh_failures += 1 if fresh else 0
        if fresh_failures >= FRESH_SCENE_FAILURES:  # not spent but broken: stop asking
            result.failure = f"answered {status} on a fresh scene"
            break
    return result


def measure_routes(
    client: HttpClient, ops: list[Operation], shared: Scene, samples: int, progress: Callable[[str], None]
) -> list[RouteLatency]:
    """Every GET on the shared scene, then every mutating operation on scenes of its own, the
    price change last: each one notifies every owner on the plan, and by then the scenes have
    made hundreds; the notifier sending those thousands of notices in the runtime's process would
    slow every later route and hold back the notices later scenes wait for in the outbox."""
    results = []
    order = sorted(ops, key=lambda op: (op.mutating, op.id in FANS_OUT))  # stable: document order within
    for op in order:
        started = time.monotonic()
        try:
            if op.mutating:
                result = measure_route(client, op, mutating_samples(samples), None)
            else:
                result = measure_route(client, op, samples, shared)
        except AssertionError as error:  # a scene step refused: report the route, go on with the rest
            result = RouteLatency(op.id, failure=f"scene not built: {error}")
        progress(f"{op.id}: {len(result.samples)} samples in {time.monotonic() - started:.1f} s")
        results.append(result)
    return results


def mutating_samples(samples: int) -> int:
    return max(1, samples // 2)


# ---------------------------------------------------------------- throughput


@dataclass
class Batch:
    """What a throughput run saw: every answer's status and latency, the wall time, CPU per process."""

    subject: str
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def created(self) -> int:
        return self.statuses["201"]

    def add(self, other: Batch) -> None:
        """``other``'s answers, time and CPU added to these (one run measured in parts)."""
        self.statuses.update(other.statuses)
        self.latencies += other.latencies
        self.wall_seconds += other.wall_seconds
        self.cpu_seconds = _summed(self.cpu_seconds, other.cpu_seconds)

    @property
    def rate(self) -> float:
        return self.created / self.wall_seconds if self.wall_seconds else 0.0

    def cores(self, name: str) -> float:
        return self.cpu_seconds.get(name, math.nan) / self.wall_seconds if self.wall_seconds else math.nan

    def cpu_ms_per_redemption(self, name: str) -> float:
        return self.cpu_seconds.get(name, math.nan) * 1000 / self.created if self.created else math.nan

    def ceiling(self) -> str:
        """The rate this CPU cost allows at best: our processes alone on every CPU, and the
        runtime alone on one (one process, one GIL)."""
        names = ("runtime", "DynamoDB Local", "identity provider", "bench client")
        ours = {name: self.cpu_ms_per_redemption(name) for name in names if name in self.cpu_seconds}
        if any(math.isnan(ms) for ms in ours.values()) or "runtime" not in ours:
            return f"{self.subject}: CPU per redemption not measured"
        cpus = os.cpu_count() or 1
        each = ", ".join(f"{name} {ms:.1f} ms" for name, ms in ours.items())
        return (
            f"{self.subject}: CPU per redemption: {each} -> at best {cpus * 1000 / sum(ours.values()):.0f}/s "
            f"on {cpus} CPUs with nothing else running; the runtime on its one core (GIL) at best "
            f"{1000 / ours['runtime']:.0f}/s"
        )


def _summed(one: dict[str, float], other: dict[str, float]) -> dict[str, float]:
    """CPU seconds of two parts of a run: each process measured in both (a part starting empty)."""
    if not one:
        return dict(other)
    return {name: one[name] + other[name] for name in one if name in other}


class WindowClock:
    """Stands the service's clock at the start of a fresh rate-limit window, one after another
    (one such clock per runtime: a second would hand out the same windows again).

    The windows start a day after real time, on a whole hour: far from the latency part's.
    """

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._window = timedelta(seconds=int(template.LOCAL_PARAMETERS["SignupWindowSeconds"]))
        self._next = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)

    def fresh(self) -> None:
        set_clock(self._runtime, self._next)
        self._next += self._window


def make_codes(runtime: Runtime, campaigns: int, total: int) -> tuple[list[str], list[str]]:
    """``total`` new codes from ``campaigns`` new campaigns, interleaved (campaign 1, 2, ..., 1, 2);
    (the codes, the campaigns' ids)."""
    staff = runtime.token(*STAFF)
    per_campaign = math.ceil(total / campaigns)
    columns = []
    campaign_ids = []
    for _ in range(campaigns):
        campaign_id = runtime.create_campaign("bench")
        generated = runtime.post(f"/admin/campaigns/{campaign_id}/codes", json={"count": per_campaign}, token=staff)
        generated.raise_for_status()
        columns.append(list(generated.json()["codes"]))
        campaign_ids.append(campaign_id)
    interleaved = [code for row in zip(*columns, strict=True) for code in row]
    return interleaved[:total], campaign_ids


def redeem(session: requests.Session, url: str, code: str) -> tuple[str, float]:
    """One voucher signup with a new person and company; (status or error name, ms)."""
    body = registrant(uuid.uuid4().hex[:12], code=code)
    started = time.perf_counter()
    try:
        status = str(session.post(url + "/redemptions", json=body, timeout=60).status_code)
    except requests.RequestException as error:
        status = type(error).__name__
    return status, elapsed_ms(started)


def run_clients(url: str, sessions: list[requests.Session], codes: list[str]) -> tuple[list[tuple[str, float]], float]:
    """Every code redeemed by one thread per session, released together; (answers, wall seconds)."""
    work: queue.SimpleQueue[str] = queue.SimpleQueue()
    for code in codes:
        work.put(code)
    answers: list[tuple[str, float]] = []
    lock = threading.Lock()
    started: list[float] = []
    barrier = threading.Barrier(len(sessions), action=lambda: started.append(time.perf_counter()))

    def client(session: requests.Session) -> None:
        barrier.wait(timeout=60)
        while True:
            try:
                code = work.get_nowait()
            except queue.Empty:
                return
            answer = redeem(session, url, code)
            with lock:
                answers.append(answer)

    threads = [threading.Thread(target=client, args=(session,)) for session in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers, time.perf_counter() - started[0]


@dataclass(frozen=True)
class Load:
    """How the throughput runs are driven."""

    clients: int
    windows: WindowClock
    limit: int  # redemptions per rate-limit window
    processes: dict[str, int]  # whose CPU is measured


def redemption_batch(runtime: Runtime, subject: str, codes: list[str], load: Load) -> Batch:
    """A warm-up of one code per client, then the rest in chunks of ``load.limit`` (one window each)."""
    sessions = [requests.Session() for _ in range(load.clients)]
    batch = Batch(subject)
    try:
        load.windows.fresh()
        run_clients(runtime.url, sessions, codes[: load.clients])
        before = cpu_seconds(load.processes)
        for first in range(load.clients, len(codes), load.limit):
            load.windows.fresh()
            answers, wall = run_clients(runtime.url, sessions, codes[first : first + load.limit])
            batch.wall_seconds += wall
            for status, ms in answers:
                batch.statuses[status] += 1
                batch.latencies.append(ms)
        after = cpu_seconds(load.processes)
        batch.cpu_seconds = {name: after[name] - before[name] for name in after if name in before}
    finally:
        for session in sessions:
            session.close()
    return batch


def measure_throughput(
    runtime: Runtime, windows: WindowClock, clients: int, redemptions: int, progress: Callable[[str], None]
) -> tuple[list[Batch], list[FloorBatch], RedemptionShape | None]:
    """(a) every code from one campaign, (b) codes from ``CAMPAIGNS`` campaigns; each with its
    floor: as many bare redemption-shaped call pairs over the same campaigns. Measured in
    ``PARTS`` interleaved (floor a, redemptions a, floor b, redemptions b, and again), so a
    drift of the machine over the run (DynamoDB Local's JVM still compiling, its heap growing)
    weighs on both sides alike."""
    load = Load(
        clients=clients,
        windows=windows,
        limit=int(template.LOCAL_PARAMETERS["SignupLimitPerIp"]),
        processes=runtime_processes(),
    )
    spreads = ((1, "one campaign"), (CAMPAIGNS, f"{CAMPAIGNS} campaigns"))
    part = math.ceil(redemptions / PARTS)
    batches = [Batch(f"redemptions, {clients} clients, {spread}") for _, spread in spreads]
    floors = [FloorBatch(f"floor, {clients} clients, {spread}") for _, spread in spreads]
    try:
        # Each part redeems ``clients`` codes more, untimed: its warm-up (see redemption_batch).
        made = [make_codes(runtime, campaigns, PARTS * (part + clients) + 2) for campaigns, _ in spreads]
        (first_codes, first_campaigns), _ = made
        shape = capture_redemption(runtime, *first_codes[-2:])  # one real redemption, its calls recorded
        # DynamoDB Local's JVM compiles its hot paths under the first load: the first measured
        # part would be slower for that alone. An untimed floor run takes it.
        floor_batch(dynamodb_endpoint(runtime), shape, first_campaigns, part + clients, load)
        progress("DynamoDB Local warmed up")
        for number in range(PARTS):
            for (codes, campaign_ids), floor, batch in zip(made, floors, batches, strict=True):
                floor.add(floor_batch(dynamodb_endpoint(runtime), shape, campaign_ids, part + clients, load))
                mine = codes[number * (part + clients) : (number + 1) * (part + clients)]
                batch.add(redemption_batch(runtime, batch.subject, mine, load))
                progress(f"{batch.subject}, part {number + 1} of {PARTS}: {batch.created} created so far")
    finally:
        set_clock(runtime, None)
    return batches, floors, shape


def measure_as_run(runtime: Runtime, clients: int, redemptions: int, progress: Callable[[str], None]) -> Batch:
    """Codes of ``CAMPAIGNS`` campaigns redeemed through a runtime as ``make run`` runs it: the
    identity provider makes each owner's sign-in, the stream consumers send each welcome and count
    each code, all on this machine's CPUs."""
    load = Load(
        clients=clients,
        windows=WindowClock(runtime),
        limit=int(template.LOCAL_PARAMETERS["SignupLimitPerIp"]),
        processes=runtime_processes(),
    )
    try:
        codes, _ = make_codes(runtime, CAMPAIGNS, redemptions + clients)
        subject = f"redemptions as make run runs them, {clients} clients, {CAMPAIGNS} campaigns"
        batch = redemption_batch(runtime, subject, codes, load)
    finally:
        set_clock(runtime, None)
    progress(f"{batch.subject}: {batch.created} created in {batch.wall_seconds:.1f} s")
    return batch


# ---------------------------------------------------------------- the floor of throughput: a redemption's bare calls


@dataclass(frozen=True)
class RedemptionShape:
    """The DynamoDB calls of one real redemption (``POST /redemptions`` through the handler in
    this process, on the runtime's tables, identities and DynamoDB Local), as sent."""

    calls: list[tuple[str, dict[str, Any]]]  # every DynamoDB call, in order
    tag: str  # the registrant's tag: in its email, subdomain and company name
    campaign_id: str
    code_hash: str
    voucher: dict[str, Any]  # the voucher's item as it was before the redemption

    @property
    def get(self) -> dict[str, Any]:
        return next(params for operation, params in self.calls if operation == "GetItem")

    @property
    def transaction(self) -> dict[str, Any]:
        return next(params for operation, params in self.calls if operation == "TransactWriteItems")

    def others(self) -> list[str]:
        """The redemption's calls beyond the floor's GetItem and TransactWriteItems."""
        pair = ("GetItem", "TransactWriteItems")
        rest = [operation for operation, _ in self.calls]
        for operation in pair:
            rest.remove(operation)
        return rest


IDENTITY_LINE = re.compile(r"^Identity\s+(http://\S+) \(Cognito's API; pool (\S+),", re.MULTILINE)
# Per request ids the service makes (``acc_``, ``usr_``, ``ntf_`` and 32 hex digits: uuids, hashed
# emails): each pair the floor sends gets its own, so every condition holds as it did.
GENERATED = re.compile(r"\b[a-z]{3}_[0-9a-f]{20}\b|(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")
# Kept as recorded: every redemption of a run comes from the bench's one IP, so they all count
# on this one rate-limit item (lifecycle.registration.rate_limit.SIGNUP_IP), and so does the floor.
SHARED_KEY = "signup-ip:"
UNLIMITED = "1000000000"  # a rate limit's ceiling in the floor's conditions: counted, never reached


def capture_redemption(runtime: Runtime, warm_up: str, code: str) -> RedemptionShape:
    """Redeem ``code`` through the function's handler in this process, pointed at the runtime's
    DynamoDB Local and identity provider, every DynamoDB call recorded (``tests/faults.py``);
    ``warm_up`` first, unrecorded, as a warm environment's redemption is the one measured (a cold
    one also reads the Terms version in force, which it keeps)."""
    from lifecycle.core import clock
    from scripts.bench_round_trips import _Environment
    from tests.conftest import point_service_at
    from tests.faults import FaultInjector
    from tests.support import call

    identity = IDENTITY_LINE.search(runtime.output())
    environment = {"DYNAMODB_ENDPOINT": dynamodb_endpoint(runtime)}
    if identity is not None:
        environment |= {"IDENTITY_ENDPOINT": identity.group(1), "IDENTITY_USER_POOL_ID": identity.group(2)}
    tag = uuid.uuid4().hex[:12]
    with _Environment() as saved:
        point_service_at(environment, saved)
        clock.set_now(None)
        warmed = call("POST", "/redemptions", body=registrant(uuid.uuid4().hex[:12], code=warm_up))
        assert warmed.status == 201, f"the warm-up redemption answered {warmed.status}: {warmed.body}"
        with FaultInjector() as recorder:
            answer = call("POST", "/redemptions", body=registrant(tag, code=code))
        point_service_at({}, saved)
    assert answer.status == 201, f"the captured redemption answered {answer.status}: {answer.body}"
    calls = [(c.operation, copy.deepcopy(c.params)) for c in recorder.calls]
    shape = RedemptionShape(calls, tag, str(answer.body["voucher"]["campaign_id"]), "", {})
    code_hash = shape.get["Key"]["code_hash"]["S"]
    voucher = _unredeemed(dynamodb_endpoint(runtime), shape.get, shape.transaction)
    return RedemptionShape(calls, tag, shape.campaign_id, code_hash, voucher)


def _unredeemed(endpoint: str, get: dict[str, Any], transaction: dict[str, Any]) -> dict[str, Any]:
    """The voucher's item as it is now, without what the redemption's update SET on it."""
    found = dynamodb_local.client(endpoint).get_item(TableName=get["TableName"], Key=get["Key"], ConsistentRead=True)
    item: dict[str, Any] = found["Item"]
    (update,) = [
        entry["Update"]
        for entry in transaction["TransactItems"]
        if "Update" in entry and entry["Update"]["TableName"] == get["TableName"]
    ]
    names = update.get("ExpressionAttributeNames", {})
    assignments = update["UpdateExpression"].split("SET", 1)[1].split(" ADD ")[0].split(" REMOVE ")[0]
    for assignment in assignments.split(","):
        placeholder = assignment.split("=")[0].strip()
        item.pop(names.get(placeholder, placeholder), None)
    return item


def _refreshed(value: Any, swaps: dict[str, str], memo: dict[str, str]) -> Any:
    """``value`` with the swaps made and every generated id replaced by a fresh one of its shape
    (the same one wherever it recurs in ``value``)."""
    if isinstance(value, dict):
        return {key: _refreshed(inner, swaps, memo) for key, inner in value.items()}
    if isinstance(value, list):
        return [_refreshed(inner, swaps, memo) for inner in value]
    if not isinstance(value, str) or value.startswith(SHARED_KEY):
        return value
    for old, new in swaps.items():
        value = value.replace(old, new)
    return GENERATED.sub(lambda found: memo.setdefault(found.group(0), _fresh_like(found.group(0))), value)


def _fresh_like(text: str) -> str:
    if "_" in text:
        prefix, digits = text.split("_", 1)
        return f"{prefix}_{secrets.token_hex(len(digits) // 2)}"
    return secrets.token_hex(len(text) // 2)


def _unlimited(transaction: dict[str, Any]) -> dict[str, Any]:
    """The transaction with every rate limit's ceiling raised out of reach (its counting kept)."""
    for entry in transaction["TransactItems"]:
        update = entry.get("Update")
        if update is None or not update["TableName"].endswith("RateLimitsTable"):
            continue
        for placeholder in re.findall(r"< (:\w+)", update.get("ConditionExpression", "")):
            update["ExpressionAttributeValues"][placeholder] = {"N": UNLIMITED}
    return transaction


def floor_pairs(
    shape: RedemptionShape, campaign_ids: list[str], count: int
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``count`` (GetItem, TransactWriteItems) pairs of the redemption's shape, each on a voucher of
    its own (campaign by campaign, in turn), with fresh ids, a fresh request token and the same
    items otherwise: what ``count`` redemptions of those campaigns would send."""
    pairs = []
    for index in range(count):
        campaign = campaign_ids[index % len(campaign_ids)]
        swaps = {shape.code_hash: secrets.token_hex(32), shape.campaign_id: campaign, shape.tag: uuid.uuid4().hex[:12]}
        memo: dict[str, str] = {}
        get = _refreshed(shape.get, swaps, memo)
        transaction = _unlimited(_refreshed(shape.transaction, swaps, memo))
        transaction["ClientRequestToken"] = str(uuid.uuid4())
        pairs.append((get, transaction))
    return pairs


def put_vouchers(
    endpoint: str, shape: RedemptionShape, pairs: list[tuple[dict[str, Any], dict[str, Any]]], campaign_ids: list[str]
) -> None:
    """The pairs' vouchers, each a copy of the captured one under its pair's hash and campaign
    (``floor_pairs`` gives pair ``i`` campaign ``i`` modulo their number; a redemption's
    transaction names no campaign: its counts come from the Vouchers stream)."""
    client = dynamodb_local.client(endpoint)
    table = shape.get["TableName"]
    items = []
    for index, (get, _) in enumerate(pairs):
        campaign = campaign_ids[index % len(campaign_ids)]
        items.append({**shape.voucher, "code_hash": get["Key"]["code_hash"], "campaign_id": {"S": campaign}})
    for first in range(0, len(items), 25):
        chunk = [{"PutRequest": {"Item": item}} for item in items[first : first + 25]]
        client.batch_write_item(RequestItems={table: chunk})


@dataclass
class FloorBatch:
    """Bare redemption-shaped pairs (a GetItem and a TransactWriteItems) sent by concurrent threads."""

    subject: str = ""
    answers: Counter[str] = field(default_factory=Counter)
    wall_seconds: float = 0.0
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def done(self) -> int:
        return sum(n for answer, n in self.answers.items() if answer.startswith("ok"))

    def add(self, other: FloorBatch) -> None:
        """``other``'s answers, time and CPU added to these (one run measured in parts)."""
        self.answers.update(other.answers)
        self.wall_seconds += other.wall_seconds
        self.cpu_seconds = _summed(self.cpu_seconds, other.cpu_seconds)

    @property
    def rate(self) -> float:
        return self.done / self.wall_seconds if self.wall_seconds else 0.0


def floor_batch(endpoint: str, shape: RedemptionShape, campaign_ids: list[str], count: int, load: Load) -> FloorBatch:
    """``count`` pairs by ``load.clients`` threads, each with a boto3 client of its own; the first
    ``load.clients`` pairs (one per thread: its connection) untimed, as the redemptions' warm-up."""
    pairs = floor_pairs(shape, campaign_ids, count)
    put_vouchers(endpoint, shape, pairs, campaign_ids)
    clients = [dynamodb_local.client(endpoint, max_pool_connections=1) for _ in range(load.clients)]
    batch = FloorBatch()
    _send_pairs(clients, pairs[: load.clients])
    before = cpu_seconds(load.processes)
    answers, batch.wall_seconds = _send_pairs(clients, pairs[load.clients :])
    after = cpu_seconds(load.processes)
    batch.answers.update(answers)
    batch.cpu_seconds = {name: after[name] - before[name] for name in after if name in before}
    return batch


def _retries(response: dict[str, Any]) -> int:
    """How often botocore sent the call again before this answer (a throttle, a transaction conflict)."""
    return int(response.get("ResponseMetadata", {}).get("RetryAttempts", 0))


def _send_pairs(clients: list[Any], pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> tuple[list[str], float]:
    """Every pair sent by one thread per client, released together; (each pair's answer, wall seconds)."""
    work: queue.SimpleQueue[tuple[dict[str, Any], dict[str, Any]]] = queue.SimpleQueue()
    for pair in pairs:
        work.put(pair)
    answers: list[str] = []
    lock = threading.Lock()
    started: list[float] = []
    barrier = threading.Barrier(len(clients), action=lambda: started.append(time.perf_counter()))

    def sender(client: Any) -> None:
        barrier.wait(timeout=60)
        while True:
            try:
                get, transaction = work.get_nowait()
            except queue.Empty:
                return
            try:
                retried = _retries(client.get_item(**get)) + _retries(client.transact_write_items(**transaction))
                answer = "ok" if not retried else f"ok after {retried} retries"
            except ClientError as error:
                answer = str(error.response.get("Error", {}).get("Code"))
            with lock:
                answers.append(answer)

    threads = [threading.Thread(target=sender, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers, time.perf_counter() - started[0]


# ---------------------------------------------------------------- CPU per process (Linux /proc)


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used) of ``pid``, or None when it cannot be read."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks


# The runtime's children, by what their command line runs.
CHILDREN = (("DynamoDB Local", "DynamoDBLocal.jar"), ("identity provider", "moto.server"))


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", errors="replace")
    except OSError:
        return ""


def runtime_processes() -> dict[str, int]:
    """This process, the runtime (its child) and the runtime's children (DynamoDB Local, the
    identity provider), by pid."""
    if not Path("/proc").is_dir():
        return {}
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = stat[0]
    found = {"bench client": os.getpid()}
    runtime = [pid for pid, parent in parents.items() if parent == os.getpid()]
    if len(runtime) == 1:
        found["runtime"] = runtime[0]
        children = [pid for pid, parent in parents.items() if parent == runtime[0]]
        for name, marker in CHILDREN:
            matching = [pid for pid in children if marker in _command_line(pid)]
            if len(matching) == 1:
                found[name] = matching[0]
    return found


def cpu_seconds(processes: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each process, and by the whole machine (other work included)."""
    used = {}
    for name, pid in processes.items():
        stat = _stat(pid)
        if stat is not None:
            used[name] = stat[1]
    busy = _machine_busy_seconds()
    if busy is not None:
        used["machine"] = busy
    return used


def _machine_busy_seconds() -> float | None:
    """All CPUs' non-idle time since boot (``/proc/stat``: idle and iowait are the 4th and 5th)."""
    try:
        first = Path("/proc/stat").read_text(encoding="ascii").splitlines()[0].split()
    except (OSError, IndexError):
        return None
    ticks = [int(value) for value in first[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # guest time is in user already


# ---------------------------------------------------------------- report


def latency_rows(results: list[RouteLatency], floor: Percentiles) -> list[Row]:
    limit = TARGET_RATIO * floor.p50
    rows = []
    for result in sorted(results, key=_slowest_first):
        target = f"p99 <= {TARGET_RATIO:g}x floor ({limit:.1f} ms)"
        if not result.samples:
            rows.append(Row("latency", result.operation, f"no 2xx sample: {result.failure}", target, "miss"))
            continue
        stats = result.stats
        measured = f"{stats.text()} = {stats.p99 / floor.p50:.1f}x floor"
        rows.append(Row("latency", result.operation, measured, target, "pass" if stats.p99 <= limit else "miss"))
    return rows


def _slowest_first(result: RouteLatency) -> tuple[float, str]:
    p99 = result.stats.p99
    return (-math.inf if math.isnan(p99) else -p99, result.operation)


def throughput_rows(batches: list[Batch], floors: list[FloorBatch], as_run: Batch | None = None) -> list[Row]:
    """Per run, the redemptions' rate as a ratio to the floor's of the same campaigns; then one
    campaign against many; then, for information, the rate as ``make run`` runs them."""
    rows = []
    for batch, floor in zip(batches, floors, strict=True):
        stats = Percentiles.of(batch.latencies)
        errors = sum(n for status, n in batch.statuses.items() if not status.startswith("2"))
        ratio = batch.rate / floor.rate if floor.rate else math.nan
        measured = (
            f"{batch.rate:.0f}/s = {ratio:.2f}x floor ({floor.rate:.0f} bare GetItem + TransactWriteItems pairs/s); "
            f"{batch.created} x 201 in {batch.wall_seconds:.2f} s, {errors} not 201, "
            f"latency p50 {stats.p50:.0f} ms, p99 {stats.p99:.0f} ms"
        )
        passed = ratio >= TARGET_FLOOR_RATIO
        subject = f"redemptions vs floor, {batch.subject.removeprefix('redemptions, ')}"
        rows.append(Row("throughput", subject, measured, f">= {TARGET_FLOOR_RATIO:g}x floor", _verdict(passed)))
    if len(batches) == 2:
        one, many = batches
        apart = abs(one.rate - many.rate) / max(one.rate, many.rate) if max(one.rate, many.rate) else math.nan
        measured = f"{one.rate:.0f}/s vs {many.rate:.0f}/s: {apart:.1%} apart"
        subject = f"redemptions, one campaign vs {CAMPAIGNS}"
        rows.append(
            Row("throughput", subject, measured, f"within {TARGET_SPREAD:.0%}", _verdict(apart <= TARGET_SPREAD))
        )
    if as_run is not None and as_run.wall_seconds:
        stats = Percentiles.of(as_run.latencies)
        floor_rate = floors[-1].rate if floors else math.nan
        measured = (
            f"{as_run.rate:.0f}/s = {as_run.rate / floor_rate:.2f}x the {CAMPAIGNS}-campaign floor; identity provider "
            f"{as_run.cpu_ms_per_redemption('identity provider'):.1f} ms and runtime "
            f"{as_run.cpu_ms_per_redemption('runtime'):.1f} ms CPU per redemption; latency p50 {stats.p50:.0f} ms"
        )
        rows.append(Row("throughput", as_run.subject, measured, "reported", "info"))
    return rows


def _verdict(passed: bool) -> Result:
    return "pass" if passed else "miss"


def latency_table(results: list[RouteLatency], floor: Percentiles, http: Percentiles, markdown: bool) -> list[str]:
    header = ["operation", "samples", "p50 ms", "p95 ms", "p99 ms", "p99/floor", "result", "note"]
    lines = []
    for result in sorted(results, key=_slowest_first):
        stats = result.stats
        ratio = stats.p99 / floor.p50
        passed = not math.isnan(ratio) and stats.p99 <= TARGET_RATIO * floor.p50
        lines.append(
            [
                result.operation,
                str(len(result.samples)),
                f"{stats.p50:.1f}",
                f"{stats.p95:.1f}",
                f"{stats.p99:.1f}",
                f"{ratio:.1f}x",
                "pass" if passed else "miss",
                _note(result),
            ]
        )
    floor_line = (
        f"floor (bare GetItem to DynamoDB Local, boto3): {floor.text()}; "
        f"target p99 <= {TARGET_RATIO:g}x floor p50 = {TARGET_RATIO * floor.p50:.1f} ms"
    )
    http_line = f"runtime's HTTP layer alone (POST /_local/token, a new connection each): {http.text()}"
    return [*_table(header, lines, markdown, numeric=range(1, 6)), "", floor_line, http_line]


def _note(result: RouteLatency) -> str:
    parts = []
    if result.scenes:
        parts.append(f"{result.scenes} scenes")
    if result.refused:
        parts.append("not 2xx: " + ", ".join(f"{status} x{n}" for status, n in sorted(result.refused.items())))
    if result.failure:
        parts.append(result.failure)
    return "; ".join(parts)


def throughput_table(batches: list[Batch], floors: list[FloorBatch], as_run: Batch | None, markdown: bool) -> list[str]:
    header = ["run", "done", "wall s", "per s", "p50 ms", "p99 ms", "answers", "CPU cores used", "vs floor"]
    lines = []
    for batch, floor in zip(batches, floors, strict=True):
        floor_cpu = ", ".join(f"{name} {cores:.2f}" for name, cores in _cores(floor.cpu_seconds, floor.wall_seconds))
        lines.append(
            [
                floor.subject,
                str(floor.done),
                f"{floor.wall_seconds:.2f}",
                f"{floor.rate:.0f}",
                "-",
                "-",
                " ".join(f"{answer} x{n}" for answer, n in sorted(floor.answers.items())),
                floor_cpu or "-",
                "",
            ]
        )
        lines.append(_batch_line(batch, batch.rate / floor.rate if floor.rate else math.nan, judged=True))
    if as_run is not None and floors and floors[-1].rate:
        lines.append(_batch_line(as_run, as_run.rate / floors[-1].rate, judged=False))
    return _table(header, lines, markdown, numeric=range(1, 6))


def _batch_line(batch: Batch, ratio: float, judged: bool) -> list[str]:
    """A batch's line; ``ratio``: its rate over its floor's, judged against the target or not."""
    stats = Percentiles.of(batch.latencies)
    cpu = ", ".join(f"{name} {batch.cores(name):.2f}" for name in batch.cpu_seconds) or "-"
    verdict = _verdict(ratio >= TARGET_FLOOR_RATIO) if judged else "info"
    return [
        batch.subject,
        str(batch.created),
        f"{batch.wall_seconds:.2f}",
        f"{batch.rate:.0f}",
        f"{stats.p50:.0f}",
        f"{stats.p99:.0f}",
        " ".join(f"{status} x{n}" for status, n in sorted(batch.statuses.items())),
        cpu,
        f"{ratio:.2f}x ({verdict})",
    ]


def _cores(cpu: dict[str, float], wall: float) -> list[tuple[str, float]]:
    return [(name, seconds / wall) for name, seconds in cpu.items()] if wall else []


def floor_note(shape: RedemptionShape | None) -> str:
    if shape is None:
        return ""
    items = len(shape.transaction["TransactItems"])
    others = ", ".join(shape.others()) or "none"
    return (
        "floor: one thread per client, each with its own boto3 client, each pair a GetItem of a voucher and a "
        f"TransactWriteItems of the {items} items one real redemption wrote (recorded in this process through "
        f"the handler), ids, voucher, campaign and request token fresh per pair, rate limits counted but out of "
        f"reach; the redemption's other DynamoDB calls, not in the floor: {others}."
    )


def _table(header: list[str], lines: list[list[str]], markdown: bool, numeric: range) -> list[str]:
    if markdown:
        rule = ["---:" if i in numeric else "---" for i in range(len(header))]
        return ["| " + " | ".join(cells) + " |" for cells in [header, rule, *lines]]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    top = line(header).rstrip()
    return [top, "-" * len(top), *(line(cells).rstrip() for cells in lines)]


@dataclass
class Outcome:
    routes: list[RouteLatency] = field(default_factory=list)
    floor: Percentiles | None = None
    http_floor: Percentiles = field(default_factory=lambda: Percentiles.of([]))
    batches: list[Batch] = field(default_factory=list)
    floors: list[FloorBatch] = field(default_factory=list)
    shape: RedemptionShape | None = None
    as_run: Batch | None = None  # redemptions through a runtime as `make run` runs it
    clients: int = CLIENTS  # of the throughput runs, and so their runtime's environments per function
    seconds: dict[str, float] = field(default_factory=dict)

    def report(self, markdown: bool) -> list[str]:
        lines: list[str] = []
        if self.floor is not None:
            heading = "Latency per route (2xx only; warmed; a new connection per request)"
            table = latency_table(self.routes, self.floor, self.http_floor, markdown)
            lines += [f"## {heading}" if markdown else heading, "", *table]
        if self.batches:
            heading = "Redemption throughput (concurrent clients, distinct codes)"
            table = throughput_table(self.batches, self.floors, self.as_run, markdown)
            lines += ["", f"## {heading}" if markdown else heading, "", *table, "", floor_note(self.shape)]
            every = [*self.batches, *([self.as_run] if self.as_run is not None else [])]
            lines += ["", *(batch.ceiling() for batch in every), "", pool_note(self.clients)]
        timing = ", ".join(f"{part} {seconds:.0f} s" for part, seconds in self.seconds.items())
        return [*lines, "", f"run time: {timing}"]

    def rows(self) -> list[Row]:
        found = latency_rows(self.routes, self.floor) if self.floor is not None else []
        return found + throughput_rows(self.batches, self.floors, self.as_run)


def pool_note(clients: int) -> str:
    return (
        f"The runtime is one Python process (one GIL); the throughput runs' runtime keeps up to {clients} "
        f"environments per function (`--max-concurrency`), the one as make run runs it {MAX_CONCURRENCY}; requests "
        f"beyond that wait. CPU cores used = CPU seconds / wall time of the timed batches, of "
        f"{os.cpu_count()} on this machine."
    )


def write_outputs(outcome: Outcome, json_path: Path | None, markdown_path: Path | None) -> None:
    markdown = "\n".join(outcome.report(markdown=True)) + "\n"
    if markdown_path is not None:
        markdown_path.write_text(markdown, encoding="utf-8")
    if json_path is not None:
        Section("latency+throughput", outcome.rows(), markdown).write(json_path)


# ---------------------------------------------------------------- main


def selected(only: list[str]) -> list[Operation]:
    ops = operations()
    assert_catalogued(ops)
    if only:
        missing = sorted(set(only) - {op.id for op in ops})
        if missing:
            raise SystemExit(f"no such operations: {missing}")
        ops = [op for op in ops if op.id in only]
    return ops


def progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> Outcome:
    ops = selected(args.only)
    outcome = Outcome(clients=args.clients)
    if args.part in ("both", "throughput"):
        started = time.monotonic()
        # As many environments of the function as clients, as Lambda would run (the runtime's
        # default is MAX_CONCURRENCY): the floor's threads never wait for one either.
        with running_runtime((*THROUGHPUT_OPTIONS, "--max-concurrency", str(args.clients))) as runtime:
            outcome.batches, outcome.floors, outcome.shape = measure_throughput(
                runtime, WindowClock(runtime), args.clients, args.redemptions, progress
            )
        outcome.seconds["throughput"] = time.monotonic() - started
    with running_runtime() as runtime:
        if args.part in ("both", "latency"):
            started = time.monotonic()
            client = HttpClient(runtime)
            endpoint = dynamodb_endpoint(runtime)
            # Read by the GETs; the floors read its account before and after the routes.
            shared = build_scene(client, SHARED_NEEDS)
            floor = measure_floor(endpoint, shared.account_id, FLOOR_SAMPLES)
            http_floor = measure_http_floor(runtime, FLOOR_SAMPLES)
            outcome.routes = measure_routes(client, ops, shared, args.samples, progress)
            floor += measure_floor(endpoint, shared.account_id, FLOOR_SAMPLES)
            http_floor += measure_http_floor(runtime, FLOOR_SAMPLES)
            outcome.floor, outcome.http_floor = Percentiles.of(floor), Percentiles.of(http_floor)
            outcome.seconds["latency"] = time.monotonic() - started
        if args.part in ("both", "throughput"):
            started = time.monotonic()
            outcome.as_run = measure_as_run(runtime, args.clients, args.redemptions, progress)
            outcome.seconds["throughput as make run"] = time.monotonic() - started
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--samples", type=int, default=GET_SAMPLES, help="samples per GET; half as many per mutating operation"
    )
    parser.add_argument("--only", action="append", default=[], help="measure only this 'METHOD /path' (repeatable)")
    parser.add_argument("--redemptions", type=int, default=REDEMPTIONS, help="timed redemptions per throughput run")
    parser.add_argument("--clients", type=int, default=CLIENTS, help="concurrent clients of the throughput runs")
    parser.add_argument("--part", choices=("both", "latency", "throughput"), default="both")
    parser.add_argument("--json", type=Path, help="write the summary rows and the markdown tables here")
    parser.add_argument("--markdown", type=Path, help="write the detailed tables as markdown here")
    args = parser.parse_args(argv)

    started = time.monotonic()
    outcome = run(args)
    outcome.seconds["total"] = time.monotonic() - started
    print("\n".join(outcome.report(markdown=False)))
    write_outputs(outcome, args.json, args.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
