"""The local HTTP API: a werkzeug WSGI app standing in for API Gateway (HTTP API) and Lambda.

Routes come only from template.yaml. A request is matched to a route, passed through
the JWT authorizer's checks (non-public routes), turned into a payload 2.0 event and
handed to the function's handler; the handler's result becomes the HTTP response, as
API Gateway would map it. The template's CORS configuration applies to every answer
(local_runtime.cors). ``/_local/`` adds API.md's developer routes.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from lifecycle.core import clock
from lifecycle.core.auth import ROLES
from local_runtime import events, tokens
from local_runtime.cors import Cors
from local_runtime.dynamodb_local import LOCAL_AWS_ENV
from local_runtime.functions import Functions
from local_runtime.identity import LocalIdentity
from local_runtime.payment_standin import LOCAL_SECRET_KEY, LOCAL_WEBHOOK_SECRET
from local_runtime.template import (
    LOCAL_REGION,
    ROOT,
    Resolver,
    Route,
    Schedule,
    cors_configuration,
    function_environment,
    routes,
    schedules,
)

log = logging.getLogger("local_runtime.http")

# The same document lifecycle.entry.http.problem writes (a unit test keeps them equal). Not
# imported from there: that module builds the functions' Powertools singletons on import,
# which must wait until configure_environment has set their environment.
PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:helpdesk:problem:"
OUTBOX_FILE = "outbox.jsonl"
# The payment provider stand-in's state (API.md "Payment tokens"), unless the runtime runs in memory.
PAYMENTS_FILE = "payments.json"
# Access and portability exports (R-GDPR-3, R-GDPR-7), where S3 keeps them in AWS.
EXPORTS_DIR = "exports"
LAYER_PATH = ROOT / "layers" / "shared" / "python"
# Environment a developer's shell may carry that must not reach the local functions.
_SCRUBBED_ENV = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
# Path parameters that are credentials (a voucher code redeems until it is revoked): the
# request log shows their name, ``/admin/vouchers/{code}/revoke``, never their value.
SECRET_PATH_PARAMETERS = frozenset({"code"})


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> Response:
    body = {"type": PROBLEM_TYPE_BASE + code, "title": title, "status": status, "detail": detail, "code": code}
    body.update(extra)
    return Response(json.dumps(body), status=status, content_type=PROBLEM_CONTENT_TYPE)


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


class BadRequest(Exception):
    """A /_local/ request the runtime refuses; becomes a problem response."""

    def __init__(self, status: int, code: str, detail: str, errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.errors = status, code, detail, errors

    def response(self) -> Response:
        if self.errors is not None:
            return problem(self.status, self.code, "The request is not valid", self.detail, errors=self.errors)
        return problem(self.status, self.code, "Bad request", self.detail)


def invalid(field: str, message: str) -> BadRequest:
    return BadRequest(422, "validation_error", "See errors[] for each field", [{"field": field, "message": message}])


# ---------------------------------------------------------------- environment


def configure_environment(
    template: dict[str, Any],
    resolver: Resolver,
    dynamodb_endpoint: str,
    outbox_path: Path,
    public_base_url: str | None = None,
    payment_api_base: str | None = None,
    identity: LocalIdentity | None = None,
) -> dict[str, str]:
    """Give this process the environment every function runs with, and the layer on sys.path.
    ``payment_api_base``: the payment provider stand-in's address (its local key is used).
    ``identity``: the local identity provider, whose pool the service manages people in.

    Must run before any handler (or ``lifecycle`` module but ``clock``) is imported:
    Powertools and the settings read the environment once, on import.
    """
    env = {
        **function_environment(template, resolver),
        "DYNAMODB_ENDPOINT": dynamodb_endpoint,
        "REGION": LOCAL_REGION,
        "AWS_REGION": LOCAL_REGION,
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        **LOCAL_AWS_ENV,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "LOCAL_OUTBOX_PATH": str(outbox_path),
        "LOCAL_EXPORTS_PATH": str(outbox_path.with_name(EXPORTS_DIR)),
    }
    if payment_api_base is not None:
        env["PAYMENT_API_BASE"] = payment_api_base
        env["PAYMENT_PROVIDER_SECRET"] = LOCAL_SECRET_KEY
        env["PAYMENT_WEBHOOK_SECRET"] = LOCAL_WEBHOOK_SECRET
    if identity is not None:
        # API.md "Sign-in": the service creates, disables and deletes people at the local pool.
        env["IDENTITY_ENDPOINT"] = identity.endpoint
        env["IDENTITY_USER_POOL_ID"] = identity.user_pool_id
    if public_base_url is not None:
        # Links in emails (verification, export download, unsubscribe) point at this runtime.
        env["PUBLIC_BASE_URL"] = public_base_url
    for name in _SCRUBBED_ENV:
        os.environ.pop(name, None)
    os.environ.update(env)
    if str(LAYER_PATH) not in sys.path:
        sys.path.insert(0, str(LAYER_PATH))
    return env


# ---------------------------------------------------------------- routing


@dataclass(frozen=True)
class Match:
    route: Route
    path_parameters: dict[str, str]


class Router:
    """template.yaml's routes, tried most specific first, as HTTP API chooses among them."""

    def __init__(self, table: Iterable[Route]) -> None:
        ordered = sorted(table, key=lambda route: events.route_specificity(route.path))
        # Compiled once: every request tries them in turn, twice (the answer, then its log line).
        self._routes = [(route, events.route_pattern(route.path)) for route in ordered]

    def match(self, method: str, path: str) -> tuple[Match | None, set[str]]:
        """The route for ``method path``, and the methods the path answers (for a 405)."""
        allowed: set[str] = set()
        for route, pattern in self._routes:
            found = pattern.match(path)
            if found is None:
                continue
            allowed.add(route.method)
            if route.method in {method, "ANY"}:
                return Match(route, found.groupdict()), allowed
        return None, allowed


# ---------------------------------------------------------------- Lambda result -> HTTP


def _result_headers(result: dict[str, Any]) -> Headers:
    headers = Headers()
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values:
            headers.add(name, str(value))
    for name, value in (result.get("headers") or {}).items():
        # API Gateway merges the two maps; a pair present in both appears once.
        if str(value) not in headers.getlist(name):
            headers.add(name, str(value))
    for cookie in result.get("cookies") or []:
        headers.add("Set-Cookie", str(cookie))
    if "Content-Type" not in headers:
        headers["Content-Type"] = "application/json"
    return headers


def lambda_result_response(result: Any) -> Response:
    """A handler's return value as HTTP API maps it (payload 2.0), or a 500 problem."""
    if not isinstance(result, dict):
        return problem(500, "internal_error", "Internal error", "The function returned no response object")
    if "statusCode" not in result:
        # Payload 2.0: a JSON object without statusCode is the body of a 200.
        return json_response(result)
    body = result.get("body") or ""
    try:
        status = int(result["statusCode"])
        payload = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    except (TypeError, ValueError):
        return problem(500, "internal_error", "Internal error", "The function returned a malformed response")
    return Response(payload, status=status, headers=_result_headers(result))


# ---------------------------------------------------------------- the app


def _json_body(request: Request, *, required: bool) -> dict[str, Any]:
    raw = request.get_data(cache=True)
    if not raw.strip():
        if required:
            raise BadRequest(400, "bad_request", "A JSON object body is required")
        return {}
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise BadRequest(400, "bad_request", f"The body is not JSON: {error}") from error
    if not isinstance(body, dict):
        raise BadRequest(400, "bad_request", "The body must be a JSON object")
    return body


def _http_request(request: Request) -> events.HttpRequest:
    environ = request.environ
    return events.HttpRequest(
        method=request.method,
        path=request.path,
        query_string=request.query_string.decode("latin-1"),
        headers=list(request.headers.items()),
        body=request.get_data(cache=True),
        source_ip=request.remote_addr or "127.0.0.1",
        protocol=str(environ.get("SERVER_PROTOCOL", "HTTP/1.1")),
        scheme=request.scheme,
        port=int(environ.get("SERVER_PORT") or 80),
    )


# How long ``GET /_local/outbox`` waits for the stream consumers to deliver what was committed.
OUTBOX_WAIT_SECONDS = 10.0


class LocalApi:
    """The WSGI application."""

    def __init__(self, template: dict[str, Any], resolver: Resolver, functions: Functions, data_dir: Path) -> None:
        self._resolver = resolver
        self._functions = functions
        self._router = Router(routes(template))
        cors = cors_configuration(template, resolver)
        self._cors = None if cors is None else Cors(cors)
        self._schedules = {schedule.name: schedule for schedule in schedules(template, resolver)}
        self.outbox_path = data_dir / OUTBOX_FILE
        self._local: dict[tuple[str, str], Callable[[Request], Response]] = {
            ("POST", "/_local/token"): self._mint_token,
            ("PUT", "/_local/clock"): self._set_clock,
            ("GET", "/_local/outbox"): self._outbox,
            ("PUT", "/_local/vies"): self._set_vies,
            ("GET", "/_local/identity"): self._identity,
        }
        # The local identity provider, once ``__main__`` started it (API.md ``GET /_local/identity``).
        self.identity: LocalIdentity | None = None
        # The stream consumers, once ``__main__`` started them: the outbox waits for them to catch up.
        self.stream_consumers: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        started = time.perf_counter()
        response = self.dispatch(request)
        # Path only: query strings and bodies may carry tokens or personal data.
        log.info(
            "%s %s %d %.1f ms",
            request.method,
            self._logged_path(request),
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        # Preflights first: API Gateway answers them before routing and the authorizer.
        if self._cors is not None and self._cors.is_preflight(request):
            return self._cors.preflight(request)
        response = self._answer(request)
        return response if self._cors is None else self._cors.answer(request, response)

    def _answer(self, request: Request) -> Response:
        try:
            if request.path.startswith("/_local/"):
                return self._dispatch_local(request)
            return self._dispatch_api(request)
        except BadRequest as refused:
            return refused.response()
        except Exception as error:
            log.exception("%s %s failed", request.method, self._logged_path(request))
            return problem(500, "internal_error", "Internal error", f"{type(error).__name__}: {error}")

    def _logged_path(self, request: Request) -> str:
        """The request's path, its credential path parameters replaced by their names."""
        matched, _ = self._router.match(request.method, request.path)
        if matched is None or not SECRET_PATH_PARAMETERS & matched.path_parameters.keys():
            return str(request.path)
        path = matched.route.path
        for name, value in matched.path_parameters.items():
            if name not in SECRET_PATH_PARAMETERS:
                path = path.replace(f"{{{name}}}", value)
        return path

    # ------------------------------------------------------------ the template's routes

    def _dispatch_api(self, request: Request) -> Response:
        matched, allowed = self._router.match(request.method, request.path)
        if matched is None and allowed:
            response = problem(
                405, "method_not_allowed", "Method not allowed", f"{request.path} answers {sorted(allowed)}"
            )
            response.headers["Allow"] = ", ".join(sorted(allowed))
            return response
        if matched is None:
            return problem(404, "not_found", "Not found", "No such route")
        claims = None
        if not matched.route.public:
            try:
                claims = tokens.verify(request.headers.get("Authorization"))
            except tokens.TokenError as error:
                return problem(401, "unauthorized", "Authentication required", str(error))
        event = events.http_event(_http_request(request), matched.route, matched.path_parameters, claims)
        result = self._functions.invoke(matched.route.function, event)
        response = lambda_result_response(result)
        response.headers.setdefault("apigw-requestid", event["requestContext"]["requestId"])
        return response

    # ------------------------------------------------------------ /_local/

    def _dispatch_local(self, request: Request) -> Response:
        handler = self._local.get((request.method, request.path))
        if handler is not None:
            return handler(request)
        if request.path.startswith("/_local/schedules/"):
            if request.method != "POST":
                return problem(405, "method_not_allowed", "Method not allowed", "Schedules are run with POST")
            return self._run_schedule(request, request.path.removeprefix("/_local/schedules/"))
        known = {path for _, path in self._local}
        if request.path in known:
            return problem(405, "method_not_allowed", "Method not allowed", f"{request.path} answers another method")
        return problem(404, "not_found", "Not found", "No such route")

    def _mint_token(self, request: Request) -> Response:
        body = _json_body(request, required=True)
        sub, account_id, role = body.get("sub"), body.get("account_id"), body.get("role")
        if not isinstance(sub, str) or not sub:
            raise invalid("sub", "a non-empty string is required")
        if account_id is not None and (not isinstance(account_id, str) or not account_id):
            raise invalid("account_id", "a non-empty string, or null for staff")
        if role not in ROLES:
            raise invalid("role", f"one of {', '.join(ROLES)}")
        return json_response({"token": tokens.mint(sub, account_id, role)})

    def _set_clock(self, request: Request) -> Response:
        body = _json_body(request, required=True)
        if "now" not in body:
            raise invalid("now", 'required: an ISO 8601 instant ("…Z") or null')
        value = body["now"]
        if value is None:
            clock.set_now(None)
        elif isinstance(value, str):
            try:
                clock.set_now(clock.parse_iso(value))
            except ValueError as error:
                raise invalid("now", str(error)) from error
        else:
            raise invalid("now", 'an ISO 8601 instant ("…Z") or null')
        return json_response({"now": clock.to_iso(clock.now())})

    def _set_vies(self, request: Request) -> Response:
        """Switch the VIES stand-in on or off: off, it does not answer, as VIES when a member
        state's register is down (R-PAY-14: invoices then charge the customer's country's VAT)."""
        body = _json_body(request, required=True)
        available = body.get("available")
        if not isinstance(available, bool):
            raise invalid("available", "true or false")
        # Imported here: the layer's billing modules need the functions' environment set first.
        from lifecycle.billing import vies

        vies.set_local_available(available)
        return json_response({"available": vies.local_available()})

    def _identity(self, _: Request) -> Response:
        if self.identity is None:
            return problem(404, "not_found", "Not found", "No local identity provider runs in this process")
        return json_response(self.identity.as_json())

    def _outbox(self, _: Request) -> Response:
        # Notices are sent by the notifier from the Notifications stream: answer once every
        # consumer has delivered what was committed before this request (at most OUTBOX_WAIT_SECONDS).
        if self.stream_consumers is not None and not self.stream_consumers.wait_caught_up(OUTBOX_WAIT_SECONDS):
            log.warning("the outbox answers before the stream consumers caught up (%s s)", OUTBOX_WAIT_SECONDS)
        # API.md: oldest first. The file is in sending order, which differs when the clock was
        # set back or a notice was retried later (the sort is stable for equal times).
        items = sorted(read_outbox(self.outbox_path), key=lambda item: str(item.get("created_at") or ""))
        return json_response({"items": items})

    def _run_schedule(self, request: Request, name: str) -> Response:
        schedule = self._schedules.get(name)
        if schedule is None:
            return problem(
                404, "not_found", "Not found", f"No schedule {name!r}; known: {', '.join(sorted(self._schedules))}"
            )
        body = _json_body(request, required=False)
        if "dry_run" in body and not isinstance(body["dry_run"], bool):
            raise invalid("dry_run", "true or false")
        detail: dict[str, Any] = {key: body[key] for key in ("dry_run", "next") if key in body}
        return json_response(self.run_schedule(schedule, detail))

    def run_schedule(self, schedule: Schedule, detail: dict[str, Any] | None = None) -> Any:
        """Invoke ``schedule``'s function with a Scheduled Event; used by the route and the scheduler."""
        event = events.scheduled_event(schedule, self._resolver.stack_name, detail)
        return self._functions.invoke(schedule.function, event)


def read_outbox(path: Path) -> list[dict[str, Any]]:
    """The notifications the local email sender appended, in sending order (file order)."""
    if not path.is_file():
        return []
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except ValueError:
            # Most likely a line still being written; the next read will have it whole.
            log.warning("%s line %d is not JSON; skipped", path, number)
    return items


def serve(app: LocalApi, host: str, port: int) -> BaseWSGIServer:
    """A bound, threaded werkzeug server (call ``serve_forever``); werkzeug's own access log is off.

    When the port is taken, werkzeug says so and exits (SystemExit), which still unwinds
    the caller's cleanup.
    """
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    return make_server(host, port, app, threaded=True)
