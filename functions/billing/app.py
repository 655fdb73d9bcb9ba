"""An account's billing details (R-VOUCH-8), with its EU VAT ID (R-PAY-14)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from lifecycle import accounts, billing_details, clock
from lifecycle.http import create_app, current_principal, lambda_handler_for, problem_responses

app = create_app()


@app.put(
    "/accounts/<id>/billing-details",
    summary="Give the billing details (owner)",
    description=(
        "Name, email, company, full address and the company data local law requires (R-VOUCH-8). "
        "An EU VAT ID must have its member state's format and the address country's prefix (R-PAY-14). "
        "The details apply from now (`applies_from`), i.e. from the next invoice; invoices already "
        "issued keep the details they were issued with."
    ),
    tags=["billing"],
    responses={
        200: {"description": "the stored details with `applies_from`"},
        **problem_responses(
            s401="unauthorized", s403="forbidden", s404="not_found", s422="validation_error, invalid_vat_id"
        ),
    },
)
def put_billing_details(
    id: Annotated[str, Path(max_length=64)],
    form: Annotated[billing_details.BillingDetails, Body()],
) -> billing_details.BillingDetailsView:
    caller = current_principal(app)
    billing_details.require_owner(caller, id)
    return billing_details.put_for(caller, accounts.load(id), form, clock.now())


@app.get(
    "/accounts/<id>/billing-details",
    summary="The billing details that apply now (owner)",
    description="Support staff reads are recorded in the audit log (R-USE-4).",
    tags=["billing"],
    responses={
        200: {"description": "the details with `applies_from`"},
        **problem_responses(s401="unauthorized", s403="forbidden", s404="not_found"),
    },
)
def get_billing_details(id: Annotated[str, Path(max_length=64)]) -> billing_details.BillingDetailsView:
    return billing_details.get_for(current_principal(app), id, clock.now())


lambda_handler = lambda_handler_for(app)
