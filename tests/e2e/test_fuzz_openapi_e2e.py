"""Schemathesis against the OpenAPI document the local runtime serves: never a 5xx, never an
answer the document does not describe.

A runtime of this module's own (so its thousands of requests, its rate-limit counters and
its state never reach the other e2e tests) serves ``GET /openapi.json``; schemathesis
generates requests for every operation in it, valid ones (positive mode) and ones the
document forbids (negative mode), with a real bearer token: staff for ``/admin`` routes,
the owner of a real account for the others. Half the cases of an operation with an
account ``{id}`` (or a campaign's) aim at that real resource, so they pass the
authorization and lookups and reach the handler's logic; the rest are random ids.

Every response is checked by schemathesis: ``not_a_server_error`` (no 5xx),
``status_code_conformance`` (the status is documented for the operation),
``content_type_conformance`` (the content type is the documented one: JSON or
problem+json), ``response_schema_conformance`` (the body matches the documented schema)
and ``response_headers_conformance``. The checks that judge semantics rather than the
document are left out: ``negative_data_rejection`` / ``positive_data_acceptance`` (a
valid-shaped body may rightly be refused by a rule, e.g. R-VOUCH-8's billing details
before a payment method, and path parameters are plain strings the document cannot
constrain), ``ignored_auth`` (covered by the authorization matrix) and
``use_after_free`` / ``ensure_resource_availability`` (stateful, not run here: the document
has no OpenAPI links to chain operations by).

Every request carries a valid token, so API Gateway's JWT authorizer never answers here.
The local runtime answers its 401 as problem+json, as documented; the deployed authorizer
answers ``{"message": "Unauthorized"}`` as application/json, which these checks would flag.

In ``make test`` each operation gets ``figures.scale`` 10 examples per mode; ``make
hardening`` runs 100.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests import figures
from tests.e2e.conftest import Runtime, start_runtime
from tests.route_examples import registrant

pytestmark = [pytest.mark.e2e, pytest.mark.hardening]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
EXAMPLES_PER_MODE = figures.scale(10, 100)
# API Gateway's HTTP API gives an integration at most 30 s (the longest function timeout here);
# schemathesis' default of 10 s is shorter than a 10,000-code import takes on DynamoDB Local.
REQUEST_TIMEOUT_SECONDS = 30
READS_OF_THE_ACCOUNT = ["/accounts/{id}", "/accounts/{id}/users", "/accounts/{id}/invoices", "/accounts/{id}/credit"]
# Operations that end an account run last, so the real account serves the others alive.
FINAL_OPERATIONS = re.compile(r"/(terminate|cancel|cancellation-requests|suspend)$")


@dataclass
class Target:
    """What the fuzzer aims at: the real resources and the tokens to reach them."""

    runtime: Runtime
    owner_token: str
    staff_token: str
    real_ids: dict[str, dict[str, str]]  # path prefix -> path parameters naming a real resource
    session: requests.Session = field(default_factory=requests.Session)

    def token_for(self, path: str, operation: dict[str, Any]) -> str | None:
        security = operation.get("security")
        if security is not None and not any(security):
            return None  # public (`[]` or `[{}]`): API Gateway runs no authorizer on it
        return self.staff_token if path.startswith("/admin/") else self.owner_token

    def real_parameters(self, path: str) -> dict[str, str] | None:
        for prefix, parameters in self.real_ids.items():
            if path.startswith(prefix):
                return parameters
        return None


@dataclass
class Tally:
    operations: int = 0
    requests: int = 0
    server_errors: int = 0  # 5xx, or no answer in time
    violations: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    by_operation: Counter[tuple[str, int]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with start_runtime(tmp_path_factory.mktemp("fuzz-runtime")) as runtime:
        signed_up = runtime.post("/signups", json=registrant("fuzz-owner", plan="ticket", billing_period="monthly"))
        assert signed_up.status_code == 201, signed_up.text
        account = signed_up.json()
        owner_token = runtime.token(account["owner_id"], account["id"], "owner")
        campaign_id = runtime.create_campaign("fuzz")
        real_ids = {
            "/accounts/": {"id": account["id"]},
            "/admin/accounts/": {"id": account["id"]},
            "/admin/campaigns/": {"id": campaign_id},
        }
        yield Target(runtime, owner_token, runtime.token("staff-1", None, "staff"), real_ids)


def _operations(schema: Any) -> list[Any]:
    operations = [result.ok() for result in schema.get_all_operations()]
    return sorted(operations, key=lambda op: (bool(FINAL_OPERATIONS.search(op.path)), op.path, op.method))


def _strategy(operation: Any, real: dict[str, str] | None) -> st.SearchStrategy[Any]:
    strategies = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategies.append(operation.as_strategy(mode))
        if real is not None:
            strategies.append(operation.as_strategy(mode, path_parameters=real))
    return st.one_of(strategies)


def _fuzz(operation: Any, target: Target, tally: Tally) -> None:
    token = target.token_for(operation.path, operation.definition.raw)

    @settings(
        max_examples=EXAMPLES_PER_MODE * 2,
        deadline=None,
        database=None,
        derandomize=not figures.long_run(),  # make test is repeatable; make hardening explores
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategy(operation, target.real_parameters(operation.path)))
    def run(case: schemathesis.Case) -> None:
        if token is not None:
            # The document declares bearerAuth, so schemathesis generates (or negates) the
            # Authorization header itself; the real token replaces it, so each case reaches the
            # handler rather than the authorizer (the authorization matrix covers who may call).
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
        tally.requests += 1
        try:
            response = case.call(base_url=target.runtime.url, session=target.session, timeout=REQUEST_TIMEOUT_SECONDS)
        except requests.RequestException as error:
            tally.server_errors += 1  # no answer at all: as bad as a 5xx
            tally.failures.append(f"{operation.label}: {type(error).__name__}: {error}\n{case.as_curl_command()}")
            return
        tally.statuses[response.status_code] += 1
        tally.by_operation[(operation.label, response.status_code)] += 1
        if response.status_code >= 500:
            tally.server_errors += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as failed:
            tally.violations += 0 if response.status_code >= 500 else 1
            if len(tally.failures) < 10:
                tally.failures.append(f"{operation.label}: {failed}")

    run()
    tally.operations += 1


def test_fuzzing_the_openapi_document_finds_no_server_error_and_no_undocumented_answer(target: Target) -> None:
    started = time.monotonic()
    schema = schemathesis.openapi.from_url(f"{target.runtime.url}/openapi.json")
    operations = _operations(schema)
    assert len(operations) >= 50, "the document lists every route"
    tally = Tally()
    for operation in operations:
        _fuzz(operation, target, tally)
    figures.record(
        f"fuzzing: {tally.operations} operations, {tally.requests} requests, {tally.server_errors} server errors, "
        f"{tally.violations} document violations ({time.monotonic() - started:.0f} s; statuses "
        + ", ".join(f"{status}: {n}" for status, n in sorted(tally.statuses.items()))
        + ")"
    )
    assert tally.server_errors == 0, "\n\n".join(tally.failures)
    assert tally.violations == 0, "\n\n".join(tally.failures)
    assert "unhandled error" not in target.runtime.output(), "a handler raised; see the runtime's log"
    # The real resources were reached, not only unknown ids: every account read answered 200.
    answered = "\n".join(f"{label}: {status} x{n}" for (label, status), n in sorted(tally.by_operation.items()))
    assert all(tally.by_operation[(f"GET {path}", 200)] for path in READS_OF_THE_ACCOUNT), answered
