"""The HTTP side every API function shares: resolver, problem+json, idempotency, entry point.

One place maps domain errors to RFC 9457 problem documents with the stable ``code``s
of API.md; routes never catch exceptions themselves.
"""

from __future__ import annotations

import binascii
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
    _get_multi_value_query_params,
    _normalize_multi_params,
    _request_body_to_args,
    _request_params_to_args,
)
from aws_lambda_powertools.event_handler.openapi.compat import _normalize_errors
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from lifecycle.core import errors
from lifecycle.core.auth import Principal, principal_from_claims
from lifecycle.core.observability import log_metrics, logger, traced
from lifecycle.core.settings import get_settings
from lifecycle.storage.transactions import is_transient

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:helpdesk:problem:"

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem document; ``code`` is the stable code of API.md."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldError] | None = Field(default=None, description="only for validation_error")
    next_action_url: str | None = Field(
        default=None,
        description="only for authentication_required: where the card holder authenticates the payment "
        "(null when a schedule charged, without them)",
    )


def problem_responses(**codes_by_status: str) -> dict[int, OpenAPIResponse]:
    """OpenAPI ``responses`` for error statuses, e.g. ``problem_responses(s409="campaign_exists")``.

    Every route also documents 422 ``validation_error``.
    """
    described = {422: "validation_error", **{int(key.removeprefix("s")): v for key, v in codes_by_status.items()}}
    return {
        status: {
            "description": f"`code`: {codes}",
            "content": {PROBLEM_CONTENT_TYPE: {"model": Problem}},
        }
        for status, codes in described.items()
    }


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[str]:
    body = {"type": PROBLEM_TYPE_BASE + code, "title": title, "status": status, "detail": detail, "code": code}
    body.update(extra)
    return Response(
        status_code=status,
        content_type=PROBLEM_CONTENT_TYPE,
        body=json.dumps(body),
        headers=headers or {},
    )


def problem_for(error: errors.DomainError) -> Response[str]:
    return problem(error.status, error.code, error.title, error.detail, error.headers, **error.extra)


def validation_errors(raw: Sequence[Any]) -> list[dict[str, str]]:
    """Powertools' pydantic-style errors as API.md's ``[{"field", "message"}]``."""
    result = []
    for item in raw:
        location = [str(part) for part in item.get("loc", ())]
        # Drop the source prefix ("body", "query", "path") so fields read as the client sent them.
        if location and location[0] in {"body", "query", "path", "header"}:
            location = location[1:]
        result.append({"field": ".".join(location) or "body", "message": str(item.get("msg", "invalid"))})
    return result


def _not_json(event: dict[str, Any]) -> bool:
    """API.md: JSON in and out. A body of another type (a form, say) is refused plainly
    rather than half-parsed; a missing Content-Type is read as JSON, as scripts omit it."""
    if not event.get("body"):
        return False
    content_type = (event.get("headers") or {}).get("content-type") or "application/json"
    return str(content_type).split(";", 1)[0].strip().lower() != "application/json"


class _RequestState(threading.local):
    """One thread's invocation: its event, context, Powertools' route context, and the event
    already wrapped for Powertools (see ``_Resolver._to_proxy_event``)."""

    def __init__(self) -> None:
        self.event: Any = None
        self.context: Any = None
        self.app_context: dict[str, Any] = {}
        self.wrapped: Any = None


class _Resolver(APIGatewayHttpResolver):
    """Powertools keeps the request it resolves on its ``BaseRouter`` class: one per process.

    Lambda runs one invocation per process at a time, but the local runtime and the
    integration tests run concurrent invocations in one process, where one request would
    read another's body. Each invocation runs on one thread, so the request is kept per
    thread here.
    """

    _request = _RequestState()

    @property  # type: ignore[override]
    def current_event(self) -> APIGatewayProxyEventV2:
        event: APIGatewayProxyEventV2 = self._request.event
        return event

    @current_event.setter
    def current_event(self, value: APIGatewayProxyEventV2) -> None:
        self._request.event = value

    @property
    def lambda_context(self) -> LambdaContext:
        context: LambdaContext = self._request.context
        return context

    @lambda_context.setter
    def lambda_context(self, value: LambdaContext) -> None:
        self._request.context = value

    # Powertools keeps the matched route and its arguments in ``context`` while resolving:
    # per thread too, or concurrent requests read each other's route.
    @property
    def context(self) -> dict[str, Any]:
        values: dict[str, Any] = self._request.app_context
        return values

    @context.setter
    def context(self, value: dict[str, Any]) -> None:
        self._request.app_context = value

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        request = self._request
        request.event = request.wrapped = super()._to_proxy_event(dict(event))
        request.context = context
        return super().resolve(event, context)

    def _to_proxy_event(self, event: dict[str, Any]) -> Any:
        """The event ``resolve`` wrapped, once: Powertools' ``resolve`` wraps it again (its
        headers lower-cased into a new dict) only to store it on the class, unread here."""
        wrapped, self._request.wrapped = self._request.wrapped, None
        return wrapped if wrapped is not None else super()._to_proxy_event(event)


class _RequestValidation(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, without its work for the parameters a route does not
    declare: it lower-cases every header into new dicts, parses the query string twice and reads
    the cookies for each request, whether or not the route has a header, query or cookie
    parameter. None of the service's routes reads a header or cookie as a parameter; one that did
    is validated by Powertools' own code. Path, query and body are validated by the same
    Powertools functions, in the same order, with the same errors."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]

    def handler(self, app: Any, next_middleware: Any) -> Any:
        route = app.context["_route"]
        dependant = route.dependant
        if dependant.header_params or dependant.cookie_params:
            return super().handler(app, next_middleware)
        values, errors = _request_params_to_args(dependant.path_params, app.context["_route_args"])
        if dependant.query_params:
            event = app.current_event
            query = _normalize_multi_params(
                event.resolved_query_string_parameters,
                dependant.query_params,
                multi_value_params=_get_multi_value_query_params(event),
            )
            query_values, query_errors = _request_params_to_args(dependant.query_params, query)
            values.update(query_values)
            errors += query_errors
        if dependant.body_params:
            body_values, body_errors = _request_body_to_args(
                required_params=dependant.body_params, received_body=self._get_body(app)
            )
            values.update(body_values)
            errors.extend(body_errors)
        if errors:
            raise RequestValidationError(_normalize_errors(errors))
        app.context["_route_args"] = values
        return next_middleware(app)


def create_app() -> APIGatewayHttpResolver:
    """A resolver with validation on and every error mapped to problem+json."""
    app = _Resolver(enable_validation=True)
    app._request_validation_middleware = _RequestValidation()  # read by each route's middleware stack

    @app.exception_handler(errors.DomainError)
    def _domain_error(error: errors.DomainError) -> Response[str]:
        return problem_for(error)

    @app.exception_handler(RequestValidationError)
    def _invalid_request(error: RequestValidationError) -> Response[str]:
        fields = validation_errors(error.errors())
        return problem(
            422, "validation_error", "The request is not valid", "See errors[] for each field", errors=fields
        )

    @app.exception_handler([UnicodeDecodeError, binascii.Error])
    def _unreadable_body(_: ValueError) -> Response[str]:
        # Powertools decodes the body before validating it; bytes that are not UTF-8 JSON
        # are the client's error, not ours.
        unreadable = [{"field": "body", "message": "the body is not UTF-8 encoded JSON"}]
        return problem(
            422, "validation_error", "The request is not valid", "The body cannot be read", errors=unreadable
        )

    @app.exception_handler(RequestUnsupportedContentType)
    def _unsupported(_: RequestUnsupportedContentType) -> Response[str]:
        return problem_for(errors.UnsupportedMediaType("Send the body as application/json"))

    @app.not_found
    def _no_route(_: Exception) -> Response[str]:
        return problem(404, "not_found", "Not found", "No such route")

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[str]:
        if is_transient(error):
            return problem_for(errors.ServiceUnavailable("The database is busy; retry shortly"))
        logger.exception("unhandled error")
        return problem(500, "internal_error", "Internal error", "The service failed; the request changed nothing")

    return app


def current_principal(app: APIGatewayHttpResolver) -> Principal:
    authorizer = app.current_event.request_context.authorizer
    claims = authorizer.jwt_claim if authorizer is not None else None
    return principal_from_claims(claims)


def source(app: APIGatewayHttpResolver) -> tuple[str, str]:
    """The caller's IP and user agent, as API Gateway saw them."""
    http = app.current_event.request_context.http
    return http.source_ip or "", http.user_agent or ""


class _DoNotRemember(Exception):
    """A 5xx response: the idempotency record is dropped so a retry runs again."""

    def __init__(self, response: dict[str, Any]) -> None:
        super().__init__("server error")
        self.response = response


IDEMPOTENCY_HEADER = "idempotency-key"  # API Gateway's HTTP API hands headers over in lower case
# The key is the client's Idempotency-Key, scoped to the route and the caller so two
# clients choosing the same key never collide; JMESPath ``&&`` makes it null (no
# idempotency) when the header is absent, e.g. for every GET.
IDEMPOTENCY_KEY_PATH = (
    'headers."idempotency-key" && '
    '[headers."idempotency-key", routeKey, rawPath, requestContext.authorizer.jwt.claims.sub]'
)


@lru_cache(maxsize=1)
def _persistence() -> DynamoDBPersistenceLayer:
    import boto3  # already imported by pynamodb; local import keeps the dependency visible

    settings = get_settings()
    client = boto3.client("dynamodb", region_name=settings.region, endpoint_url=settings.dynamodb_endpoint)
    return DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=client)


def _plain_problem(error: errors.DomainError) -> dict[str, Any]:
    response = problem_for(error)
    headers = {"Content-Type": PROBLEM_CONTENT_TYPE, **response.headers}
    return {"statusCode": response.status_code, "headers": headers, "body": response.body}


def lambda_handler_for(app: APIGatewayHttpResolver) -> Handler:
    """The Lambda entry point: Logger (correlation id), Tracer, Metrics, idempotency, resolve."""
    settings = get_settings()
    config = IdempotencyConfig(
        event_key_jmespath=IDEMPOTENCY_KEY_PATH,
        payload_validation_jmespath="body",
        raise_on_no_idempotency_key=False,
        expires_after_seconds=settings.idempotency_ttl_seconds,
    )

    # The answer this thread's invocation gave, once the route finished (see below).
    finished = threading.local()

    def resolve(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        if _not_json(event):
            return _plain_problem(errors.UnsupportedMediaType("Send the body as application/json"))
        response: dict[str, Any] = app.resolve(event, context)
        if response["statusCode"] >= 500:
            raise _DoNotRemember(response)
        finished.response = response
        return response

    def remembered(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        if not (event.get("headers") or {}).get(IDEMPOTENCY_HEADER):
            # No key (every GET, most writes): Powertools would copy the event, search it for the
            # key three times and warn, then call ``resolve`` as here; the store is never touched.
            return resolve(event, context)
        # The store is looked up per invocation (made once per process, like Lambda's cold
        # start): a process that is pointed at other tables (the tests' tiers) uses theirs.
        wrapped: Handler = idempotent(config=config, persistence_store=_persistence())(resolve)
        return wrapped(event, context)

    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        # The correlation id Powertools' ``correlation_paths.API_GATEWAY_HTTP`` names, read
        # directly rather than by a JMESPath search per invocation.
        logger.set_correlation_id((event.get("requestContext") or {}).get("requestId"))
        finished.response = None
        try:
            return remembered(event, context)
        except _DoNotRemember as failed:
            return failed.response
        except IdempotencyValidationError:
            return _plain_problem(errors.IdempotencyKeyReused("This Idempotency-Key was used with another body"))
        except IdempotencyAlreadyInProgressError:
            return _plain_problem(errors.IdempotencyInProgress())
        except IdempotencyPersistenceLayerError:
            done: dict[str, Any] | None = finished.response
            if done is not None:
                # The route finished; only the store's save of its answer failed (throttled).
                # Its answer, not a 503: a 503 invites a retry that would do the work again
                # once the in-progress record expires (a second purchase, say).
                logger.exception("idempotency record of a finished request not saved")
                return done
            logger.exception("idempotency store unavailable")
            return _plain_problem(errors.ServiceUnavailable("The idempotency store is unavailable"))

    entry: Handler = logger.inject_lambda_context(traced(log_metrics(handler)))
    return entry
