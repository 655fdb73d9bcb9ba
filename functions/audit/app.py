"""The account's audit log for its owner (API.md ``GET /accounts/{id}/audit``, R-USE-4)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path

from lifecycle.accounts import accounts, audit
from lifecycle.accounts.audit import AuditList
from lifecycle.core import clock
from lifecycle.core.auth import allowed, require_member
from lifecycle.entry.http import create_app, current_principal, lambda_handler_for, problem_responses

app = create_app()


@app.get(
    "/accounts/<id>/audit",
    summary="Staff accesses and lifecycle events of the account, newest first (at most 200)",
    description="The owner's; a support staff read of it is itself recorded (R-USE-4).",
    tags=["accounts"],
    security=allowed("owner", "staff"),
    responses={
        200: {"description": "`{items: [{type, actor, at, details}]}`"},
        **problem_responses(s401="unauthorized", s403="forbidden", s404="not_found"),
    },
)
def list_audit(id: Annotated[str, Path(max_length=64)]) -> AuditList:
    caller = current_principal(app)
    require_member(caller, id, roles=("owner",))
    accounts.load(id)  # an account that is gone is 404, and no staff access to it is recorded
    return audit.read_for(caller, id, clock.now())


lambda_handler = lambda_handler_for(app)
