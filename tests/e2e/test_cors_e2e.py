"""A browser's web client on the local origin calls the API over HTTP (API.md "Browsers"):
the preflight, then the real request, each answered with the CORS headers it needs."""

from __future__ import annotations

import uuid

from tests.e2e.conftest import Runtime
from tests.route_examples import registrant

WEB_CLIENT = "http://localhost:5173"
OTHER_SITE = "https://evil.example"


def _cors_headers(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items() if name.lower().startswith("access-control-")}


def test_a_signup_from_the_local_web_client_passes_preflight_and_can_be_read(runtime: Runtime) -> None:
    preflight = runtime.request(
        "OPTIONS",
        "/signups",
        headers={
            "Origin": WEB_CLIENT,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,idempotency-key",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == WEB_CLIENT
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"].split(",")
    allowed_headers = preflight.headers["Access-Control-Allow-Headers"].lower().split(",")
    assert {"content-type", "idempotency-key", "authorization"} <= set(allowed_headers)
    assert int(preflight.headers["Access-Control-Max-Age"]) > 0

    tag = f"cors-{uuid.uuid4().hex[:10]}"
    body = registrant(tag, plan="ticket", billing_period="monthly")
    created = runtime.post("/signups", json=body, headers={"Origin": WEB_CLIENT, "Idempotency-Key": tag})
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "trialing"
    assert created.headers["Access-Control-Allow-Origin"] == WEB_CLIENT
    assert "retry-after" in created.headers["Access-Control-Expose-Headers"].lower().split(",")
    assert "Origin" in created.headers["Vary"]


def test_a_refused_signup_still_reaches_the_web_client_as_its_problem(runtime: Runtime) -> None:
    body = registrant(f"cors-{uuid.uuid4().hex[:10]}", plan="ticket", billing_period="monthly", email="not-an-email")
    refused = runtime.post("/signups", json=body, headers={"Origin": WEB_CLIENT})
    assert refused.status_code == 422
    assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert refused.json()["code"] == "validation_error"
    assert refused.headers["Access-Control-Allow-Origin"] == WEB_CLIENT


def test_the_authorizers_401_reaches_the_web_client(runtime: Runtime) -> None:
    answer = runtime.get("/accounts/acc-unknown", headers={"Origin": "http://127.0.0.1:5173"})
    assert answer.status_code == 401
    assert answer.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:5173"


def test_another_site_gets_no_cors_headers(runtime: Runtime) -> None:
    preflight = runtime.request(
        "OPTIONS", "/signups", headers={"Origin": OTHER_SITE, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 204
    assert _cors_headers(dict(preflight.headers)) == {}
    answer = runtime.get("/openapi.json", headers={"Origin": OTHER_SITE})
    assert answer.status_code == 200
    assert _cors_headers(dict(answer.headers)) == {}
