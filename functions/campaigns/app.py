"""Staff routes for voucher campaigns and their codes (API.md "Staff")."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from lifecycle.core import clock
from lifecycle.core.auth import allowed, require_staff
from lifecycle.entry.http import create_app, current_principal, lambda_handler_for, problem_responses
from lifecycle.vouchers import campaigns, vouchers

app = create_app()

STAFF_ONLY = {"s401": "unauthorized", "s403": "forbidden"}
CampaignPath = Annotated[str, Path(max_length=64)]


@app.post(
    "/admin/campaigns",
    summary="Create a voucher campaign",
    tags=["staff"],
    security=allowed("staff"),
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
    description="The default campaign (the Terms' AppSumo deal) always exists: it is made on first use.",
    tags=["staff"],
    security=allowed("staff"),
    responses={200: {"description": "the campaign"}, **problem_responses(s404="not_found", **STAFF_ONLY)},
)
def get_campaign(id: CampaignPath) -> campaigns.CampaignView:
    require_staff(current_principal(app))
    return campaigns.get_campaign(id, now=clock.now())


@app.post(
    "/admin/campaigns/<id>/codes",
    summary="Import codes into a campaign or generate new ones",
    description=(
        f"Either `codes` (at most {vouchers.MAX_CODES_PER_REQUEST}) or `count`. Codes already stored are left "
        "unchanged and counted as `duplicates`. Generated codes are returned this once: only their keyed "
        "hashes are stored."
    ),
    tags=["staff"],
    security=allowed("staff"),
    responses={
        201: {"description": "what was added; `codes` lists the generated codes"},
        **problem_responses(s404="not_found", **STAFF_ONLY),
    },
)
def add_codes(
    id: CampaignPath,
    data: Annotated[vouchers.CodesInput, Body()],
) -> tuple[vouchers.CodesAdded, int]:
    require_staff(current_principal(app))
    return vouchers.add_codes(id, codes=data.codes, count=data.count, now=clock.now()), 201


lambda_handler = lambda_handler_for(app)
