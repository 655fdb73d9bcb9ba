"""Invoke a function's handler as API Gateway or EventBridge would, from template.yaml.

Routes, handlers and timeouts come from the template and the events from the local
runtime's builders, so the tests exercise exactly what AWS and `make run` would call.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import boto3

from lifecycle.core.settings import get_settings
from local_runtime import events, streams, template
from local_runtime.functions import Handler, function_spec, load_handler

STACK = template.LOCAL_STACK_NAME


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None


@cache
def _handler(logical_id: str) -> Handler:
    return load_handler(function_spec(template.load(), STACK, logical_id))


def _route(method: str, path: str) -> tuple[template.Route, dict[str, str]]:
    for route in template.routes(template.load()):
        params = events.path_parameters(route.path, path)
        if route.method == method and params is not None:
            return route, params
    raise LookupError(f"no route in template.yaml for {method} {path}")


def _context(logical_id: str) -> events.LambdaContext:
    spec = function_spec(template.load(), STACK, logical_id)
    return events.LambdaContext(spec.function_name, spec.timeout, spec.memory_size)


@dataclass(frozen=True)
class Invocation:
    """What API Gateway would hand a function for one request: its handler, event and context."""

    handler: Handler
    event: dict[str, Any]
    context: events.LambdaContext

    def __call__(self) -> dict[str, Any]:
        result: dict[str, Any] = self.handler(self.event, self.context)
        return result


def invocation(
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: bytes | None = None,
    claims: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    source_ip: str = "127.0.0.1",
) -> Invocation:
    """The invocation of the function the template routes ``method path`` to (``path`` may carry ``?query``)."""
    path, _, query_string = path.partition("?")
    route, params = _route(method, path)
    payload = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else b"")
    request = events.HttpRequest(
        method=method,
        path=path,
        query_string=query_string,
        headers=list({"content-type": "application/json", **(headers or {})}.items()),
        body=payload,
        source_ip=source_ip,
    )
    event = events.http_event(request, route, params, claims)
    return Invocation(_handler(route.function), event, _context(route.function))


def call(
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: bytes | None = None,
    claims: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    source_ip: str = "127.0.0.1",
) -> Reply:
    """One HTTP request through the function the template routes it to (``path`` may carry ``?query``)."""
    result = invocation(
        method, path, body=body, raw_body=raw_body, claims=claims, headers=headers, source_ip=source_ip
    )()
    return reply(result)


def reply(result: dict[str, Any]) -> Reply:
    """A handler's API Gateway answer as a :class:`Reply` (the body parsed when it is JSON)."""
    reply_headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    text = result.get("body") or ""
    is_json = "json" in reply_headers.get("content-type", "")
    return Reply(result["statusCode"], reply_headers, json.loads(text) if is_json and text else text)


def ok(reply: Reply, status: int) -> dict[str, Any]:
    """``reply``'s body once its status is ``status`` (an empty dict for a body that is no object)."""
    assert reply.status == status, reply.body
    return dict(reply.body) if isinstance(reply.body, dict) else {}


def session(account_id: str, claims: dict[str, str], device: str, ip: str) -> None:
    """A member's login or use from ``device`` at ``ip`` (``POST /accounts/{id}/sessions``)."""
    body = {"device_id": device}
    ok(call("POST", f"/accounts/{account_id}/sessions", body=body, claims=claims, source_ip=ip), 201)


def run_schedule(name: str, detail: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fire the template's schedule ``name`` once, as EventBridge would."""
    document = template.load()
    (schedule,) = [s for s in template.schedules(document, template.Resolver(document)) if s.name == name]
    result: dict[str, Any] = _handler(schedule.function)(
        events.scheduled_event(schedule, STACK, detail), _context(schedule.function)
    )
    return result


def invoke(function: str, event: dict[str, Any]) -> Any:
    """``function``'s handler called with ``event``, as Lambda would."""
    return _handler(function)(event, _context(function))


STAFF = {"sub": "staff-1", "role": "staff"}


def member(account_id: str, role: str = "owner", sub: str = "user-1") -> dict[str, str]:
    return {"sub": sub, "account_id": account_id, "role": role}


def owner_of(account: dict[str, Any]) -> dict[str, str]:
    """The claims of ``account``'s owner, from an API account object."""
    return member(account["id"], "owner", sub=account["owner_id"])


def outbox_items(path: Path) -> list[dict[str, Any]]:
    """The notices the local sender wrote to ``path``, oldest first, once the notifier has
    delivered what the Notifications stream holds (``deliver_notices``)."""
    deliver_notices()
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


# ---------------------------------------------------------------- stream consumers

NOTIFIER = "NotifierFunction"


@dataclass(frozen=True)
class Invoked:
    """One invocation a stream's event source mapping made: Lambda's event and the function's answer."""

    event: dict[str, Any]
    answer: Any


@cache
def stream_consumer(function: str) -> template.StreamConsumer:
    """The template's event source mapping on a table's stream that invokes ``function``
    (a ``Type: DynamoDB`` event or an ``AWS::Lambda::EventSourceMapping``)."""
    document = template.load()
    (consumer,) = [
        c for c in template.stream_consumers(document, template.Resolver(document)) if c.function == function
    ]
    return consumer


def _table_name(consumer: template.StreamConsumer) -> str:
    """The consumer's table as the models name it now: the local stack's on moto, a test's own
    stack on DynamoDB Local (the setting ``Globals`` passes as ``!Ref`` of that table)."""
    variables = template.load()["Globals"]["Function"]["Environment"]["Variables"]
    (name,) = [name for name, value in variables.items() if value == {"Ref": consumer.table}]
    return str(getattr(get_settings(), name.lower()))


class _GivenUp(streams.DeadLetters):
    """The on-failure destination in tests: a batch the mapping gives up on fails the test."""

    def __init__(self, function: str, invoked: list[Invoked]) -> None:
        super().__init__(Path(os.devnull))
        self.function = function
        self.invoked = invoked

    def send(self, entry: dict[str, Any]) -> None:
        last = self.invoked[-1].answer if self.invoked else None
        raise AssertionError(
            f"{self.function} gave up on {entry['DDBStreamBatchInfo']['batchSize']} stream record(s) "
            f"({entry['requestContext']['condition']}); its last answer: {last!r}"
        )


# Each mapping's checkpoints, by function and stream ARN (moto's or DynamoDB Local's): shard id →
# the last sequence number done. A test that restores the tables restores these with them.
_checkpoints: dict[tuple[str, str], dict[str, str]] = {}
_delivering = threading.Lock()


def _poll(function: str, handle: streams.Invoke, replay: bool, invoked: list[Invoked]) -> None:
    consumer = stream_consumer(function)
    settings = get_settings()
    endpoint = settings.dynamodb_endpoint or None
    dynamodb = boto3.client("dynamodb", region_name=settings.region, endpoint_url=endpoint)
    arn = dynamodb.describe_table(TableName=_table_name(consumer))["Table"]["LatestStreamArn"]
    client = boto3.client("dynamodbstreams", region_name=settings.region, endpoint_url=endpoint)
    key = (function, arn)
    poller = streams.StreamPoller(
        # The stack makes the mapping with the table, so it starts from the stream's start; a
        # mapping without an on-failure destination drops what it gives up on: here that fails too.
        replace(consumer, starting_position="TRIM_HORIZON", on_failure=consumer.on_failure or "(none)"),
        client,
        arn,
        handle,
        _GivenUp(function, invoked),
        sleep=lambda _: None,  # no backoff between retries
        # Each reading of the poller's clock is a batching window later: what is read is due at once.
        monotonic=itertools.count(0.0, float(consumer.maximum_batching_window_seconds)).__next__,
        checkpoints=None if replay else _checkpoints.get(key),
    )
    while poller.poll_once():
        pass  # until a pass over the shards reads nothing new
    _checkpoints[key] = poller.checkpoints


def deliver(function: str, *, replay: bool = False) -> list[Invoked]:
    """Deliver what the stream ``function``'s mapping reads holds since the last call to its
    handler, in process, as Lambda's event source mapping does (``local_runtime.streams``: the
    template's filter, batch size, retries, bisection, partial batch responses), until the stream
    is caught up; its invocations. ``replay`` reads the stream again from its start: delivery is
    at least once. Against moto or DynamoDB Local (the models' endpoint). A batch the mapping
    gives up on (past its retries or its record age) raises ``AssertionError``."""
    invoked: list[Invoked] = []

    def handle(logical_id: str, event: dict[str, Any]) -> Any:
        answer = invoke(logical_id, event)
        invoked.append(Invoked(event, answer))
        return answer

    with _delivering:
        _poll(function, handle, replay, invoked)
    return invoked


def deliver_notices() -> list[Invoked]:
    """The notifier sends what the Notifications table's stream holds since the last call."""
    return deliver(NOTIFIER)


def stream_batches(function: str) -> list[dict[str, Any]]:
    """The Lambda events ``function``'s mapping makes of all its stream holds, from its start,
    handed to no function: for a test that gives a batch to the handler itself."""
    events: list[dict[str, Any]] = []

    def keep(_: str, event: dict[str, Any]) -> None:
        events.append(event)

    with _delivering:
        saved = dict(_checkpoints)
        _poll(function, keep, True, [])
        _checkpoints.clear()
        _checkpoints.update(saved)
    return events


def billing_details_body(**changes: Any) -> dict[str, Any]:
    """Complete billing details (R-VOUCH-8) of a Bulgarian company; ``changes`` replace fields
    or address fields by name."""
    address: dict[str, Any] = {
        "street": "1 Vitosha Blvd",
        "city": "Sofia",
        "postal_code": "1000",
        "region": None,
        "country": "BG",
    }
    body: dict[str, Any] = {
        "first_name": "Maria",
        "last_name": "Ivanova",
        "email": "billing@example.com",
        "company": "Example Ltd",
        "address": address,
        "vat_id": "BG175074752",
        "company_registration": "175074752",
    }
    for key, value in changes.items():
        if key in address:
            address[key] = value
        else:
            body[key] = value
    return body


DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Sample:
    """A published number (tests/data/*.tsv): its state or VAT prefix, the reference's verdict
    (``valid``, ``checksum``, ``format``, ...), the number as written, the compact form the
    source prints ("-" where none) and the source."""

    state: str
    expected: str
    number: str
    compact: str
    source: str


def _samples(name: str) -> list[Sample]:
    rows = (line.split("\t") for line in (DATA / name).read_text(encoding="utf-8").splitlines())
    return [
        Sample(row[0], row[1], row[2], *(row[3:] if len(row) == 5 else ["-", row[3]]))
        for row in rows
        if row and not row[0].startswith("#")
    ]


@cache
def vat_samples() -> list[Sample]:
    """python-stdnum's published VAT ID samples, by VAT prefix (tests/data/stdnum_vat_samples.tsv)."""
    return _samples("stdnum_vat_samples.tsv")


@cache
def company_samples() -> list[Sample]:
    """Published company registration numbers (tests/data/company_registration_samples.tsv)."""
    return _samples("company_registration_samples.tsv")


def address_for_prefix(prefix: str) -> dict[str, Any]:
    """An address whose VAT IDs have ``prefix``: EL Greece, XI Northern Ireland, GB the UK."""
    country, postal_code = {"EL": ("GR", "10557"), "XI": ("GB", "BT1 5GS"), "GB": ("GB", "SW1A 2AA")}.get(
        prefix, (prefix, "1000")
    )
    return {
        "street": "1 Main Street",
        "city": "Capital",
        "postal_code": postal_code,
        "region": None,
        "country": country,
    }


# Places outside the EU VAT area (R-PAY-14; lifecycle.billing.vat_territory), each a real
# address's postal code as written there: (place, address country, postal code).
VAT_PLACES = [
    ("Canary Islands (Las Palmas)", "ES", "35001"),
    ("Canary Islands (Santa Cruz de Tenerife)", "ES", "38001"),
    ("Ceuta", "ES", "51001"),
    ("Melilla", "ES", "52001"),
    ("Åland (Mariehamn)", "FI", "AX-22100"),
    ("Åland, by its ISO code", "AX", "22100"),
    ("Mount Athos (Karyes)", "GR", "630 86"),
    ("Mount Athos", "GR", "63087"),
    ("Guadeloupe", "FR", "97110"),
    ("Martinique", "FR", "97200"),
    ("French Guiana", "FR", "97300"),
    ("Réunion", "FR", "97400"),
    ("Mayotte", "FR", "97600"),
    ("Guadeloupe, by its ISO code", "GP", "97110"),
    ("Martinique, by its ISO code", "MQ", "97200"),
    ("French Guiana, by its ISO code", "GF", "97300"),
    ("Réunion, by its ISO code", "RE", "97400"),
    ("Mayotte, by its ISO code", "YT", "97600"),
    ("Saint-Martin (Guadeloupe's codes)", "FR", "97150"),
    ("Saint-Barthélemy (Guadeloupe's codes)", "FR", "97133"),
    ("Saint-Pierre-et-Miquelon", "FR", "97500"),
    ("New Caledonia (Nouméa)", "FR", "98800"),
    ("Büsingen am Hochrhein", "DE", "78266"),
    ("Büsingen am Hochrhein, Swiss postal code", "DE", "CH-8238"),
    ("Heligoland", "DE", "27498"),
    ("Livigno", "IT", "23041"),
    ("Campione d'Italia", "IT", "22061"),
    ("Campione d'Italia, Swiss postal code", "IT", "CH-6911"),
]


def pay(account: dict[str, Any], token: str = "tok_visa", method: str = "card", **details: Any) -> Reply:  # noqa: S107
    """The owner gives billing details, then a payment method (R-VOUCH-8, R-PAY-12)."""
    claims = owner_of(account)
    given = call(
        "PUT", f"/accounts/{account['id']}/billing-details", body=billing_details_body(**details), claims=claims
    )
    assert given.status == 200, given.body
    return call(
        "PUT", f"/accounts/{account['id']}/payment-method", body={"type": method, "token": token}, claims=claims
    )


def except_welcome(notices: Any) -> list[Any]:
    """``notices`` (outbox items or Notification records) without signup's ``welcome``, for
    tests about the notices that come after it."""
    return [n for n in notices if (n["type"] if isinstance(n, dict) else n.type) != "welcome"]


def except_invitations(notices: Any) -> list[Any]:
    """``notices`` without the ``user_invited`` notices each added user gets (API.md "Sign-in"),
    for tests about the owner's notices."""
    return [n for n in notices if (n["type"] if isinstance(n, dict) else n.type) != "user_invited"]


@dataclass
class RecordingLogger:
    """Stands in for a module's logger so a test can read every line it would write."""

    lines: list[str] = field(default_factory=list)

    def __getattr__(self, level: str) -> Any:
        def log(*args: Any, **kwargs: Any) -> None:
            self.lines.append(f"{level} {args!r} {kwargs!r}")

        return log
