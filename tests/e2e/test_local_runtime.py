"""The local runtime itself, over HTTP: API.md's public documents and its ``/_local/`` routes.

The domain routes are exercised in the other e2e modules; here only what the runtime
adds or emulates (routing, the JWT authorizer, the clock, schedules, the outbox).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import requests

from local_runtime import tokens
from local_runtime.template import Route, load, routes
from tests.e2e.conftest import Runtime

pytestmark = pytest.mark.e2e

OTHER_SECRET = "a-secret-the-local-runtime-does-not-know"
SUMMARY_KEYS = {"examined", "changed", "errors", "next"}


def assert_problem(response: requests.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert {"type", "title", "detail"} <= set(body)


def private_route() -> Route:
    """A route behind the JWT authorizer, taken from the template rather than restated."""
    return next(route for route in routes(load()) if not route.public)


def concrete(path: str) -> str:
    return path.replace("{", "").replace("}", "").replace("+", "")


def test_openapi_document(runtime: Runtime) -> None:
    response = runtime.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    document = response.json()
    assert "openapi" in document
    assert "paths" in document


def test_docs_page(runtime: Runtime) -> None:
    response = runtime.get("/docs")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")


def test_unknown_path_is_a_404_problem(runtime: Runtime) -> None:
    assert_problem(runtime.get("/no/such/route"), 404, "not_found")


def test_token_and_clock_round_trip(runtime: Runtime, real_time: None) -> None:
    token = runtime.token("u-1", "acc-1", "owner")
    claims = tokens.verify(f"Bearer {token}")
    assert (claims["sub"], claims["account_id"], claims["role"]) == ("u-1", "acc-1", "owner")

    response = runtime.put("/_local/clock", json={"now": "2030-01-02T03:04:05Z"})
    assert response.status_code == 200
    assert response.json() == {"now": "2030-01-02T03:04:05Z"}
    # A set clock stands still.
    time.sleep(1.1)
    assert runtime.put("/_local/clock", json={"now": "2030-01-02T03:04:05Z"}).json() == {"now": "2030-01-02T03:04:05Z"}

    response = runtime.put("/_local/clock", json={"now": None})
    assert response.status_code == 200
    returned = datetime.fromisoformat(response.json()["now"].replace("Z", "+00:00"))
    assert abs((returned - datetime.now(UTC)).total_seconds()) < 60


def test_token_role_is_validated(runtime: Runtime) -> None:
    response = runtime.post("/_local/token", json={"sub": "u-1", "account_id": "acc-1", "role": "superuser"})
    assert_problem(response, 422, "validation_error")


def test_outbox_lists_notices_oldest_first(runtime: Runtime) -> None:
    """Other e2e tests share the runtime, so the outbox may already hold their notices."""
    response = runtime.get("/_local/outbox")
    assert response.status_code == 200
    items = response.json()["items"]
    assert isinstance(items, list)
    created = [item["created_at"] for item in items]
    assert created == sorted(created)
    for item in items:
        assert {"id", "type", "to", "account_id", "subject", "body", "created_at", "sent_at"} <= set(item)


def test_run_trial_sweep(runtime: Runtime) -> None:
    response = runtime.post("/_local/schedules/trial-sweep")
    assert response.status_code == 200, response.text
    summary = response.json()
    assert isinstance(summary, dict)
    assert set(summary) >= SUMMARY_KEYS


def test_run_trial_sweep_dry_run(runtime: Runtime) -> None:
    response = runtime.post("/_local/schedules/trial-sweep", json={"dry_run": True})
    assert response.status_code == 200, response.text
    assert set(response.json()) >= SUMMARY_KEYS


def test_unknown_schedule_is_a_404_problem(runtime: Runtime) -> None:
    assert_problem(runtime.post("/_local/schedules/nope"), 404, "not_found")


def test_private_route_without_token_is_401(runtime: Runtime) -> None:
    route = private_route()
    assert_problem(runtime.request(route.method, concrete(route.path)), 401, "unauthorized")


def test_private_route_with_token_of_another_secret_is_401(runtime: Runtime) -> None:
    route = private_route()
    forged = tokens.mint("s-1", None, "staff", secret=OTHER_SECRET)
    assert_problem(runtime.request(route.method, concrete(route.path), token=forged), 401, "unauthorized")


def test_private_route_with_expired_token_is_401(runtime: Runtime) -> None:
    route = private_route()
    expired = tokens.mint("s-1", None, "staff", issued_at=time.time() - tokens.LIFETIME_SECONDS - 60)
    assert_problem(runtime.request(route.method, concrete(route.path), token=expired), 401, "unauthorized")


def test_private_route_with_a_valid_token_reaches_the_function(runtime: Runtime) -> None:
    route = private_route()
    token = runtime.token("s-1", None, "staff")
    response = runtime.request(route.method, concrete(route.path), token=token, json={})
    assert response.status_code != 401, response.text
    assert response.headers.get("apigw-requestid")
