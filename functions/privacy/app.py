"""Data subjects' public routes: requests and their verification (R-GDPR-10), export downloads
(R-GDPR-3, R-GDPR-7) and the one-click unsubscribe (R-GDPR-9). No token: a signed link's
token, or nothing but an email address, is all a data subject has."""

from __future__ import annotations

import json
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.utilities.typing import LambdaContext

from lifecycle.core import clock, errors
from lifecycle.core.auth import PUBLIC
from lifecycle.core.settings import get_settings
from lifecycle.entry import forms
from lifecycle.entry.http import create_app, lambda_handler_for, problem_responses, source
from lifecycle.privacy import consents
from lifecycle.requests import exports, privacy_requests
from lifecycle.requests.privacy_requests import RequestInput, SubjectRequestView, TokenInput

app = create_app()

# Ids are ours ("dsr_<hex>"); the pattern also keeps the download's file name header clean.
RequestPath = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
TokenQuery = Annotated[str | None, Query(max_length=2048, description="the signed link's token")]
TokenBody = Annotated[TokenInput | None, Body(description='or `{"token"}` instead of the query')]
UNSUBSCRIBE = "POST /privacy/unsubscribe"
DOWNLOAD = "GET /privacy/exports/{request_id}"


def _token(query: str | None, body: TokenInput | None) -> str:
    """The link's token from the query (as the link carries it) or the JSON body."""
    token = query or (body.token if body is not None else None)
    if not token:
        raise errors.InvalidToken("The link's token is missing")
    return token


@app.post(
    "/privacy/requests",
    summary="Make a data subject request",
    description=(
        "R-GDPR-10: access, rectification, erasure, restriction, portability, objection or withdrawal of "
        "consent. Answered within 30 days (`due_at`); the address is sent a link that verifies the request. "
        "Any address is accepted alike."
    ),
    tags=["public"],
    security=PUBLIC,
    responses={
        202: {"description": "the request, `received`, with `due_at`"},
        **problem_responses(s429="rate_limited", s503="service_unavailable"),
    },
)
def create_request(form: Annotated[RequestInput, Body()]) -> tuple[SubjectRequestView, int]:
    ip, _ = source(app)
    return privacy_requests.receive(form, ip, clock.now(), get_settings()), 202


@app.post(
    "/privacy/requests/<request_id>/verification",
    summary="Verify a data subject request with the emailed link's token",
    description="R-GDPR-10: received → verified; a verified request answers the same again.",
    tags=["public"],
    security=PUBLIC,
    responses={
        200: {"description": "the request, `verified`"},
        # 404: a request id of characters no id has matches no route (Powertools' not_found).
        **problem_responses(s400="invalid_token", s404="not_found", s409="request_closed", s503="service_unavailable"),
    },
)
def verify_request(request_id: RequestPath, token: TokenQuery = None, form: TokenBody = None) -> SubjectRequestView:
    return privacy_requests.verify_by_link(request_id, _token(token, form), clock.now(), get_settings())


@app.post(
    "/privacy/unsubscribe",
    summary="One-click unsubscribe from marketing emails",
    description=(
        "R-GDPR-9, RFC 8058: the signed token in the query; mail clients POST `List-Unsubscribe=One-Click` "
        "as `multipart/form-data` or `application/x-www-form-urlencoded`, both accepted here (a `token` field "
        "in the form is read too). A JSON body `{token}` is accepted too."
    ),
    tags=["public"],
    security=PUBLIC,
    responses={204: {"description": "unsubscribed"}, **problem_responses(s400="invalid_token")},
)
def unsubscribe(token: TokenQuery = None, form: TokenBody = None) -> Response[None]:
    consents.unsubscribe(_token(token, form), clock.now(), get_settings())
    return Response(status_code=204)


@app.get(
    "/privacy/exports/<request_id>",
    summary="Download an access or portability export, once",
    description="R-GDPR-3, R-GDPR-7: the emailed link; it works once and expires.",
    tags=["public"],
    security=PUBLIC,
    responses={
        200: {"description": "the export, a JSON document, as an attachment", "content": {"application/json": {}}},
        **problem_responses(s400="invalid_token", s404="not_found", s410="export_unavailable"),
    },
)
def download_export(request_id: RequestPath, token: TokenQuery = None) -> Response[str]:
    document = exports.download(request_id, _token(token, None), clock.now(), get_settings())
    return Response(
        status_code=200,
        content_type="application/json",
        body=document.decode("utf-8"),
        headers={
            "Content-Disposition": f'attachment; filename="export-{request_id}.json"',
            # The subject's data: no cache, shared or private, keeps a copy.
            "Cache-Control": "no-store",
        },
    )


def _headers(event: dict[str, Any]) -> dict[str, str]:
    return {str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()}


def _one_click(event: dict[str, Any]) -> dict[str, Any]:
    """RFC 8058: a mail client's one-click unsubscribe is a form POST (``List-Unsubscribe=One-Click``),
    ``multipart/form-data`` or urlencoded, with the token in the query. The service otherwise takes
    JSON only (415), so this one route's form is read here: its ``token`` field, if any, becomes the
    JSON body; the rest says nothing, and so does a body that cannot be read (the token decides:
    without one, 400 ``invalid_token``)."""
    headers = _headers(event)
    if event.get("routeKey") != UNSUBSCRIBE or forms.media_type(headers) not in forms.FORM_TYPES:
        return event
    token = forms.fields(forms.body_bytes(event), headers["content-type"]).get("token")
    headers["content-type"] = "application/json"
    body = json.dumps({"token": token}) if token else None
    return {**event, "headers": headers, "body": body, "isBase64Encoded": False}


def _not_remembered(event: dict[str, Any]) -> dict[str, Any]:
    """An export is fetched once and its bytes are personal data: an ``Idempotency-Key`` on the
    download would keep them in the idempotency store and answer them again, so it is ignored."""
    if event.get("routeKey") != DOWNLOAD:
        return event
    headers = {name: value for name, value in (event.get("headers") or {}).items() if name.lower() != "idempotency-key"}
    return {**event, "headers": headers}


_handler = lambda_handler_for(app)


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _handler(_not_remembered(_one_click(event)), context)
