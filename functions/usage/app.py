"""Fair usage (R-FAIR-1, R-FAIR-2) and enterprise-offer flags (R-PAY-10): the owner's view of
a month's usage, the help desk's usage reports, staff's per-account limits and flag lists."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from lifecycle.core import clock
from lifecycle.core.auth import allowed, require_staff
from lifecycle.core.settings import get_settings
from lifecycle.entry.http import create_app, current_principal, lambda_handler_for, problem_responses
from lifecycle.usage import usage

app = create_app()

STAFF_ONLY = {"s401": "unauthorized", "s403": "forbidden"}
AccountPath = Annotated[str, Path(max_length=64)]
PeriodQuery = Annotated[str | None, Query(pattern=usage.PERIOD_PATTERN, description="YYYY-MM; the current month")]


@app.get(
    "/accounts/<id>/usage",
    summary="A month's usage and the limits that apply to it",
    description=(
        "R-FAIR-1: the limits in force (staff's for this account, else the plan's) beside the month's "
        "usage; R-FAIR-2: `flagged_at` is when the month's crossing was flagged and the owner notified."
    ),
    tags=["accounts"],
    security=allowed("owner", "staff"),
    responses={
        200: {"description": "the month's usage"},
        **problem_responses(s401="unauthorized", s403="forbidden", s404="not_found"),
    },
)
def get_usage(id: AccountPath, period: PeriodQuery = None) -> usage.UsageView:
    return usage.read_for(current_principal(app), id, period, clock.now(), get_settings())


@app.put(
    "/admin/accounts/<id>/usage-limits",
    summary="Set an account's own usage limits",
    description=(
        "R-FAIR-1: staff change an account's limits without notice; null returns a limit to the plan's. "
        "The next usage report is checked against them."
    ),
    tags=["staff"],
    security=allowed("staff"),
    responses={200: {"description": "the current month's usage"}, **problem_responses(s404="not_found", **STAFF_ONLY)},
)
def set_usage_limits(id: AccountPath, form: Annotated[usage.LimitOverrides, Body()]) -> usage.UsageView:
    staff = current_principal(app)
    require_staff(staff)
    return usage.set_limits(id, form, staff.user_id, clock.now(), get_settings())


@app.post(
    "/admin/accounts/<id>/usage",
    summary="Report an account's usage (the help desk's service route)",
    description=(
        "Tickets and queries since the last report are added to the calendar month; storage and end users "
        "are the levels now. Crossing a limit flags the month and notifies the owner, once a month "
        "(R-FAIR-2); many end users or many queries per agent flag it for an enterprise offer, once a "
        "month (R-PAY-10)."
    ),
    tags=["staff"],
    security=allowed("staff"),
    responses={
        200: {"description": "the month after the report, with the flags it raised"},
        **problem_responses(s404="not_found", **STAFF_ONLY),
    },
)
def report_usage(id: AccountPath, form: Annotated[usage.UsageReport, Body()]) -> usage.ReportView:
    require_staff(current_principal(app))
    return usage.report(id, form, clock.now(), get_settings())


@app.get(
    "/admin/usage-flags",
    summary="Accounts flagged in a month, oldest flag first (at most 200)",
    description=(
        "`kind=usage`: usage above the limits (R-FAIR-2); `kind=enterprise`: candidates for an "
        "enterprise offer (R-PAY-10)."
    ),
    tags=["staff"],
    security=allowed("staff"),
    responses={200: {"description": "`{items: [flag]}`"}, **problem_responses(**STAFF_ONLY)},
)
def list_usage_flags(kind: Annotated[usage.FlagKind, Query()] = "usage", period: PeriodQuery = None) -> usage.FlagList:
    require_staff(current_principal(app))
    return usage.list_flags(kind, period or usage.period_of(clock.now()))


lambda_handler = lambda_handler_for(app)
