"""Billing details (R-VOUCH-8, R-PAY-14), the payment method (R-PAY-3/4/12), invoices (R-PAY-1/11)
and their corrections (R-PAY-13)."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from lifecycle.accounts import accounts
from lifecycle.billing import billing_details, corrections, invoicing, payment_methods
from lifecycle.core import clock
from lifecycle.core.auth import allowed
from lifecycle.core.settings import get_settings
from lifecycle.entry.http import create_app, current_principal, lambda_handler_for, problem_responses

app = create_app()


@app.put(
    "/accounts/<id>/billing-details",
    summary="Give the billing details (owner)",
    description=(
        "Name, email, company, full address and the company data local law requires (R-VOUCH-8). "
        "An EU VAT ID must have its member state's format and the address country's prefix (R-PAY-14). "
        "The details apply from now (`applies_from`), i.e. from the next invoice; invoices already "
        "issued keep the details they were issued with. An EU VAT ID outside the vendor's country is "
        "checked with VIES (R-PAY-14); a VIES that says no or does not answer never stops the saving."
    ),
    tags=["billing"],
    security=allowed("owner"),
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
    return billing_details.put_for(caller, accounts.load(id), form, clock.now(), get_settings())


@app.get(
    "/accounts/<id>/billing-details",
    summary="The billing details that apply now (owner)",
    description="Support staff reads are recorded in the audit log (R-USE-4).",
    tags=["billing"],
    security=allowed("owner", "staff"),
    responses={
        200: {"description": "the details with `applies_from`"},
        **problem_responses(s401="unauthorized", s403="forbidden", s404="not_found"),
    },
)
def get_billing_details(id: Annotated[str, Path(max_length=64)]) -> billing_details.BillingDetailsView:
    return billing_details.get_for(current_principal(app), id, clock.now())


@app.put(
    "/accounts/<id>/payment-method",
    summary="Give or replace the payment method (owner)",
    description=(
        "`type` card or paypal and the payment provider's `token`; only the provider's references are "
        "stored, never card data (R-PAY-12). During the trial, or after it expired, the trial ends and the "
        "first period is charged at once (R-PAY-4, R-PAY-3): `invoice` is the invoice issued for it and a "
        "receipt is emailed (R-PAY-11). A declined charge is 402 and changes nothing; a card that needs its "
        "holder's authentication is 402 `authentication_required` with `next_action_url`, where they "
        "authenticate, and the retry with the same card is then charged (R-PAY-12)."
    ),
    tags=["billing"],
    security=allowed("owner"),
    responses={
        200: {"description": "the method's type, the account, and the invoice of an immediate charge (or null)"},
        **problem_responses(
            s401="unauthorized",
            s402="payment_declined, authentication_required (with `next_action_url`)",
            s503="payment_processing, service_unavailable",
            s403="forbidden",
            s404="not_found",
            s409="billing_details_required, conflict",
            s422="validation_error",
        ),
    },
)
def put_payment_method(
    id: Annotated[str, Path(max_length=64)],
    form: Annotated[payment_methods.PaymentMethodInput, Body()],
) -> payment_methods.PaymentMethodView:
    return payment_methods.put_for(current_principal(app), id, form, clock.now(), get_settings())


@app.get(
    "/accounts/<id>/invoices",
    summary="Invoices and credit notes, newest first",
    description="Each line says why it costs what it costs: period, seconds, unit price and the rule.",
    tags=["billing"],
    security=allowed("owner", "admin", "agent", "staff"),
    responses={
        200: {"description": "`{items: [...]}`"},
        **problem_responses(s401="unauthorized", s404="not_found"),
    },
)
def list_invoices(id: Annotated[str, Path(max_length=64)]) -> invoicing.InvoiceList:
    return invoicing.list_for(current_principal(app), id, clock.now())


@app.get(
    "/accounts/<id>/invoices/<invoice_id>",
    summary="One invoice or credit note",
    tags=["billing"],
    security=allowed("owner", "admin", "agent", "staff"),
    responses={
        200: {"description": "the invoice"},
        **problem_responses(s401="unauthorized", s404="not_found"),
    },
)
def get_invoice(
    id: Annotated[str, Path(max_length=64)], invoice_id: Annotated[str, Path(max_length=80)]
) -> invoicing.InvoiceView:
    return invoicing.get_for(current_principal(app), id, invoice_id, clock.now())


@app.post(
    "/accounts/<id>/invoices/<invoice_id>/corrections",
    summary="Correct the billing details of the latest invoice (owner)",
    description=(
        "R-PAY-13: within 15 days of the latest invoice's issue, a credit note cancels it and a reissued "
        "invoice with the new billing details replaces it; both are returned. The reissue keeps the "
        "original's lines, amounts, tax and payment: nothing is charged or refunded (R-PAY-14), and it keeps "
        "the original's correction window. The new details, validated as `PUT …/billing-details`, also "
        "become the account's details from now. Older invoices and requests after the window are "
        "`correction_window_closed`; an invoice corrected before is `already_corrected`."
    ),
    tags=["billing"],
    security=allowed("owner"),
    responses={
        201: {"description": "`{credit_note, invoice}`"},
        **problem_responses(
            s401="unauthorized",
            s403="forbidden",
            s404="not_found",
            s409="correction_window_closed, already_corrected, conflict",
            s422="validation_error, invalid_vat_id",
        ),
    },
)
def correct_invoice(
    id: Annotated[str, Path(max_length=64)],
    invoice_id: Annotated[str, Path(max_length=80)],
    form: Annotated[corrections.CorrectionInput, Body()],
) -> tuple[corrections.CorrectionView, int]:
    view = corrections.correct_for(current_principal(app), id, invoice_id, form, clock.now(), get_settings())
    return view, 201


lambda_handler = lambda_handler_for(app)
