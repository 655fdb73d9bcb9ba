"""Prepaid credit: its balance and validity, and buying it (R-CREDIT-1); R-CREDIT-2's refund is
the cancellation's."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from lifecycle.billing import credit
from lifecycle.core import clock
from lifecycle.core.auth import allowed
from lifecycle.core.settings import get_settings
from lifecycle.entry.http import create_app, current_principal, lambda_handler_for, problem_responses

app = create_app()

AccountPath = Annotated[str, Path(max_length=64)]


@app.get(
    "/accounts/<id>/credit",
    summary="The prepaid credit: balance and validity (members)",
    description=(
        "R-CREDIT-1: the balance now, the instant it runs out at the current seats (`valid_until`, "
        "null when nothing runs it down), the monthly seat price and the seats it pays for. The credit "
        "runs down by the second at seats x monthly seat price x 12 per 365-day year. Support staff "
        "reads are recorded in the audit log (R-USE-4)."
    ),
    tags=["billing"],
    security=allowed("owner", "admin", "agent", "staff"),
    responses={
        200: {"description": "`{balance, valid_until, seat_price, seats}`"},
        **problem_responses(s401="unauthorized", s404="not_found"),
    },
)
def get_credit(id: AccountPath) -> credit.CreditView:
    return credit.get_for(current_principal(app), id, clock.now(), get_settings())


@app.post(
    "/accounts/<id>/credit",
    summary="Buy prepaid credit with the payment method (owner)",
    description=(
        "R-CREDIT-1: `amount` (Money, in the account's currency) is charged and invoiced at once "
        "(`invoice`, with a receipt, R-PAY-11). The credit lasts 12 months while the seat count stays "
        "the same (12 months' worth at the current seats lasts 365 days); adding or removing seats "
        "shortens or lengthens it in proportion. Leaving early refunds half of what is left (R-CREDIT-2). "
        "A declined charge is 402 and saves nothing."
    ),
    tags=["billing"],
    security=allowed("owner"),
    responses={
        201: {"description": "the credit after the purchase, with `invoice`"},
        **problem_responses(
            s401="unauthorized",
            s402="payment_declined, authentication_required (with `next_action_url`)",
            s503="payment_processing, service_unavailable",
            s403="forbidden",
            s404="not_found",
            s409="billing_details_required, payment_method_required, conflict",
            s422="validation_error",
        ),
    },
)
def buy_credit(
    id: AccountPath, form: Annotated[credit.CreditPurchase, Body()]
) -> tuple[credit.CreditPurchaseView, int]:
    # The Idempotency-Key makes a retry the same purchase even after the idempotency store lost it.
    key = app.current_event.headers.get("idempotency-key")
    return credit.buy(current_principal(app), id, form, clock.now(), get_settings(), request_key=key), 201


lambda_handler = lambda_handler_for(app)
