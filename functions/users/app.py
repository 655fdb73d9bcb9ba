"""An account's users and the seats they hold (R-USE-3, R-VOUCH-5..7)."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from lifecycle.accounts import accounts
from lifecycle.core import clock
from lifecycle.core.auth import allowed
from lifecycle.core.observability import MetricUnit, metrics
from lifecycle.entry.http import create_app, current_principal, lambda_handler_for, problem_responses
from lifecycle.subscriptions import users

app = create_app()


@app.post(
    "/accounts/<id>/users",
    summary="Add a user (owner, admin)",
    description=(
        "Up to the plan's seat limit (R-USE-3). Users beyond the included seats are extra seats: "
        "`billable` is true, a seat interval opens and the owner is warned (R-VOUCH-6, R-VOUCH-7)."
    ),
    tags=["accounts"],
    security=allowed("owner", "admin"),
    responses={
        201: {"description": "the user, with `billable`"},
        **problem_responses(
            s401="unauthorized",
            s403="account_blocked, forbidden",
            s404="not_found",
            s409="seat_limit_reached, user_exists",
        ),
    },
)
def add_user(
    id: Annotated[str, Path(max_length=64)],
    form: Annotated[users.NewUser, Body()],
) -> tuple[users.UserView, int]:
    caller = current_principal(app)
    users.require_manager(caller, id)
    added = users.add_user(accounts.load(id), caller, form, clock.now())
    if added.billable:
        metrics.add_metric(name="ExtraSeatsAdded", unit=MetricUnit.Count, value=1)
    return added, 201


@app.get(
    "/accounts/<id>/users",
    summary="The account's users, the owner first, then oldest first",
    description="Any member; support staff reads are recorded in the audit log (R-USE-4).",
    tags=["accounts"],
    security=allowed("owner", "admin", "agent", "staff"),
    responses={
        200: {"description": "`{items: [User]}`"},
        **problem_responses(s401="unauthorized", s404="not_found"),
    },
)
def list_users(id: Annotated[str, Path(max_length=64)]) -> users.UserList:
    return users.list_for(current_principal(app), id, clock.now())


@app.delete(
    "/accounts/<id>/users/<user_id>",
    summary="Remove a user (owner, admin); ends its seat billing",
    tags=["accounts"],
    security=allowed("owner", "admin"),
    responses={
        204: {"description": "removed; its seat interval, if any, is closed"},
        **problem_responses(s401="unauthorized", s403="forbidden", s404="not_found", s409="cannot_remove_owner"),
    },
)
def remove_user(
    id: Annotated[str, Path(max_length=64)],
    user_id: Annotated[str, Path(max_length=64)],
) -> Response[None]:
    caller = current_principal(app)
    users.require_manager(caller, id)
    users.remove_user(accounts.load(id), caller, user_id, clock.now())
    return Response(status_code=204)


lambda_handler = lambda_handler_for(app)
