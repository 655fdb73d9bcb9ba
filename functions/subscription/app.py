"""Subscription changes and their preview: plan, seats, billing period (R-PAY-5..8)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from lifecycle.core import clock
from lifecycle.core.auth import allowed
from lifecycle.core.settings import get_settings
from lifecycle.entry.http import create_app, current_principal, lambda_handler_for, problem_responses
from lifecycle.subscriptions import subscription_changes

app = create_app()

CHANGE_ERRORS = problem_responses(
    s401="unauthorized",
    s402="payment_declined, authentication_required (with `next_action_url`)",
    s503="payment_processing, service_unavailable",
    s403="forbidden",
    s404="not_found",
    s409="downgrade_needs_confirmation (with `losses`), payment_method_required, billing_details_required, conflict",
    s422="validation_error",
)


@app.put(
    "/accounts/<id>/subscription",
    summary="Change the plan, seats or billing period (owner)",
    description=(
        "Fields left out keep the values of the next period. An upgrade (higher plan, more seats, higher "
        "amount) applies now: on an annual period the difference is charged at once for the seconds left, "
        "rounded half-up to the cent, and `invoice` is the invoice issued for it (R-PAY-5); on monthly "
        "billing nothing is charged now and the new price applies from the next monthly invoice (R-PAY-6). "
        "A downgrade, and a billing-period change, take effect at the next period (`subscription.pending`); "
        "a downgrade (and annual to monthly) answers 409 `downgrade_needs_confirmation` listing `losses` "
        "until `confirm_downgrade` is true (R-PAY-8). Nothing is ever refunded or credited (R-PAY-7). "
        "During the trial every change applies at once and the first charge uses it. A declined charge is "
        "402 and changes nothing."
    ),
    tags=["billing"],
    security=allowed("owner"),
    responses={200: {"description": "`{subscription, proration, invoice}`"}, **CHANGE_ERRORS},
)
def put_subscription(
    id: Annotated[str, Path(max_length=64)],
    form: Annotated[subscription_changes.SubscriptionChange, Body()],
) -> subscription_changes.ChangeView:
    return subscription_changes.put_for(current_principal(app), id, form, clock.now(), get_settings())


@app.post(
    "/accounts/<id>/subscription/preview",
    summary="Preview a subscription change (owner)",
    description=(
        "The same body and decision as `PUT …/subscription`, with nothing saved and nothing charged: "
        "`amount_due_now` and `due_now` (the invoice the change would issue at once, with its period, seconds, "
        "unit price and rule), `next_invoice` (the next period at the new values), `needs_confirmation` and "
        "the `losses` a downgrade would list."
    ),
    tags=["billing"],
    security=allowed("owner"),
    responses={
        200: {"description": "`{subscription, proration, invoice: null, amount_due_now, due_now, next_invoice, …}`"},
        **problem_responses(s401="unauthorized", s403="forbidden", s404="not_found", s409="conflict"),
    },
)
def preview_subscription(
    id: Annotated[str, Path(max_length=64)],
    form: Annotated[subscription_changes.SubscriptionChange, Body()],
) -> subscription_changes.PreviewView:
    return subscription_changes.preview_for(current_principal(app), id, form, clock.now(), get_settings())


lambda_handler = lambda_handler_for(app)
