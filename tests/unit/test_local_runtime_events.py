"""The local runtime's events: API Gateway HTTP API payload 2.0, Scheduled Event, Lambda context."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

from lifecycle.core import clock
from local_runtime import events
from local_runtime.template import LOCAL_STACK_NAME, Resolver, Route, Schedule, function_setting, load

ADMIN = Route("POST", "/admin/campaigns", "CampaignsFunction", "functions/campaigns/", "app.lambda_handler", False)
GET_ONE = Route("GET", "/admin/campaigns/{id}", "CampaignsFunction", "functions/campaigns/", "app.handler", False)
DOCS = Route("GET", "/docs", "DocsFunction", "functions/docs/", "app.lambda_handler", True)
INSTANT = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture(autouse=True)
def set_clock() -> Iterator[None]:
    clock.set_now(INSTANT)
    yield
    clock.set_now(None)


def request(**overrides: object) -> events.HttpRequest:
    values: dict[str, object] = {"method": "POST", "path": "/admin/campaigns", "headers": [("Host", "127.0.0.1:3000")]}
    values.update(overrides)
    return events.HttpRequest(**values)  # type: ignore[arg-type]


def test_route_key_paths_and_version() -> None:
    event = events.http_event(request(), ADMIN, {}, {"sub": "u1", "role": "staff"})
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /admin/campaigns"
    assert event["requestContext"]["routeKey"] == "POST /admin/campaigns"
    assert event["rawPath"] == "/admin/campaigns"
    assert event["requestContext"]["http"]["path"] == "/admin/campaigns"
    assert event["requestContext"]["http"]["method"] == "POST"
    assert event["requestContext"]["stage"] == "$default"
    assert event["rawQueryString"] == ""


def test_keys_without_content_are_left_out() -> None:
    event = events.http_event(request(), ADMIN, {}, {"sub": "u1"})
    for key in ("cookies", "queryStringParameters", "pathParameters", "body"):
        assert key not in event
    assert event["isBase64Encoded"] is False


def test_event_time_is_the_clocks() -> None:
    context = events.http_event(request(), ADMIN, {}, None)["requestContext"]
    assert context["time"] == "02/Jan/2030:03:04:05 +0000"
    assert context["timeEpoch"] == int(INSTANT.timestamp() * 1000)


def test_headers_are_lower_cased_and_repeats_joined() -> None:
    headers = [("Host", "h"), ("X-Thing", "a"), ("x-thing", "b"), ("User-Agent", "curl/8")]
    event = events.http_event(request(headers=headers), ADMIN, {}, None)
    assert event["headers"]["x-thing"] == "a,b"
    assert event["headers"]["host"] == "h"
    assert event["requestContext"]["http"]["userAgent"] == "curl/8"
    assert all(name == name.lower() for name in event["headers"])


def test_cookies_move_out_of_the_headers() -> None:
    event = events.http_event(request(headers=[("Cookie", "a=1; b=2")]), ADMIN, {}, None)
    assert event["cookies"] == ["a=1", "b=2"]
    assert "cookie" not in event["headers"]


def test_repeated_query_parameters_are_comma_joined() -> None:
    event = events.http_event(request(query_string="a=1&a=2&b=x%20y&c="), ADMIN, {}, None)
    assert event["rawQueryString"] == "a=1&a=2&b=x%20y&c="
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x y", "c": ""}


def test_path_parameters_from_the_route_template() -> None:
    assert events.path_parameters("/admin/campaigns/{id}", "/admin/campaigns/c-1") == {"id": "c-1"}
    assert events.path_parameters("/admin/campaigns/{id}", "/admin/campaigns/c-1/codes") is None
    assert events.path_parameters("/admin/campaigns/{id}", "/admin/campaigns/") is None
    assert events.path_parameters("/files/{proxy+}", "/files/a/b/c.txt") == {"proxy": "a/b/c.txt"}
    assert events.path_parameters("/docs", "/docs") == {}
    event = events.http_event(request(method="GET", path="/admin/campaigns/c-1"), GET_ONE, {"id": "c-1"}, None)
    assert event["pathParameters"] == {"id": "c-1"}


def test_literal_routes_are_more_specific_than_parameters_and_greedy_last() -> None:
    paths = ["/files/{proxy+}", "/a/{id}", "/a/b"]
    assert sorted(paths, key=events.route_specificity) == ["/a/b", "/a/{id}", "/files/{proxy+}"]


def test_claims_only_on_routes_behind_the_authorizer() -> None:
    claims = {"sub": "u1", "account_id": "acc-1", "role": "owner", "exp": 1900000000, "aud": ["a", "b"]}
    private = events.http_event(request(), ADMIN, {}, claims)["requestContext"]["authorizer"]
    # As HTTP API delivers them: every value a string, lists as "[a b]".
    assert private == {
        "jwt": {
            "claims": {"sub": "u1", "account_id": "acc-1", "role": "owner", "exp": "1900000000", "aud": "[a b]"},
            "scopes": None,
        }
    }
    public = events.http_event(request(method="GET", path="/docs"), DOCS, {}, None)["requestContext"]
    assert "authorizer" not in public


def test_json_body_is_text() -> None:
    raw = b'{"name": "Caf\xc3\xa9"}'
    headers = [("Content-Type", "application/json; charset=utf-8")]
    event = events.http_event(request(body=raw, headers=headers), ADMIN, {}, None)
    assert event["body"] == '{"name": "Café"}'
    assert event["isBase64Encoded"] is False


def test_binary_body_is_base64() -> None:
    raw = bytes(range(256))
    headers = [("Content-Type", "application/octet-stream")]
    event = events.http_event(request(body=raw, headers=headers), ADMIN, {}, None)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


@pytest.mark.parametrize(
    ("content_type", "text"),
    [
        ("text/plain", True),
        ("application/problem+json", True),
        ("application/xml", True),
        ("application/x-www-form-urlencoded", False),
        ("image/png", False),
        (None, False),
    ],
)
def test_which_content_types_are_text(content_type: str | None, text: bool) -> None:
    assert events.is_text_content(content_type) is text


def test_powertools_reads_the_event() -> None:
    """The consumer of the event, Powertools' HTTP API data class, finds every part where AWS puts it."""
    raw = events.http_event(
        request(
            method="GET",
            path="/admin/campaigns/c-1",
            query_string="x=1",
            headers=[("Content-Type", "application/json"), ("Idempotency-Key", "k")],
            body=b'{"a": 1}',
        ),
        GET_ONE,
        {"id": "c-1"},
        {"sub": "u1", "role": "staff"},
    )
    event = APIGatewayProxyEventV2(raw)
    assert event.path_parameters == {"id": "c-1"}
    assert event.query_string_parameters == {"x": "1"}
    assert event.json_body == {"a": 1}
    assert event.headers["idempotency-key"] == "k"
    assert event.request_context.authorizer.jwt_claim == {"sub": "u1", "role": "staff"}


def test_scheduled_event_is_eventbridges() -> None:
    schedule = Schedule("trial-sweep", "rate(1 hour)", "TrialSweepFunction", "functions/trial_sweep/", "app.h")
    event = events.scheduled_event(schedule, LOCAL_STACK_NAME)
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["version"] == "0"
    assert event["time"] == "2030-01-02T03:04:05Z"
    assert event["detail"] == {}
    assert event["resources"] == [
        f"arn:aws:events:{event['region']}:{event['account']}:rule/{LOCAL_STACK_NAME}-trial-sweep"
    ]
    parsed = EventBridgeModel.model_validate(event)
    assert parsed.detail_type == "Scheduled Event"


def test_scheduled_event_carries_dry_run_and_next_in_detail() -> None:
    schedule = Schedule("trial-sweep", "rate(1 hour)", "TrialSweepFunction", "functions/trial_sweep/", "app.h")
    event = events.scheduled_event(schedule, LOCAL_STACK_NAME, {"dry_run": True, "next": {"shard": 2}})
    assert event["detail"] == {"dry_run": True, "next": {"shard": 2}}


def test_context_counts_down_from_the_functions_timeout() -> None:
    context = events.LambdaContext("helpdesk-local-TrialSweepFunction", timeout_seconds=300, memory_size=512)
    remaining = context.get_remaining_time_in_millis()
    assert 299_000 < remaining <= 300_000
    time.sleep(0.05)
    assert context.get_remaining_time_in_millis() < remaining
    assert context.invoked_function_arn.endswith(":function:helpdesk-local-TrialSweepFunction")
    assert context.memory_limit_in_mb == "512"
    assert context.log_group_name == "/aws/lambda/helpdesk-local-TrialSweepFunction"
    assert context.function_version == "$LATEST"
    assert context.aws_request_id


def test_timeouts_follow_the_template() -> None:
    template = load()
    assert Resolver(template).stack_name == LOCAL_STACK_NAME
    globals_timeout = template["Globals"]["Function"]["Timeout"]
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            expected = resource["Properties"].get("Timeout", globals_timeout)
            assert function_setting(template, logical_id, "Timeout") == expected
