"""Staff routes for voucher campaigns (API.md "Staff")."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from lifecycle import campaigns, clock
from lifecycle.auth import require_staff
from lifecycle.http import create_app, current_principal, lambda_handler_for, problem_responses

app = create_app()

STAFF_ONLY = {"s401": "unauthorized", "s403": "forbidden"}


@app.post(
    "/admin/campaigns",
    summary="Create a voucher campaign",
    tags=["staff"],
    responses={201: {"description": "the campaign"}, **problem_responses(s409="campaign_exists", **STAFF_ONLY)},
)
def create_campaign(
    data: Annotated[campaigns.CampaignInput, Body()],
) -> tuple[campaigns.CampaignView, int]:
    staff = current_principal(app)
    require_staff(staff)
    return campaigns.create_campaign(data, created_by=staff.user_id, now=clock.now()), 201


@app.get(
    "/admin/campaigns/<id>",
    summary="A campaign with its code counts",
    tags=["staff"],
    responses={200: {"description": "the campaign"}, **problem_responses(s404="not_found", **STAFF_ONLY)},
)
def get_campaign(id: Annotated[str, Path(max_length=64)]) -> campaigns.CampaignView:
    require_staff(current_principal(app))
    return campaigns.get_campaign(id)


lambda_handler = lambda_handler_for(app)
