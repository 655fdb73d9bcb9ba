"""Who may call what, over HTTP through the local runtime's JWT authorizer, for every operation of
the OpenAPI document the runtime serves (GET /openapi.json), as each operation's `security`
declares it (public: `[{}]`; otherwise `[{"bearerAuth": [roles]}]`).

For every authenticated operation (API.md "Authentication"):
- no token, an expired token, a token with a wrong signature: 401 `unauthorized` (the authorizer);
- another account's owner: 404 `not_found` on /accounts/{id}/… (a token of one account never sees
  another), 403 `forbidden` on /admin/… (staff only);
- a role the declaration leaves out (owner, admin, agent of the account, or support staff): 403;
- each role it allows: 2xx, with the route's catalogue example (tests/route_examples.py); a
  mutating route on a scene of its own, so one role's success does not spoil the next one's.
Every public operation answers its example without a token (2xx, never 401).

The test fails for an operation without a `security` declaration or without an example.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from local_runtime import tokens
from tests import figures
from tests.e2e.conftest import Runtime, start_runtime
from tests.route_examples import (
    EVERYTHING,
    EXAMPLES,
    ROLES,
    Answer,
    Operation,
    Request,
    build_scene,
    missing_examples,
    operations,
)

pytestmark = [pytest.mark.e2e, pytest.mark.hardening]

WRONG_SECRET = "not-the-authorizers-secret-but-long-enough-for-hs256"
# The shared scene is read and refused, never changed: no staff suspension on it.
SHARED_NEEDS = EVERYTHING - {"suspended"}


class HttpClient:
    """The scene's transport in the e2e tier: HTTP to the runtime, tokens it mints, its clock."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._tokens: dict[tuple[str, str | None, str], str] = {}

    def token(self, claims: dict[str, str]) -> str:
        key = (claims["sub"], claims.get("account_id"), claims["role"])
        if key not in self._tokens:
            self._tokens[key] = self.runtime.token(*key)
        return self._tokens[key]

    def raw(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """A request with exactly this bearer ``token`` (None: no Authorization header)."""
        response = self.runtime.request(method, url, json=body, token=token, headers=headers)
        return Answer(response.status_code, _body(response))

    def send(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        claims: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        token = self.token(claims) if claims is not None else None
        response = self.runtime.request(method, url, json=body, token=token, headers=headers)
        return Answer(response.status_code, _body(response))

    def now(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0)

    def set_clock(self, instant: datetime | None) -> None:
        now = instant.strftime("%Y-%m-%dT%H:%M:%SZ") if instant is not None else None
        self.runtime.put("/_local/clock", json={"now": now}).raise_for_status()

    def outbox(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.runtime.get("/_local/outbox").json()["items"]
        return items


def _body(response: requests.Response) -> Any:
    if "json" in response.headers.get("content-type", ""):
        return response.json() if response.content else None
    return response.text


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """A runtime of this module's own: its examples publish terms, schedule prices, move the
    clock and sign up dozens of accounts, none of which may reach the session's other tests."""
    with start_runtime(tmp_path_factory.mktemp("authorization-matrix")) as started:
        yield started


@pytest.fixture
def client(runtime: Runtime) -> Iterator[HttpClient]:
    yield HttpClient(runtime)
    runtime.put("/_local/clock", json={"now": None}).raise_for_status()


def expired(claims: dict[str, str]) -> str:
    """A token for ``claims``, genuinely signed, that expired an hour ago."""
    lifetime = 3600
    return tokens.mint(
        claims["sub"], claims.get("account_id"), claims["role"], issued_at=time.time() - 2 * lifetime, lifetime=lifetime
    )


def wrongly_signed(claims: dict[str, str]) -> str:
    """A token for ``claims``, unexpired, signed with a key the authorizer does not trust."""
    return tokens.mint(claims["sub"], claims.get("account_id"), claims["role"], secret=WRONG_SECRET)


def is_account_route(op: Operation) -> bool:
    return op.path.startswith("/accounts/{id}")


def success(answer: Answer) -> bool:
    return 200 <= answer.status < 300


def test_every_operation_declares_who_may_call_it_and_has_an_example(runtime: Runtime) -> None:
    document = runtime.get("/openapi.json").json()
    ops = operations(document)
    undeclared = [op.id for op in ops if op.security is None]
    assert not undeclared, f"operations without a `security` declaration: {undeclared}"
    assert not missing_examples(ops), (
        f"operations without an example in tests/route_examples.py: {missing_examples(ops)}"
    )
    unknown = {op.id: op.roles for op in ops if set(op.roles) - set(ROLES) or (not op.public and not op.roles)}
    assert not unknown, f"declared roles must be some of {ROLES}: {unknown}"
    staff_routes = [op.id for op in ops if op.path.startswith("/admin/") and op.roles != ("staff",)]
    assert not staff_routes, f"/admin/* routes are for staff only: {staff_routes}"


def test_every_operation_answers_each_identity_as_declared(runtime: Runtime, client: HttpClient) -> None:
    """R-USE-4 and API.md "Authentication", operation by operation; every mismatch is listed."""
    document = runtime.get("/openapi.json").json()
    ops = [op for op in operations(document) if op.security is not None and op.key in EXAMPLES]
    shared = build_scene(client, SHARED_NEEDS)
    mismatches: list[str] = []
    counts = {"authenticated": 0, "public": 0, "requests": 0}

    def expect(op: Operation, who: str, answer: Answer, status: int, code: str | None) -> None:
        counts["requests"] += 1
        if answer.status != status or (code is not None and answer.code != code):
            mismatches.append(f"{op.id} as {who}: {answer.status} {answer.code or ''} (expected {status} {code})")

    def allowed(op: Operation, who: str, answer: Answer) -> None:
        counts["requests"] += 1
        if not success(answer):
            detail = answer.body.get("detail") if isinstance(answer.body, dict) else answer.body
            mismatches.append(f"{op.id} as {who} (allowed): {answer.status} {answer.code or ''} {detail}")

    # Refusals first, on the shared scene: none of them may change it.
    for op in ops:
        if op.public:
            continue
        counts["authenticated"] += 1
        request = EXAMPLES[op.key].build(shared)

        def send(token: str | None, op: Operation = op, request: Request = request) -> Answer:
            return client.raw(op.method, request.url, body=request.body, token=token)

        caller = shared.claims(op.roles[0]) if op.roles else shared.claims("owner")
        expect(op, "no token", send(None), 401, "unauthorized")
        expect(op, "an expired token", send(expired(caller)), 401, "unauthorized")
        expect(op, "a wrongly signed token", send(wrongly_signed(caller)), 401, "unauthorized")
        stranger = client.token(shared.other_owner())
        if is_account_route(op):
            expect(op, "another account's owner", send(stranger), 404, "not_found")
        else:
            expect(op, "another account's owner", send(stranger), 403, "forbidden")
        for role in ROLES:
            if role not in op.roles:
                expect(op, role, send(client.token(shared.claims(role))), 403, "forbidden")

    # What each allowed role may do: reads on the shared scene, changes on a scene of their own.
    for op in ops:
        example = EXAMPLES[op.key]
        if op.public:
            counts["public"] += 1
            scene = build_scene(client, example.needs) if op.mutating else shared
            request = example.build(scene)
            allowed(
                op, "no token (public)", client.raw(op.method, request.url, body=request.body, headers=request.headers)
            )
            continue
        for role in op.roles:
            scene = build_scene(client, example.needs) if op.mutating else shared
            request = example.build(scene)
            answer = client.raw(op.method, request.url, body=request.body, token=client.token(scene.claims(role)))
            allowed(op, role, answer)

    assert not mismatches, "answers unlike the declarations:\n" + "\n".join(mismatches)
    identities = 3 + 1 + len(ROLES)  # no/expired/wrongly signed token, another account's owner, each role
    figures.record(
        f"authorization matrix: {counts['authenticated']} authenticated operations x {identities} identities "
        f"+ {counts['public']} public operations without a token = {counts['requests']} requests, all as declared"
    )
