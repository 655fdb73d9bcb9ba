"""Staff publish versions of the Terms of Service (R-TERMS-3) and list them."""

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body

from lifecycle.accounts import terms
from lifecycle.core import clock
from lifecycle.core.auth import allowed, require_staff
from lifecycle.entry.http import create_app, current_principal, lambda_handler_for, problem_responses

app = create_app()

STAFF_ONLY = {"s401": "unauthorized", "s403": "forbidden"}


@app.post(
    "/admin/terms",
    summary="Publish a terms version",
    description=(
        "R-TERMS-3: the version is current from now, without notice; each account's next activity "
        "accepts it by continued use. A version string is published once."
    ),
    tags=["staff"],
    security=allowed("staff"),
    responses={
        201: {"description": "the published version"},
        **problem_responses(s409="terms_version_exists, conflict", s503="service_unavailable", **STAFF_ONLY),
    },
)
def publish_terms(form: Annotated[terms.PublishInput, Body()]) -> tuple[terms.TermsView, int]:
    staff = current_principal(app)
    require_staff(staff)
    return terms.publish(form.version, staff.user_id, clock.now()), 201


@app.get(
    "/admin/terms",
    summary="Published terms versions, newest first",
    tags=["staff"],
    security=allowed("staff"),
    responses={200: {"description": "`items`, newest first"}, **problem_responses(**STAFF_ONLY)},
)
def list_terms() -> terms.TermsHistory:
    require_staff(current_principal(app))
    return terms.TermsHistory(items=terms.history())


lambda_handler = lambda_handler_for(app)
