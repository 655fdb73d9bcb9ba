"""Shared logins (R-USE-1, R-USE-2): the owner's evidence and fees; staff waive a period's fee."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from lifecycle.core import clock
from lifecycle.core.auth import allowed, require_staff
from lifecycle.entry.http import create_app, current_principal, lambda_handler_for, problem_responses
from lifecycle.usage import shared_logins

app = create_app()


@app.get(
    "/accounts/<id>/shared-logins",
    summary="Shared-login detections with their evidence, and the periods' fees",
    description=(
        "R-USE-1: a login is shared when more devices than one person uses are active within the same "
        "window on enough days of a billing period (settings; default more than 2 devices within 15 "
        "minutes, on 3 days). Networks are shown as IP prefixes, never full addresses. R-USE-2: the "
        "period's fee, pending until invoiced, or waived by staff."
    ),
    tags=["accounts"],
    security=allowed("owner", "staff"),
    responses={
        200: {"description": "`{fees: [...], detections: [...]}`, newest period first"},
        **problem_responses(s401="unauthorized", s403="forbidden", s404="not_found"),
    },
)
def list_shared_logins(id: Annotated[str, Path(max_length=64)]) -> shared_logins.SharedLogins:
    return shared_logins.read_for(current_principal(app), id, clock.now())


@app.post(
    "/admin/accounts/<id>/shared-logins/<period>/waive",
    summary="Waive a period's shared-login fee",
    description="R-USE-2: the fee becomes `waived`, audited with the reason; waiving it again changes nothing.",
    tags=["staff"],
    security=allowed("staff"),
    responses={
        200: {"description": "the fee, waived"},
        **problem_responses(s401="unauthorized", s403="forbidden", s404="not_found", s409="conflict"),
    },
)
def waive_fee(
    id: Annotated[str, Path(max_length=64)],
    period: Annotated[str, Path(pattern=shared_logins.PERIOD_PATTERN, description="the period's first day")],
    form: Annotated[shared_logins.WaiveInput, Body()],
) -> shared_logins.FeeView:
    staff = current_principal(app)
    require_staff(staff)
    return shared_logins.waive(id, period, form, staff.user_id, clock.now())


lambda_handler = lambda_handler_for(app)
