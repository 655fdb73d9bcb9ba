"""Staff's data subject request workflow (R-GDPR-10): list, read, verify, complete, reject.

Completing runs the request type's action (R-GDPR-3..9: export, rectification, erasure,
restriction, objection, withdrawal of consent); its own errors are the answer when it fails.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from lifecycle.core import clock
from lifecycle.core.auth import allowed, require_staff
from lifecycle.core.settings import get_settings
from lifecycle.entry.http import create_app, current_principal, lambda_handler_for, problem_responses
from lifecycle.privacy.privacy import RequestStatus
from lifecycle.requests import privacy_requests
from lifecycle.requests.privacy_requests import (
    CompleteInput,
    RejectInput,
    StaffRequestList,
    StaffRequestView,
    VerifyInput,
)

app = create_app()

STAFF_ONLY = {"s401": "unauthorized", "s403": "forbidden"}
RequestPath = Annotated[str, Path(max_length=64)]
STEP_ERRORS = {**STAFF_ONLY, "s404": "not_found", "s503": "service_unavailable"}
# The actions' own errors (lifecycle.requests.exports, rectification, erasure, consents) pass through.
COMPLETE_ERRORS = {
    **STEP_ERRORS,
    "s409": "request_not_verified, request_closed, request_in_progress, owns_live_account, conflict",
    "s410": "export_unavailable",
    "s422": "validation_error, invalid_field",
}


def _staff_id() -> str:
    staff = current_principal(app)
    require_staff(staff)
    return staff.user_id


@app.get(
    "/admin/privacy/requests",
    summary="Data subject requests, oldest first (at most 200)",
    description="R-GDPR-10: by default every open request (received, verified, in progress).",
    tags=["staff"],
    security=allowed("staff"),
    responses={200: {"description": "`{items: [request]}`"}, **problem_responses(**STAFF_ONLY)},
)
def list_requests(status: Annotated[RequestStatus | None, Query()] = None) -> StaffRequestList:
    _staff_id()
    return privacy_requests.list_requests(status, clock.now())


@app.get(
    "/admin/privacy/requests/<request_id>",
    summary="A data subject request with its audit trail",
    tags=["staff"],
    security=allowed("staff"),
    responses={
        200: {"description": "the request, its `history` and whether it is `overdue`"},
        **problem_responses(**STAFF_ONLY, s404="not_found"),
    },
)
def read_request(request_id: RequestPath) -> StaffRequestView:
    _staff_id()
    return privacy_requests.read(request_id, clock.now())


@app.post(
    "/admin/privacy/requests/<request_id>/verify",
    summary="Record that staff verified the subject's identity by other means",
    description="R-GDPR-10: received → verified; `note` says how. A verified request answers the same again.",
    tags=["staff"],
    security=allowed("staff"),
    responses={
        200: {"description": "the request, `verified`"},
        **problem_responses(**STEP_ERRORS, s409="request_closed"),
    },
)
def verify_request(request_id: RequestPath, form: Annotated[VerifyInput, Body()]) -> StaffRequestView:
    staff_id = _staff_id()
    return privacy_requests.staff_verify(request_id, form, staff_id, clock.now(), get_settings())


@app.post(
    "/admin/privacy/requests/<request_id>/complete",
    summary="Carry out a verified data subject request",
    description=(
        "R-GDPR-10: verified → in progress → completed with the action's `result`; the subject is told. "
        "Optional `corrections` (rectification) and `purposes` (objection, withdrawal) replace the subject's. "
        "A failed action leaves the request in progress (its code in `history`); completing again retries it."
    ),
    tags=["staff"],
    security=allowed("staff"),
    responses={200: {"description": "the request, `completed`"}, **problem_responses(**COMPLETE_ERRORS)},
)
def complete_request(request_id: RequestPath, form: Annotated[CompleteInput | None, Body()] = None) -> StaffRequestView:
    staff_id = _staff_id()
    remaining_ms = app.lambda_context.get_remaining_time_in_millis
    given = form or CompleteInput()
    return privacy_requests.complete(request_id, given, staff_id, clock.now(), get_settings(), remaining_ms)


@app.post(
    "/admin/privacy/requests/<request_id>/reject",
    summary="Reject a data subject request with a reason",
    description="R-GDPR-10: any open request; the subject is told the reason.",
    tags=["staff"],
    security=allowed("staff"),
    responses={
        200: {"description": "the request, `rejected`"},
        **problem_responses(**STEP_ERRORS, s409="request_closed, request_in_progress"),
    },
)
def reject_request(request_id: RequestPath, form: Annotated[RejectInput, Body()]) -> StaffRequestView:
    staff_id = _staff_id()
    return privacy_requests.reject(request_id, form, staff_id, clock.now(), get_settings())


lambda_handler = lambda_handler_for(app)
