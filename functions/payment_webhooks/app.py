"""The payment provider's signed webhook events (R-PAY-12): public, verified by their signature,
each applied exactly once (lifecycle.billing.webhooks)."""

from typing import Literal

from pydantic import BaseModel

from lifecycle.billing import webhooks
from lifecycle.core import clock
from lifecycle.core.auth import PUBLIC
from lifecycle.core.settings import get_settings
from lifecycle.entry.http import create_app, lambda_handler_for, problem_responses
from lifecycle.subscriptions import subscription_changes

app = create_app()
# An upgrade's prorated charge confirmed late is finished by the subscriptions tier, above billing.
webhooks.register(subscription_changes.RESUME, subscription_changes.resume)


class Received(BaseModel):
    """The event was taken: ``applied`` now, a ``duplicate`` of one applied before, or
    ``ignored`` (a type or an object the service has nothing to do with)."""

    received: bool
    outcome: Literal["applied", "duplicate", "ignored"]


@app.post(
    "/webhooks/payments",
    summary="The payment provider's signed events",
    description=(
        "R-PAY-12: Stripe's webhook events, signed with the endpoint's secret (`Stripe-Signature`); each is "
        "applied once however often and in whatever order it is delivered: a payment confirmed after the "
        "request that asked for it (invoice, receipt, account active), a failed or processing payment, a refund "
        "made at the provider (a credit note), a dispute (staff flag and notices), a card expiring or updated "
        "(a notice). Unsigned, badly signed or stale (over 5 minutes) events are 400 and change nothing."
    ),
    tags=["public"],
    security=PUBLIC,
    responses={
        200: {"description": "received: `applied`, `duplicate` or `ignored`"},
        **problem_responses(s400="invalid_signature", s503="service_unavailable"),
    },
)
def receive() -> Received:
    settings = get_settings()
    request = app.current_event
    # The body exactly as sent: the signature is over its bytes, so it is read raw, not parsed.
    payload = (request.decoded_body or "").encode("utf-8")
    event = webhooks.verified(payload, request.headers.get("stripe-signature"), settings)
    return Received(received=True, outcome=webhooks.apply(event, clock.now(), settings))


lambda_handler = lambda_handler_for(app)
