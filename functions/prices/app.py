"""Scheduled price changes (R-PAY-9): staff schedule them, every affected owner's notice is
recorded after the answer (PriceFanoutFunction); owners read the changes of their plan that are coming."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from lifecycle.billing import price_changes
from lifecycle.core import clock
from lifecycle.core.auth import allowed
from lifecycle.core.settings import get_settings
from lifecycle.entry.http import create_app, current_principal, lambda_handler_for, problem_responses

app = create_app()

STAFF_ONLY = {"s401": "unauthorized", "s403": "forbidden"}


@app.post(
    "/admin/prices",
    summary="Schedule a plan's new price (staff)",
    description=(
        "R-PAY-9: `plan`, `billing_period` (default `monthly`), `price` per seat and period, and "
        "`effective_at`, at least 30 days from now (`notice_too_short`, checked before anything is saved). "
        "The change is saved and answered at once (`fanout: pending`, `notified_accounts: 0`); every affected "
        "owner (subscriptions and trials of that plan and billing period) then gets a `price_change_notice`, "
        "and `GET /admin/prices` shows `notified_accounts` growing until `fanout: complete`. The price applies "
        "to an owner from the first billing period starting on or after `effective_at` and at least 30 days "
        "after their own notice was sent. One change per plan, billing period and instant."
    ),
    tags=["staff"],
    security=allowed("staff"),
    responses={
        201: {
            "description": (
                "`{id, plan, billing_period, price, previous_price, effective_at, notified_accounts, fanout, "
                "fanout_completed_at}`"
            )
        },
        **problem_responses(s409="conflict", s422="validation_error, notice_too_short", **STAFF_ONLY),
    },
)
def schedule_price(
    form: Annotated[price_changes.PriceChangeInput, Body()],
) -> tuple[price_changes.PriceChangeView, int]:
    return price_changes.schedule(current_principal(app), form, clock.now(), get_settings()), 201


@app.get(
    "/admin/prices",
    summary="Scheduled price changes (staff)",
    description="By plan and billing period, earliest first; past ones included.",
    tags=["staff"],
    security=allowed("staff"),
    responses={200: {"description": "`{items: [...]}`"}, **problem_responses(**STAFF_ONLY)},
)
def list_prices() -> price_changes.PriceChangeList:
    return price_changes.list_all(current_principal(app), get_settings())


@app.get(
    "/accounts/<id>/price-changes",
    summary="Coming price changes of the account's plan",
    description=(
        "R-PAY-9: the changes of the account's plan and billing period that are not in force for it yet, "
        "each with the price before it, this account's own `effective_at` (at least 30 days after its owner's "
        "notice was sent) and `notice_sent_at` (null while unsent). Support staff reads are recorded in the "
        "audit log (R-USE-4)."
    ),
    tags=["billing"],
    security=allowed("owner", "admin", "agent", "staff"),
    responses={
        200: {
            "description": "`{items: [{plan, billing_period, price, previous_price, effective_at, notice_sent_at}]}`"
        },
        **problem_responses(s401="unauthorized", s404="not_found"),
    },
)
def list_price_changes(id: Annotated[str, Path(max_length=64)]) -> price_changes.UpcomingPriceList:
    return price_changes.upcoming_for(current_principal(app), id, clock.now(), get_settings())


lambda_handler = lambda_handler_for(app)
