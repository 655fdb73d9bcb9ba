"""Voucher redemption (R-VOUCH-1..5), applying a code to an account (R-VOUCH-4) and
staff revocation (R-VOUCH-11)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from lifecycle.accounts import accounts
from lifecycle.accounts.accounts import AccountView
from lifecycle.core import clock
from lifecycle.core.auth import PUBLIC, allowed, require_member, require_staff
from lifecycle.core.observability import MetricUnit, metrics
from lifecycle.core.settings import get_settings
from lifecycle.entry.http import create_app, current_principal, lambda_handler_for, problem_responses, source
from lifecycle.onboarding import redemption, signup
from lifecycle.vouchers import revocation

app = create_app()


@app.post(
    "/redemptions",
    summary="Redeem a lifetime-deal code: a new account",
    tags=["public"],
    security=PUBLIC,
    responses={
        201: {"description": "the account, active and lifetime"},
        **problem_responses(
            s403="bot_suspected",
            s404="voucher_not_found",
            s409="voucher_already_redeemed, subdomain_taken, email_taken",
            s410="voucher_expired",
            s422="validation_error, underage, terms_not_accepted",
            s429="rate_limited",
            s503="human_check_unavailable",
        ),
    },
)
def create_redemption(form: Annotated[redemption.RedemptionInput, Body()]) -> tuple[AccountView, int]:
    ip, user_agent = source(app)
    meta = signup.RequestMeta(ip=ip, user_agent=user_agent)
    account = redemption.redeem(form, meta, clock.now(), get_settings())
    metrics.add_metric(name="VouchersRedeemed", unit=MetricUnit.Count, value=1)
    return account, 201


@app.post(
    "/accounts/<id>/redemptions",
    summary="Apply a code to an account that has none",
    tags=["accounts"],
    security=allowed("owner"),
    responses={
        200: {"description": "the account, now lifetime"},
        **problem_responses(
            s401="unauthorized",
            s403="forbidden",
            s404="not_found, voucher_not_found",
            s409="voucher_not_stackable, voucher_already_redeemed",
            s410="voucher_expired",
        ),
    },
)
def apply_code(
    id: Annotated[str, Path(max_length=64)],
    form: Annotated[redemption.ApplyCodeInput, Body()],
) -> AccountView:
    caller = current_principal(app)
    require_member(caller, id, roles=("owner",), staff=False)
    return redemption.apply_code(accounts.load(id), form, caller.user_id, clock.now(), get_settings())


@app.post(
    "/admin/vouchers/<code>/revoke",
    summary="Revoke an abused voucher",
    tags=["staff"],
    security=allowed("staff"),
    responses={
        200: {"description": "what was blocked and marked for removal"},
        **problem_responses(s401="unauthorized", s403="forbidden", s404="voucher_not_found"),
    },
)
def revoke_voucher(
    code: Annotated[str, Path(max_length=100)],
    form: Annotated[revocation.RevokeInput, Body()],
) -> revocation.Revocation:
    staff = current_principal(app)
    require_staff(staff)
    return revocation.revoke(code, form, staff.user_id, clock.now(), get_settings())


lambda_handler = lambda_handler_for(app)
