"""Logins and uses of the help desk (API.md "Activity"); continued use accepts new terms (R-TERMS-3)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from lifecycle.core import clock
from lifecycle.core.auth import allowed
from lifecycle.core.settings import get_settings
from lifecycle.entry.http import create_app, current_principal, lambda_handler_for, problem_responses, source
from lifecycle.usage import activity

app = create_app()


@app.post(
    "/accounts/<id>/sessions",
    summary="Record a login or use of the help desk by the caller",
    description=(
        "The caller's own activity (any member role). The account's first activity after a terms "
        "version is published accepts that version by continued use (R-TERMS-3)."
    ),
    tags=["accounts"],
    security=allowed("owner", "admin", "agent"),
    responses={
        201: {"description": "the activity recorded, with the terms version the account has accepted"},
        **problem_responses(s401="unauthorized", s403="account_blocked, forbidden", s404="not_found"),
    },
)
def record_session(
    id: Annotated[str, Path(max_length=64)],
    form: Annotated[activity.SessionInput, Body()],
) -> tuple[activity.ActivityView, int]:
    ip, user_agent = source(app)
    settings = get_settings()
    return activity.record(id, current_principal(app), form.device_id, ip, user_agent, clock.now(), settings), 201


lambda_handler = lambda_handler_for(app)
