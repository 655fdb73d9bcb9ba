"""The events and context Lambda hands a handler, built as AWS builds them.

- HTTP: API Gateway HTTP API, payload format 2.0 (what ``APIGatewayHttpResolver`` parses).
- Schedules: EventBridge's "Scheduled Event".
- ``LambdaContext``: the attributes the Python runtime's context object carries.

Nothing here knows about werkzeug, so the shapes are unit-testable on plain values.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qsl

from lifecycle.core import clock
from local_runtime.template import LOCAL_ACCOUNT_ID, LOCAL_REGION, Route, Schedule

# A real HTTP API id is 10 lower-case alphanumerics; this one is obviously local.
LOCAL_API_ID = "local00api"

# HTTP API hands these bodies over as text; every other content type arrives base64-encoded.
_TEXT_TYPES = {"application/json", "application/xml", "application/javascript", "application/x-yaml"}


# ---------------------------------------------------------------- routing


def _segment_pattern(segment: str) -> str:
    greedy = re.fullmatch(r"\{(\w+)\+\}", segment)
    if greedy:
        return f"(?P<{greedy.group(1)}>.+)"
    param = re.fullmatch(r"\{(\w+)\}", segment)
    if param:
        return f"(?P<{param.group(1)}>[^/]+)"
    return re.escape(segment)


@cache
def route_pattern(route_path: str) -> re.Pattern[str]:
    """A route template (``/admin/campaigns/{id}``, ``/files/{proxy+}``) as a regex over paths."""
    return re.compile("/".join(_segment_pattern(segment) for segment in route_path.split("/")) + r"\Z")


def path_parameters(route_path: str, path: str) -> dict[str, str] | None:
    """The template's parameters taken from ``path``, or None when the path does not match."""
    matched = route_pattern(route_path).match(path)
    return matched.groupdict() if matched else None


def route_specificity(route_path: str) -> tuple[int, int]:
    """Sort key, most specific first, as HTTP API chooses: literal segments beat ``{x}``, ``{x+}`` comes last."""
    segments = route_path.split("/")
    greedy = any(segment.endswith("+}") for segment in segments)
    literals = sum(1 for segment in segments if not segment.startswith("{"))
    return (1 if greedy else 0, -literals)


# ---------------------------------------------------------------- HTTP API payload 2.0


@dataclass(frozen=True)
class HttpRequest:
    """What the event needs of an HTTP request; ``path`` is percent-decoded, as HTTP API delivers it."""

    method: str
    path: str
    query_string: str = ""
    headers: Iterable[tuple[str, str]] = ()
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"
    scheme: str = "http"
    port: int = 80


def _event_headers(request: HttpRequest) -> tuple[dict[str, str], list[str]]:
    """Lower-cased headers, repeats joined by commas; cookies move out of them into their own list."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    # API Gateway adds these; handlers (and Powertools) may read them.
    headers.setdefault("x-forwarded-for", request.source_ip)
    headers.setdefault("x-forwarded-port", str(request.port))
    headers.setdefault("x-forwarded-proto", request.scheme)
    return headers, cookies


def _query_parameters(raw_query: str) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
    return parameters


def is_text_content(content_type: str | None) -> bool:
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type.startswith("text/") or media_type in _TEXT_TYPES or media_type.endswith(("+json", "+xml"))


def _event_body(body: bytes, content_type: str | None) -> tuple[str, bool]:
    """The body as text, or base64 when its type is not text (or it is not valid UTF-8)."""
    if is_text_content(content_type):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def _request_id() -> str:
    # HTTP API request ids look like "JKJaXmPLvHcESHA=": base64 of 10 random bytes.
    return base64.b64encode(secrets.token_bytes(10)).decode("ascii")


def _request_time(now: datetime) -> tuple[str, int]:
    return now.strftime("%d/%b/%Y:%H:%M:%S +0000"), int(now.timestamp() * 1000)


def claims_as_delivered(claims: Mapping[str, Any]) -> dict[str, str]:
    """Claims as the HTTP API JWT authorizer passes them on: every value a string, lists as ``[a b]``."""
    delivered: dict[str, str] = {}
    for name, value in claims.items():
        if value is None:
            continue
        if isinstance(value, bool):
            delivered[name] = "true" if value else "false"
        elif isinstance(value, list | tuple):
            delivered[name] = "[" + " ".join(str(item) for item in value) + "]"
        elif isinstance(value, dict):
            delivered[name] = json.dumps(value, separators=(",", ":"))
        else:
            delivered[name] = str(value)
    return delivered


def _request_context(request: HttpRequest, route: Route, headers: dict[str, str], now: datetime) -> dict[str, Any]:
    domain = headers.get("host", "localhost")
    text_time, epoch_ms = _request_time(now)
    return {
        "accountId": LOCAL_ACCOUNT_ID,
        "apiId": LOCAL_API_ID,
        "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0],
        "http": {
            "method": request.method,
            "path": request.path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": _request_id(),
        "routeKey": route.route_key,
        "stage": "$default",
        "time": text_time,
        "timeEpoch": epoch_ms,
    }


def http_event(
    request: HttpRequest,
    route: Route,
    path_params: Mapping[str, str],
    claims: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The payload 2.0 event for ``request`` matched to ``route``.

    As in AWS, keys without content (cookies, query, path parameters, body) are left out,
    and ``authorizer`` is present only on routes behind the JWT authorizer.
    """
    headers, cookies = _event_headers(request)
    context = _request_context(request, route, headers, clock.now())
    if not route.public:
        context["authorizer"] = {"jwt": {"claims": claims_as_delivered(claims or {}), "scopes": None}}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": request.path,
        "rawQueryString": request.query_string,
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if request.query_string:
        event["queryStringParameters"] = _query_parameters(request.query_string)
    if path_params:
        event["pathParameters"] = dict(path_params)
    if request.body:
        event["body"], event["isBase64Encoded"] = _event_body(request.body, headers.get("content-type"))
    return event


# ---------------------------------------------------------------- EventBridge


def scheduled_event(schedule: Schedule, stack_name: str, detail: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """EventBridge's "Scheduled Event" for ``schedule``'s rule.

    A real schedule sends ``detail: {}``; ``POST /_local/schedules/{name}`` adds the
    ``dry_run``/``next`` it was given there, which is where the sweeps read them.
    """
    rule = f"{stack_name}-{schedule.name}"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": LOCAL_ACCOUNT_ID,
        "time": clock.to_iso(clock.now()),
        "region": LOCAL_REGION,
        "resources": [f"arn:aws:events:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:rule/{rule}"],
        "detail": dict(detail or {}),
    }


# ---------------------------------------------------------------- context


@dataclass
class LambdaContext:
    """The context object of Lambda's Python runtime, for one invocation.

    The remaining time counts down in real time (``time.monotonic``), never the settable
    clock: Lambda's timeout is wall time whatever the business clock says.
    """

    function_name: str
    timeout_seconds: int
    memory_size: int
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    identity: Any = None
    client_context: Any = None
    _deadline: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{self.function_name}"

    @property
    def memory_limit_in_mb(self) -> str:
        # The runtime reads it from AWS_LAMBDA_FUNCTION_MEMORY_SIZE, so it is a string there too.
        return str(self.memory_size)

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        day = time.strftime("%Y/%m/%d", time.gmtime())
        return f"{day}/[{self.function_version}]{self.aws_request_id.replace('-', '')}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
