"""The API's OpenAPI document and its browsable page, public (API.md).

Each function has its own resolver, so no single Lambda knows every route at run time:
``make openapi`` merges them into ``openapi.json`` beside this file (checked for
staleness in ``make test``), and this function serves that file.
"""

from pathlib import Path

from aws_lambda_powertools.event_handler import Response

from lifecycle.entry.http import create_app, lambda_handler_for

SPEC_PATH = Path(__file__).with_name("openapi.json")
_spec = SPEC_PATH.read_text(encoding="utf-8")

app = create_app()


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    return Response(status_code=200, content_type="application/json", body=_spec)


@app.get("/docs", include_in_schema=False)
def docs_page() -> Response[str]:
    return Response(status_code=200, content_type="text/html; charset=utf-8", body=_swagger_page())


def _swagger_page() -> str:
    # Powertools ships Swagger UI's assets; inlining them keeps the page working offline.
    from aws_lambda_powertools.event_handler.openapi import swagger_ui
    from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

    assets = Path(swagger_ui.__file__).parent
    return generate_swagger_html(
        spec=_spec.replace("</", "<\\/"),
        swagger_js=(assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        swagger_css=(assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
        swagger_base_url="",
        oauth2_config=None,
    )


lambda_handler = lambda_handler_for(app)
