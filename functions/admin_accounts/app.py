"""Staff suspend, reinstate and terminate accounts (R-TERM-4, R-TERM-5, R-REG-4)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from lifecycle.core import clock
from lifecycle.core.auth import allowed, require_staff
from lifecycle.core.settings import get_settings
from lifecycle.ending import staff_actions
from lifecycle.ending.staff_actions import ReinstateInput, StaffActionInput, StaffActionView
from lifecycle.entry.http import create_app, current_principal, lambda_handler_for, problem_responses

app = create_app()

AccountPath = Annotated[str, Path(max_length=64)]
STAFF_ERRORS = {"s401": "unauthorized", "s403": "forbidden", "s404": "not_found", "s409": "conflict"}


@app.post(
    "/admin/accounts/<id>/suspend",
    summary="Suspend an account, warning its owner first",
    description=(
        "R-TERM-4: the owner's `suspension_warning` (the reason in plain words, never `details`) is "
        "recorded with the suspension, just before it; no warning when fraud is suspected. R-TERM-5: "
        "`details` and `evidence` are kept for staff only; `fraud` and `abuse` need evidence. 409 when the "
        "account is suspended already or has ended."
    ),
    tags=["staff"],
    security=allowed("staff"),
    responses={200: {"description": "the account, `suspended`"}, **problem_responses(**STAFF_ERRORS)},
)
def suspend(id: AccountPath, form: Annotated[StaffActionInput, Body()]) -> StaffActionView:
    staff = current_principal(app)
    require_staff(staff)
    return staff_actions.suspend(id, form, staff.user_id, clock.now(), get_settings())


@app.post(
    "/admin/accounts/<id>/reinstate",
    summary="Lift a staff suspension",
    description=(
        "R-TERM-4: back to the status before the suspension, with its access; the owner is told "
        "(`account_reinstated`). 409 when the account is not suspended by staff."
    ),
    tags=["staff"],
    security=allowed("staff"),
    responses={200: {"description": "the account, as before the suspension"}, **problem_responses(**STAFF_ERRORS)},
)
def reinstate(id: AccountPath, form: Annotated[ReinstateInput, Body()]) -> StaffActionView:
    staff = current_principal(app)
    require_staff(staff)
    return staff_actions.reinstate(id, form, staff.user_id, clock.now(), get_settings())


@app.post(
    "/admin/accounts/<id>/terminate",
    summary="Terminate an account, warning its owner first",
    description=(
        "R-TERM-4, R-REG-4: from any status that has not ended; the owner's `termination_warning` is "
        "recorded with the termination, just before it, unless fraud is suspected. Access ends, charges "
        "stop and the account is queued for the purge (R-TERM-3). R-TERM-5 as for suspend. 409 when the "
        "account is terminated or cancelled already."
    ),
    tags=["staff"],
    security=allowed("staff"),
    responses={200: {"description": "the account, `terminated`"}, **problem_responses(**STAFF_ERRORS)},
)
def terminate(id: AccountPath, form: Annotated[StaffActionInput, Body()]) -> StaffActionView:
    staff = current_principal(app)
    require_staff(staff)
    return staff_actions.terminate(id, form, staff.user_id, clock.now(), get_settings())


lambda_handler = lambda_handler_for(app)
