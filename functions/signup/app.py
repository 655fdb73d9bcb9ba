"""``POST /signups``: trial signup (R-PAY-2), public and rate limited (R-REG-2)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body

from lifecycle.accounts.accounts import AccountView
from lifecycle.core import clock
from lifecycle.core.auth import PUBLIC
from lifecycle.core.observability import MetricUnit, metrics
from lifecycle.core.settings import get_settings
from lifecycle.entry.http import create_app, lambda_handler_for, problem_responses, source
from lifecycle.onboarding import signup

app = create_app()

REGISTRATION_ERRORS = {
    "s403": "bot_suspected",
    "s409": "subdomain_taken, email_taken",
    "s422": "validation_error, underage, terms_not_accepted",
    "s429": "rate_limited",
    "s503": "human_check_unavailable",
}


@app.post(
    "/signups",
    summary="Start a free trial",
    tags=["public"],
    security=PUBLIC,
    responses={201: {"description": "the account, trialing"}, **problem_responses(**REGISTRATION_ERRORS)},
)
def create_signup(form: Annotated[signup.SignupInput, Body()]) -> tuple[AccountView, int]:
    ip, user_agent = source(app)
    meta = signup.RequestMeta(ip=ip, user_agent=user_agent)
    account = signup.sign_up(form, meta, clock.now(), get_settings())
    metrics.add_metric(name="TrialsStarted", unit=MetricUnit.Count, value=1)
    return account, 201


lambda_handler = lambda_handler_for(app)
