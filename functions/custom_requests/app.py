"""Custom development requests (R-CUSTOM-1): owners file them, staff approve (with the agreed
specification and price) or refuse them."""

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from lifecycle.core import clock
from lifecycle.core.auth import allowed, require_staff
from lifecycle.entry.http import create_app, current_principal, lambda_handler_for, problem_responses
from lifecycle.requests import custom_requests
from lifecycle.requests.custom_requests import CustomRequestList, CustomRequestView

app = create_app()

STAFF_ONLY = {"s401": "unauthorized", "s403": "forbidden"}
AccountPath = Annotated[str, Path(max_length=64)]
RequestPath = Annotated[str, Path(max_length=64)]
DECISION_ERRORS = {"s404": "not_found", "s409": "already_decided", **STAFF_ONLY}


@app.post(
    "/accounts/<id>/custom-requests",
    summary="File a custom development request",
    description="R-CUSTOM-1: staff approve or refuse it; the results of custom development belong to the vendor.",
    tags=["accounts"],
    security=allowed("owner"),
    responses={
        201: {"description": "the request, `requested`"},
        **problem_responses(s401="unauthorized", s403="forbidden", s404="not_found"),
    },
)
def file_request(
    id: AccountPath, form: Annotated[custom_requests.CustomRequestInput, Body()]
) -> tuple[CustomRequestView, int]:
    return custom_requests.file(current_principal(app), id, form, clock.now()), 201


@app.get(
    "/accounts/<id>/custom-requests",
    summary="The account's custom development requests, newest first (at most 200)",
    tags=["accounts"],
    security=allowed("owner", "staff"),
    responses={
        200: {"description": "`{items: [request]}`"},
        **problem_responses(s401="unauthorized", s403="forbidden", s404="not_found"),
    },
)
def list_requests(id: AccountPath) -> CustomRequestList:
    return custom_requests.list_for(current_principal(app), id, clock.now())


@app.get(
    "/admin/custom-requests",
    summary="Custom development requests awaiting a decision, oldest first (at most 200)",
    tags=["staff"],
    security=allowed("staff"),
    responses={200: {"description": "`{items: [request]}`"}, **problem_responses(**STAFF_ONLY)},
)
def list_awaiting(status: Annotated[Literal["requested"], Query()] = "requested") -> CustomRequestList:
    require_staff(current_principal(app))
    return custom_requests.awaiting_decision()


@app.post(
    "/admin/custom-requests/<request_id>/approve",
    summary="Approve a custom development request with the agreed specification and price",
    description="R-CUSTOM-1: the price is agreed in advance, in integer cents; the owner is notified.",
    tags=["staff"],
    security=allowed("staff"),
    responses={200: {"description": "the request, `approved`"}, **problem_responses(**DECISION_ERRORS)},
)
def approve_request(
    request_id: RequestPath, form: Annotated[custom_requests.ApproveInput, Body()]
) -> CustomRequestView:
    staff = current_principal(app)
    require_staff(staff)
    return custom_requests.approve(request_id, form, staff.user_id, clock.now())


@app.post(
    "/admin/custom-requests/<request_id>/refuse",
    summary="Refuse a custom development request",
    description="R-CUSTOM-1: the owner is notified with the reason.",
    tags=["staff"],
    security=allowed("staff"),
    responses={200: {"description": "the request, `refused`"}, **problem_responses(**DECISION_ERRORS)},
)
def refuse_request(request_id: RequestPath, form: Annotated[custom_requests.RefuseInput, Body()]) -> CustomRequestView:
    staff = current_principal(app)
    require_staff(staff)
    return custom_requests.refuse(request_id, form, staff.user_id, clock.now())


lambda_handler = lambda_handler_for(app)
