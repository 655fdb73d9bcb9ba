"""Cancellation: the owner's "Stop account" (R-TERM-1), a cancellation asked by email and its
confirmation by staff (R-TERM-2)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path

from lifecycle.core import clock
from lifecycle.core.auth import allowed, require_staff
from lifecycle.ending import cancellation
from lifecycle.ending.cancellation import CancellationRequestView, CancelView
from lifecycle.entry.http import create_app, current_principal, lambda_handler_for, problem_responses

app = create_app()

AccountPath = Annotated[str, Path(max_length=64)]
RequestPath = Annotated[str, Path(max_length=64)]
OWNER_ERRORS = {"s401": "unauthorized", "s403": "forbidden", "s404": "not_found"}
CANCEL_ERRORS = {**OWNER_ERRORS, "s409": "conflict"}


@app.post(
    "/accounts/<id>/cancel",
    summary='"Stop account": cancel the account at once',
    description=(
        "R-TERM-1: access ends at once, nothing is charged any more and the account is queued for deletion; "
        "calling it again answers the same. R-CREDIT-2: with prepaid credit left, `refund` (50% of it, paid "
        "back to the payment method) and `cancellation_fee` (the rest); both null without credit. Nothing "
        "else is refunded (R-PAY-7)."
    ),
    tags=["accounts"],
    security=allowed("owner"),
    responses={200: {"description": "status `cancelled`"}, **problem_responses(**CANCEL_ERRORS)},
)
def cancel(id: AccountPath) -> CancelView:
    return cancellation.stop(current_principal(app), id, clock.now())


@app.post(
    "/accounts/<id>/cancellation-requests",
    summary="Record a cancellation the owner asked for by email",
    description=(
        "R-TERM-2: pending until staff confirm it, due by the end of the next business day of the vendor's "
        "calendar, in its time zone, as UTC."
    ),
    tags=["accounts"],
    security=allowed("owner"),
    responses={202: {"description": "the request, `pending`, with `due_by`"}, **problem_responses(**OWNER_ERRORS)},
)
def request_cancellation(id: AccountPath) -> tuple[CancellationRequestView, int]:
    return cancellation.request(current_principal(app), id, clock.now()), 202


@app.post(
    "/admin/cancellation-requests/<request_id>/confirm",
    summary="Confirm an emailed cancellation: the account is cancelled",
    description="R-TERM-2, R-TERM-1: the account is cancelled as by Stop account; confirming twice is 409.",
    tags=["staff"],
    security=allowed("staff"),
    responses={
        200: {"description": "the request, `confirmed`"},
        **problem_responses(s401="unauthorized", s403="forbidden", s404="not_found", s409="already_confirmed"),
    },
)
def confirm_request(request_id: RequestPath) -> CancellationRequestView:
    staff = current_principal(app)
    require_staff(staff)
    return cancellation.confirm(request_id, staff.user_id, clock.now())


lambda_handler = lambda_handler_for(app)
