"""Account reads for its members (API.md ``GET /accounts/{id}``)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path

from lifecycle.accounts import accounts
from lifecycle.accounts.accounts import AccountView
from lifecycle.core import clock
from lifecycle.core.auth import allowed
from lifecycle.entry.http import create_app, current_principal, lambda_handler_for, problem_responses

app = create_app()


@app.get(
    "/accounts/<id>",
    summary="An account: status, plan, seats, trial, voucher, access",
    description="Support staff may read any account; each such read is recorded in its audit log (R-USE-4).",
    tags=["accounts"],
    security=allowed("owner", "admin", "agent", "staff"),
    responses={200: {"description": "the account"}, **problem_responses(s401="unauthorized", s404="not_found")},
)
def get_account(id: Annotated[str, Path(max_length=64)]) -> AccountView:
    return accounts.get_for(current_principal(app), id, clock.now())


lambda_handler = lambda_handler_for(app)
