"""The notices sent to an account, for its owner (API.md ``GET /accounts/{id}/notifications``)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path

from lifecycle import notifications
from lifecycle.core import clock
from lifecycle.core.auth import allowed
from lifecycle.entry.http import create_app, current_principal, lambda_handler_for, problem_responses
from lifecycle.notifications import NotificationList

app = create_app()


@app.get(
    "/accounts/<id>/notifications",
    summary="The notices sent to the account, newest first (at most 200)",
    tags=["accounts"],
    security=allowed("owner", "staff"),
    responses={
        200: {"description": "`{items: [Notification]}`"},
        **problem_responses(s401="unauthorized", s403="forbidden", s404="not_found"),
    },
)
def list_notifications(id: Annotated[str, Path(max_length=64)]) -> NotificationList:
    return notifications.read_for(current_principal(app), id, clock.now())


lambda_handler = lambda_handler_for(app)
