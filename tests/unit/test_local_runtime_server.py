"""The local HTTP API in-process (werkzeug's test client), with a stand-in for the functions."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client, TestResponse

from lifecycle.core import clock
from lifecycle.entry import http as lifecycle_http
from local_runtime import server, tokens
from local_runtime.template import Resolver, Route, load, routes

OTHER_SECRET = "another-secret-of-at-least-32-bytes!!"


class RecordingFunctions:
    """Answers every invocation with ``result`` and keeps the events it was given."""

    def __init__(self) -> None:
        self.result: Any = {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"}
        self.error: Exception | None = None
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        self.calls.append((logical_id, event))
        if self.error is not None:
            raise self.error
        return self.result


@pytest.fixture
def functions() -> RecordingFunctions:
    return RecordingFunctions()


@pytest.fixture
def client(functions: RecordingFunctions, tmp_path: Path) -> Iterator[Client]:
    template = load()
    app = server.LocalApi(template, Resolver(template), functions, tmp_path)  # type: ignore[arg-type]
    yield Client(app)
    clock.set_now(None)


def doc(response: TestResponse) -> Any:
    """The response's JSON body."""
    return json.loads(response.get_data(as_text=True))


def private_route() -> Route:
    return next(route for route in routes(load()) if not route.public)


def concrete(path: str) -> str:
    return path.replace("{", "").replace("}", "").replace("+", "")


def bearer(role: str = "staff", account_id: str | None = None, **kwargs: Any) -> dict[str, str]:
    return {"Authorization": "Bearer " + tokens.mint("u1", account_id, role, **kwargs)}


def test_problem_document_matches_the_layers() -> None:
    assert server.PROBLEM_TYPE_BASE == lifecycle_http.PROBLEM_TYPE_BASE
    assert server.PROBLEM_CONTENT_TYPE == lifecycle_http.PROBLEM_CONTENT_TYPE


def test_unknown_path_is_a_404_problem(client: Client) -> None:
    response = client.get("/no/such/route")
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    assert doc(response)["code"] == "not_found"
    assert set(doc(response)) >= {"type", "title", "status", "detail", "code"}


def test_known_path_with_another_method_is_a_405_problem(client: Client) -> None:
    response = client.delete("/docs")
    assert response.status_code == 405
    assert doc(response)["code"] == "method_not_allowed"
    assert response.headers["Allow"] == "GET"


def test_public_route_needs_no_token(client: Client, functions: RecordingFunctions) -> None:
    assert client.get("/docs").status_code == 200
    logical_id, event = functions.calls[0]
    assert logical_id == "DocsFunction"
    assert event["routeKey"] == "GET /docs"
    assert "authorizer" not in event["requestContext"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer garbage"},
        bearer(secret=OTHER_SECRET),
        bearer(issued_at=0),
    ],
    ids=["missing", "garbage", "other-secret", "expired"],
)
def test_private_route_refuses_bad_tokens(
    client: Client, functions: RecordingFunctions, headers: dict[str, str]
) -> None:
    route = private_route()
    response = client.open(concrete(route.path), method=route.method, headers=headers)
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert doc(response)["code"] == "unauthorized"
    assert functions.calls == []


def test_private_route_gets_the_claims_and_path_parameters(client: Client, functions: RecordingFunctions) -> None:
    response = client.get("/admin/campaigns/c-1?x=1", headers=bearer())
    assert response.status_code == 200
    assert response.headers["apigw-requestid"]
    logical_id, event = functions.calls[0]
    assert logical_id == "CampaignsFunction"
    assert event["routeKey"] == "GET /admin/campaigns/{id}"
    assert event["pathParameters"] == {"id": "c-1"}
    assert event["queryStringParameters"] == {"x": "1"}
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    assert (claims["sub"], claims["role"]) == ("u1", "staff")


def test_handler_result_becomes_the_response(client: Client, functions: RecordingFunctions) -> None:
    functions.result = {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json", "X-One": "1"},
        "multiValueHeaders": {"X-Many": ["a", "b"]},
        "cookies": ["session=abc; HttpOnly"],
        "body": json.dumps({"ok": True}),
        "isBase64Encoded": False,
    }
    response = client.get("/docs")
    assert response.status_code == 201
    assert doc(response) == {"ok": True}
    assert response.headers["X-One"] == "1"
    assert response.headers.getlist("X-Many") == ["a", "b"]
    assert response.headers["Set-Cookie"] == "session=abc; HttpOnly"


def test_base64_result_is_decoded(client: Client, functions: RecordingFunctions) -> None:
    functions.result = {
        "statusCode": 200,
        "headers": {"Content-Type": "image/png"},
        "body": base64.b64encode(b"\x89PNG").decode(),
        "isBase64Encoded": True,
    }
    assert client.get("/docs").data == b"\x89PNG"


def test_object_without_status_code_is_a_json_200(client: Client, functions: RecordingFunctions) -> None:
    functions.result = {"hello": "world"}
    response = client.get("/docs")
    assert (response.status_code, doc(response)) == (200, {"hello": "world"})


def test_non_object_result_is_a_500_problem(client: Client, functions: RecordingFunctions) -> None:
    functions.result = "not a response"
    response = client.get("/docs")
    assert response.status_code == 500
    assert doc(response)["code"] == "internal_error"


def test_mint_token(client: Client) -> None:
    response = client.post("/_local/token", json={"sub": "u1", "account_id": "acc-1", "role": "owner"})
    assert response.status_code == 200
    claims = tokens.verify(doc(response)["token"])
    assert (claims["sub"], claims["account_id"], claims["role"]) == ("u1", "acc-1", "owner")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sub": "u1", "account_id": None, "role": "boss"}, "role"),
        ({"account_id": None, "role": "staff"}, "sub"),
        ({"sub": "u1", "account_id": 5, "role": "owner"}, "account_id"),
    ],
)
def test_mint_token_validates(client: Client, body: dict[str, Any], field: str) -> None:
    response = client.post("/_local/token", json=body)
    assert response.status_code == 422
    assert doc(response)["code"] == "validation_error"
    assert doc(response)["errors"][0]["field"] == field


def test_set_and_reset_the_clock(client: Client) -> None:
    response = client.put("/_local/clock", json={"now": "2030-01-02T03:04:05Z"})
    assert doc(response) == {"now": "2030-01-02T03:04:05Z"}
    assert clock.to_iso(clock.now()) == "2030-01-02T03:04:05Z"
    response = client.put("/_local/clock", json={"now": "2030-01-02T05:04:05+02:00"})
    assert doc(response) == {"now": "2030-01-02T03:04:05Z"}
    response = client.put("/_local/clock", json={"now": None})
    assert response.status_code == 200
    assert not clock.is_set()


@pytest.mark.parametrize("body", [{"now": "2030-01-02T03:04:05"}, {"now": 5}, {}])
def test_clock_refuses_what_is_not_an_instant(client: Client, body: dict[str, Any]) -> None:
    response = client.put("/_local/clock", json=body)
    assert response.status_code == 422
    assert doc(response)["errors"][0]["field"] == "now"


def test_run_a_schedule_with_dry_run_and_next(client: Client, functions: RecordingFunctions) -> None:
    functions.result = {"examined": 1, "changed": 0, "errors": 0, "next": None}
    response = client.post("/_local/schedules/trial-sweep", json={"dry_run": True, "next": {"shard": "1"}})
    assert response.status_code == 200
    assert doc(response) == functions.result
    logical_id, event = functions.calls[0]
    assert logical_id == "TrialSweepFunction"
    assert event["detail-type"] == "Scheduled Event"
    assert event["detail"] == {"dry_run": True, "next": {"shard": "1"}}


def test_run_a_schedule_without_body_sends_empty_detail(client: Client, functions: RecordingFunctions) -> None:
    client.post("/_local/schedules/trial-sweep")
    assert functions.calls[0][1]["detail"] == {}


def test_unknown_schedule_is_a_404_problem(client: Client) -> None:
    response = client.post("/_local/schedules/nope")
    assert response.status_code == 404
    assert doc(response)["code"] == "not_found"


def test_outbox_reads_the_jsonl_file_oldest_first(client: Client, tmp_path: Path) -> None:
    assert doc(client.get("/_local/outbox")) == {"items": []}
    outbox = tmp_path / server.OUTBOX_FILE
    outbox.write_text('{"id": "n1"}\n\n{"id": "n2"}\n{"id": "n3', encoding="utf-8")
    assert doc(client.get("/_local/outbox")) == {"items": [{"id": "n1"}, {"id": "n2"}]}


def test_a_handler_exception_is_a_500_problem(client: Client, functions: RecordingFunctions) -> None:
    functions.error = RuntimeError("boom")
    response = client.get("/docs")
    assert response.status_code == 500
    assert doc(response)["code"] == "internal_error"
