"""No request body yields a 5xx, on any route that takes one: every request model is fuzzed.

The routes come from the OpenAPI document (``functions/docs/openapi.json``): every
operation with a ``requestBody`` is a case here, so a new route is covered without
touching this file. Bodies are generated from the operation's own schema by
schemathesis (itself hypothesis-based): valid-shaped bodies (positive mode), bodies the
schema forbids (negative mode), and mutations of valid ones (a field dropped, a field
replaced by any JSON value, any JSON at all, any bytes). Each goes through the function
the template routes it to, in process (``tests.support.call``), as the caller who may
use the route: staff for ``/admin``, the owner of a real account for ``/accounts/{id}``,
nobody for the public routes. Path parameters name real resources (the account, the
default campaign and a code of it, a custom request, a data subject request) half the
time, so the body reaches the domain logic, and unknown ids the other half.

The answer is a 2xx, or a 4xx problem+json document with a stable ``code``; never a 5xx.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core import NOT_SET

from lifecycle.core.settings import Settings
from tests import figures
from tests.support import STAFF, Reply, call, ok, owner_of
from tests.unit.test_signup import TRIAL

DOCUMENT = Path(__file__).resolve().parents[2] / "functions" / "docs" / "openapi.json"
EXAMPLES = figures.scale(25, 250)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
UNKNOWN_IDS = {
    "id": "acc_unknown",
    "invoice_id": "inv_unknown",
    "request_id": "req_unknown",
    "code": "NO-SUCH-CODE",
    "period": "2026-10-01",
}

# moto copies a whole table for each TransactWriteItems (slower as codes pile up), and
# concurrent ones race on that copy (a moto artefact: "dictionary changed size during
# iteration"), so in process a code batch stays small, well within one transaction
# (vouchers.TRANSACTION_SIZE); batches of up to 10,000 are fuzzed against DynamoDB Local in
# tests/e2e/test_fuzz_openapi_e2e.py.
AFFORDABLE = {("POST", "/admin/campaigns/{id}/codes"): {"count": 10, "codes": 10}}

_tally: Counter[str] = Counter()


@cache
def _schema() -> Any:
    return schemathesis.openapi.from_path(str(DOCUMENT))


def _operations_with_a_body() -> list[tuple[str, str]]:
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return [
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    ]


OPERATIONS = _operations_with_a_body()


@pytest.fixture(scope="module", autouse=True)
def _figure() -> Iterator[None]:
    yield
    if _tally["requests"]:
        kinds = ", ".join(f"{_tally[kind]} {kind}" for kind in ("positive", "negative", "mutated", "raw"))
        figures.record(
            f"request models: {len(OPERATIONS)} operations with a body fuzzed in process, "
            f"{_tally['requests']} requests ({kinds}; {_tally['2xx']} answered 2xx), "
            f"{_tally['server_errors']} server errors, {_tally['bad_4xx']} 4xx without a problem code"
        )
    if _tally["tokens"]:
        figures.record(
            f"link tokens: {len(TOKEN_ROUTES)} signed-link routes, {_tally['tokens']} arbitrary tokens, "
            f"{_tally['tokens_refused']} refused as invalid_token, 0 server errors"
        )


@dataclass
class World:
    """A real account, a voucher code, a custom request and a data subject request to aim at."""

    owner: dict[str, str]
    parameters: dict[str, dict[str, str]]  # what a path names -> its real path parameters

    def real_parameters(self, path: str) -> dict[str, str]:
        if path.startswith("/admin/campaigns/"):
            return self.parameters["campaign"]
        if path.startswith("/admin/vouchers/"):
            return self.parameters["code"]
        if "/custom-requests/" in path:
            return self.parameters["custom"]
        if "/privacy/" in path:
            return self.parameters["privacy"]
        return self.parameters["account"]

    def claims(self, path: str, operation: dict[str, Any]) -> dict[str, str] | None:
        security = operation.get("security")
        if security is not None and not any(security):
            return None  # public (`[]` or `[{}]`)
        return STAFF if path.startswith("/admin/") else self.owner


def _world() -> World:
    account = ok(call("POST", "/signups", body=TRIAL), 201)
    owner = owner_of(account)
    codes = ok(call("POST", "/admin/campaigns/appsumo-2019/codes", body={"count": 1}, claims=STAFF), 201)
    idea = {"title": "Export tickets", "description": "A nightly CSV export of closed tickets."}
    custom = ok(call("POST", f"/accounts/{account['id']}/custom-requests", body=idea, claims=owner), 201)
    subject = ok(call("POST", "/privacy/requests", body={"type": "access", "email": TRIAL["email"]}), 202)
    return World(
        owner=owner,
        parameters={
            "account": {"id": account["id"], "period": "2026-11-01"},
            "campaign": {"id": "appsumo-2019"},
            "code": {"code": codes["codes"][0]},
            "custom": {"request_id": custom["id"]},
            "privacy": {"request_id": subject["id"]},
        },
    )


def _fill(path: str, parameters: dict[str, str]) -> str:
    return re.sub(
        r"\{(\w+)\}", lambda match: parameters.get(match.group(1), UNKNOWN_IDS.get(match.group(1), "x")), path
    )


@cache
def _generated(method: str, path: str, mode: GenerationMode) -> st.SearchStrategy[Any]:
    return _schema()[path][method].as_strategy(mode).map(lambda case: case.body)


@st.composite
def _bodies(draw: st.DrawFn, method: str, path: str) -> tuple[str, Any]:
    """(kind, body): a body from the schema, one it forbids, a mutation of a valid one, or bytes."""
    kind = draw(st.sampled_from(["positive", "positive", "negative", "negative", "mutated", "mutated", "raw"]))
    if kind == "raw":
        return kind, draw(st.binary(max_size=200) | JSON_VALUES.map(lambda value: json.dumps(value).encode()))
    mode = GenerationMode.NEGATIVE if kind == "negative" else GenerationMode.POSITIVE
    body = draw(_generated(method, path, mode))
    if kind == "mutated" and isinstance(body, dict) and body:
        names = sorted(body)
        mutation = draw(st.sampled_from(["drop", "retype", "anything"]))
        if mutation == "drop":
            dropped = draw(st.sets(st.sampled_from(names), min_size=1))
            body = {name: value for name, value in body.items() if name not in dropped}
        elif mutation == "retype":
            body = {**body, draw(st.sampled_from(names)): draw(JSON_VALUES)}
        else:
            body = draw(JSON_VALUES)
    return kind, _affordable(method, path, body)


def _affordable(method: str, path: str, body: Any) -> Any:
    caps = AFFORDABLE.get((method, path))
    if not caps or not isinstance(body, dict):
        return body
    capped = dict(body)
    for name, cap in caps.items():
        value = capped.get(name)
        if isinstance(value, list):
            capped[name] = value[:cap]
        elif _number(value) > cap:
            capped[name] = cap  # pydantic's lax mode reads 5000.0 and "5000" as 5000 too
    return capped


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return 0


def _assert_clean(reply: Reply, label: str, body: Any) -> None:
    _tally["requests"] += 1
    _tally["2xx"] += 1 if reply.status < 300 else 0
    if reply.status >= 500:
        _tally["server_errors"] += 1
    assert reply.status < 500, (label, body, reply.status, reply.body)
    if reply.status >= 400:
        problem = reply.headers.get("content-type") == "application/problem+json" and isinstance(reply.code, str)
        _tally["bad_4xx"] += 0 if problem else 1
        assert problem, (label, body, reply.status, reply.headers, reply.body)


@pytest.mark.hardening
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_request_model_answers_any_body_with_a_2xx_or_a_problem_never_a_5xx(
    tables: Settings, method: str, path: str
) -> None:
    world = _world()
    real = _fill(path, world.real_parameters(path))
    unknown = _fill(path, {})
    claims = world.claims(path, _schema()[path][method].definition.raw)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=not figures.long_run(),
        suppress_health_check=list(HealthCheck),
    )
    @given(drawn=_bodies(method, path), aim=st.sampled_from([real, unknown]), ip=st.integers(1, 250))
    def run(drawn: tuple[str, Any], aim: str, ip: int) -> None:
        kind, body = drawn
        _tally[kind] += 1
        if body is NOT_SET:
            raw = b""
        elif isinstance(body, bytes):
            raw = body
        else:
            raw = json.dumps(body).encode()
        # Many source addresses, so the per-IP rate limits of the public routes do not answer everything.
        reply = call(method, aim, raw_body=raw, claims=claims, source_ip=f"198.51.100.{ip}")
        _assert_clean(reply, f"{method} {aim}", body)

    run()


TOKEN_ROUTES = [
    ("POST", "/privacy/requests/{request_id}/verification", "body"),
    ("POST", "/privacy/unsubscribe", "body"),
    ("POST", "/privacy/unsubscribe", "query"),
    ("GET", "/privacy/exports/{request_id}", "query"),
]


@pytest.mark.hardening
@pytest.mark.parametrize(("method", "path", "where"), TOKEN_ROUTES, ids=[f"{m} {p} {w}" for m, p, w in TOKEN_ROUTES])
def test_r_gdpr_10_a_link_token_of_any_text_is_refused_as_invalid_never_a_5xx(
    tables: Settings, method: str, path: str, where: str
) -> None:
    """R-GDPR-9/10: a signed-link token is ``payload.mac``; one of any other text, non-ASCII
    included, is ``400 invalid_token``. (Found by the e2e fuzzer: a non-ASCII mac made
    ``hmac.compare_digest`` raise TypeError, a 500.)"""
    world = _world()
    target = _fill(path, world.real_parameters(path))

    @settings(max_examples=figures.scale(30, 300), deadline=None, database=None, derandomize=not figures.long_run())
    @given(token=st.tuples(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40)).map(".".join))
    def run(token: str) -> None:
        if where == "query":
            reply = call(method, f"{target}?{urlencode({'token': token}, encoding='utf-8', errors='surrogatepass')}")
        else:
            reply = call(method, target, raw_body=json.dumps({"token": token}).encode())
        _tally["tokens"] += 1
        assert (reply.status, reply.code) == (400, "invalid_token"), (token, reply.body)
        _tally["tokens_refused"] += 1

    run()
