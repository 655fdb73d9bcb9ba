"""CORS in the local HTTP API (in-process), as API Gateway applies the template's CorsConfiguration.

The allowed origins are the local stack's (API.md "Browsers"); methods, headers and max age
are read from the template, never restated here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client, TestResponse

from local_runtime import server, tokens
from local_runtime.template import ROOT, CorsConfiguration, Resolver, cors_configuration, load
from tests.unit.test_local_runtime_server import RecordingFunctions

SPEC_API = ROOT.parent / "shared" / "spec" / "API.md"
REFUSED_ORIGIN = "https://evil.example"
PRIVATE_PATH = "/accounts/acc-1"  # GET /accounts/{id}: members only


def local_origins() -> list[str]:
    """The origins API.md says the local runtime allows, from its "Browsers" paragraph."""
    text = SPEC_API.read_text(encoding="utf-8")
    paragraph = text[text.index("**Browsers**") :].split("\n- ", 1)[0]
    origins = re.findall(r"`(http://[^`]+)`", paragraph)
    assert origins, "API.md's Browsers paragraph names no local origin"
    return origins


@pytest.fixture
def functions() -> RecordingFunctions:
    return RecordingFunctions()


@pytest.fixture
def client(functions: RecordingFunctions, tmp_path: Path) -> Client:
    template = load()
    return Client(server.LocalApi(template, Resolver(template), functions, tmp_path))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def config() -> CorsConfiguration:
    template = load()
    found = cors_configuration(template, Resolver(template))
    assert found is not None, "the HttpApi has no CorsConfiguration"
    return found


def preflight(client: Client, origin: str, method: str = "POST", path: str = "/signups") -> TestResponse:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
    }
    return client.open(path, method="OPTIONS", headers=headers)


def cors_headers(response: TestResponse) -> dict[str, str]:
    return {name.lower(): value for name, value in response.headers if name.lower().startswith("access-control-")}


def bearer() -> dict[str, str]:
    return {"Authorization": "Bearer " + tokens.mint("u1", "acc-1", "owner")}


def test_the_local_runtime_allows_the_origins_api_md_names(config: CorsConfiguration) -> None:
    assert sorted(config.allow_origins) == sorted(local_origins())


@pytest.mark.parametrize("origin", local_origins())
def test_preflight_from_an_allowed_origin_is_answered_with_the_configuration(
    client: Client, functions: RecordingFunctions, config: CorsConfiguration, origin: str
) -> None:
    response = preflight(client, origin)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert response.headers["Access-Control-Allow-Methods"].split(",") == list(config.allow_methods)
    assert response.headers["Access-Control-Allow-Headers"].split(",") == list(config.allow_headers)
    assert {"authorization", "content-type", "idempotency-key"} <= set(config.allow_headers)
    assert response.headers["Access-Control-Max-Age"] == str(config.max_age)
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Origin" in response.vary
    assert functions.calls == []  # API Gateway answers it: no function runs


def test_preflight_to_a_members_route_is_answered_before_the_authorizer(
    client: Client, functions: RecordingFunctions
) -> None:
    response = preflight(client, "http://localhost:5173", method="DELETE", path="/accounts/acc-1/users/u-2")
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert functions.calls == []


def test_preflight_from_a_refused_origin_has_no_cors_headers(client: Client, functions: RecordingFunctions) -> None:
    response = preflight(client, REFUSED_ORIGIN)
    assert response.status_code == 204
    assert cors_headers(response) == {}
    assert functions.calls == []


def test_preflight_origin_must_match_exactly(client: Client) -> None:
    for near_miss in ("http://localhost:5174", "https://localhost:5173", "http://localhost", "null"):
        assert cors_headers(preflight(client, near_miss)) == {}, near_miss


def test_preflight_for_a_method_not_allowed_has_no_cors_headers(client: Client) -> None:
    response = preflight(client, "http://localhost:5173", method="PATCH")
    assert response.status_code == 204
    assert cors_headers(response) == {}


def test_options_without_a_requested_method_is_no_preflight_and_is_routed(
    client: Client, functions: RecordingFunctions
) -> None:
    response = client.open("/signups", method="OPTIONS", headers={"Origin": "http://localhost:5173"})
    assert response.status_code == 405
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert functions.calls == []


def test_an_answer_to_an_allowed_origin_carries_the_cors_headers(
    client: Client, functions: RecordingFunctions, config: CorsConfiguration
) -> None:
    response = client.get(PRIVATE_PATH, headers={"Origin": "http://127.0.0.1:5173", **bearer()})
    assert response.status_code == 200
    assert len(functions.calls) == 1
    assert response.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:5173"
    assert response.headers["Access-Control-Expose-Headers"].split(",") == list(config.expose_headers)
    assert "Origin" in response.vary
    assert "Access-Control-Allow-Methods" not in response.headers  # preflights only


def test_the_authorizers_401_to_an_allowed_origin_carries_the_header(
    client: Client, functions: RecordingFunctions
) -> None:
    response = client.get(PRIVATE_PATH, headers={"Origin": "http://localhost:5173"})
    assert response.status_code == 401
    assert json.loads(response.get_data())["code"] == "unauthorized"
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert functions.calls == []


def test_a_404_to_an_allowed_origin_carries_the_header(client: Client) -> None:
    response = client.get("/no/such/route", headers={"Origin": "http://localhost:5173"})
    assert response.status_code == 404
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"


def test_a_functions_422_problem_to_an_allowed_origin_carries_the_header(
    client: Client, functions: RecordingFunctions
) -> None:
    problem: dict[str, Any] = {"type": "urn:helpdesk:problem:validation_error", "status": 422}
    problem.update(title="The request is not valid", code="validation_error", errors=[])
    functions.result = {
        "statusCode": 422,
        "headers": {"Content-Type": "application/problem+json"},
        "body": json.dumps(problem),
    }
    response = client.post("/signups", json={}, headers={"Origin": "http://localhost:5173"})
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"


def test_a_500_to_an_allowed_origin_carries_the_header(client: Client, functions: RecordingFunctions) -> None:
    functions.error = RuntimeError("boom")
    response = client.post("/signups", json={}, headers={"Origin": "http://localhost:5173"})
    assert response.status_code == 500
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"


@pytest.mark.parametrize("path", ["/docs", PRIVATE_PATH, "/no/such/route"])
def test_answers_to_a_refused_origin_have_no_cors_headers(client: Client, path: str) -> None:
    response = client.get(path, headers={"Origin": REFUSED_ORIGIN, **bearer()})
    assert response.status_code in {200, 404}
    assert cors_headers(response) == {}
    assert "Origin" not in response.vary


def test_a_request_without_origin_gets_no_cors_headers(client: Client) -> None:
    assert cors_headers(client.get("/docs")) == {}


def test_cors_headers_a_function_returns_are_ignored(client: Client, functions: RecordingFunctions) -> None:
    functions.result = {
        "statusCode": 200,
        "headers": {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Credentials": "true"},
        "body": "{}",
    }
    refused = client.get("/docs", headers={"Origin": REFUSED_ORIGIN})
    assert cors_headers(refused) == {}
    allowed = client.get("/docs", headers={"Origin": "http://localhost:5173"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "Access-Control-Allow-Credentials" not in allowed.headers


def test_another_origin_parameter_is_what_the_runtime_allows(functions: RecordingFunctions, tmp_path: Path) -> None:
    template = load()
    resolver = Resolver(template)
    resolver.parameters["CorsAllowedOrigins"] = "https://app.example.org, http://localhost:3000"
    app = Client(server.LocalApi(template, resolver, functions, tmp_path))  # type: ignore[arg-type]
    assert preflight(app, "http://localhost:3000").headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert preflight(app, "https://app.example.org").headers["Access-Control-Allow-Origin"] == "https://app.example.org"
    assert cors_headers(preflight(app, "http://localhost:5173")) == {}


def test_allow_origin_adds_an_origin_beside_the_local_web_clients(
    functions: RecordingFunctions, tmp_path: Path
) -> None:
    from local_runtime.__main__ import local_parameters, parse_args

    args = parse_args(["--allow-origin", "http://127.0.0.1:5174", "--allow-origin", "https://app.example.org"])
    template = load()
    resolver = Resolver(template, parameters=local_parameters(args.allow_origin))
    app = Client(server.LocalApi(template, resolver, functions, tmp_path))  # type: ignore[arg-type]
    for origin in [*local_origins(), "http://127.0.0.1:5174", "https://app.example.org"]:
        assert preflight(app, origin).headers["Access-Control-Allow-Origin"] == origin
    assert cors_headers(preflight(app, "http://127.0.0.1:5175")) == {}
    assert local_parameters([]) == Resolver(template).parameters


@pytest.mark.parametrize(
    "origin", ["*", "http://127.0.0.1:5174/", "http://127.0.0.1:5174/page", "null", "127.0.0.1:5174"]
)
def test_allow_origin_refuses_what_the_templates_pattern_refuses(
    origin: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from local_runtime.__main__ import parse_args

    with pytest.raises(SystemExit) as exited:
        parse_args(["--allow-origin", origin])
    assert exited.value.code == 2
    assert "is not an origin" in capsys.readouterr().err
