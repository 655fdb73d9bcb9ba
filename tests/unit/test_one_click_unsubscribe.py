"""R-GDPR-9: the one-click unsubscribe of RFC 8058 as mail clients send it, over moto: the
RFC's own example requests (tests/rfc_8058.py), the token the signed link's, in the query.
API Gateway's HTTP API hands both form bodies to Lambda base64-encoded (``isBase64Encoded``),
as the local runtime's events do.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from lifecycle.core.settings import get_settings
from lifecycle.entry import forms
from lifecycle.privacy import privacy
from lifecycle.storage import Consent
from local_runtime import events
from tests.rfc_8058 import MULTIPART as RFC_8058_MULTIPART
from tests.rfc_8058 import MULTIPART_DELIMITED_TYPE as RFC_8058_MULTIPART_DELIMITED_TYPE
from tests.rfc_8058 import MULTIPART_TYPE as RFC_8058_MULTIPART_TYPE
from tests.rfc_8058 import URLENCODED as RFC_8058_URLENCODED
from tests.rfc_8058 import URLENCODED_TYPE as URLENCODED
from tests.rfc_8058 import multipart
from tests.support import Reply, _context, _handler, _route, call
from tests.unit.test_consents import item, signed_up, unsubscribe_token

pytestmark = pytest.mark.usefixtures("world")


def test_r_gdpr_9_the_rfc_8058_bodies_are_as_long_as_printed() -> None:
    assert (len(RFC_8058_URLENCODED), len(RFC_8058_MULTIPART)) == (26, 124)


def test_r_gdpr_9_form_fields_of_the_rfc_8058_examples() -> None:
    assert forms.fields(RFC_8058_URLENCODED, URLENCODED) == {"List-Unsubscribe": "One-Click"}
    assert forms.fields(RFC_8058_MULTIPART, RFC_8058_MULTIPART_DELIMITED_TYPE) == {"List-Unsubscribe": "One-Click"}
    # As printed, no delimiter of the named boundary: a body that says nothing (the query's token decides).
    assert forms.fields(RFC_8058_MULTIPART, RFC_8058_MULTIPART_TYPE) == {}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"", "multipart/form-data; boundary=x"),
        (b"garbage", "multipart/form-data; boundary=x"),
        (RFC_8058_MULTIPART, "multipart/form-data"),  # no boundary
        (RFC_8058_MULTIPART[:60], RFC_8058_MULTIPART_DELIMITED_TYPE),  # cut short
        (
            b"".join(b"--x\r\nContent-Disposition: form-data; name=f\r\n\r\nv\r\n" for _ in range(40)) + b"--x--",
            "multipart/form-data; boundary=x",
        ),
        ("&".join(f"f{n}=v" for n in range(40)).encode(), URLENCODED),
        (RFC_8058_URLENCODED, "text/plain"),
    ],
)
def test_r_gdpr_9_an_unreadable_or_oversized_form_has_no_fields(body: bytes, content_type: str) -> None:
    assert forms.fields(body, content_type) == {}


def post(query: str, body: bytes, content_type: str) -> Reply:
    return call("POST", f"/privacy/unsubscribe{query}", raw_body=body, headers={"content-type": content_type})


def test_r_gdpr_9_rfc_8058_multipart_example_byte_for_byte_unsubscribes_with_204() -> None:
    signed_up(consents=["marketing"])
    reply = post(f"?token={unsubscribe_token()}", RFC_8058_MULTIPART, RFC_8058_MULTIPART_TYPE)
    assert reply.status == 204, reply.body
    assert (item("marketing").withdrawn_how, reply.body) == ("unsubscribe", "")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (RFC_8058_URLENCODED, URLENCODED),
        (RFC_8058_MULTIPART, RFC_8058_MULTIPART_DELIMITED_TYPE),
        multipart({"List-Unsubscribe": "One-Click"}),
    ],
)
def test_r_gdpr_9_rfc_8058_one_click_forms_unsubscribe_with_204(body: bytes, content_type: str) -> None:
    signed_up(consents=["marketing"])
    reply = post(f"?token={unsubscribe_token()}", body, content_type)
    assert reply.status == 204, reply.body
    assert item("marketing").withdrawn_how == "unsubscribe"


def test_r_gdpr_9_a_multipart_forms_token_field_is_read_like_the_query() -> None:
    signed_up(consents=["marketing"])
    body, content_type = multipart({"List-Unsubscribe": "One-Click", "token": unsubscribe_token()})
    assert post("", body, content_type).status == 204
    assert item("marketing").withdrawn_how == "unsubscribe"


def consents_of_person() -> list[str]:
    key = privacy.person_key("maria@example.com", get_settings())
    return sorted(f"{c.purpose}:{c.withdrawn_at}" for c in Consent.query(key, consistent_read=True))


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"", "multipart/form-data; boundary=x"),
        (b"\x00\xffnot a form", "multipart/form-data; boundary=x"),
        (RFC_8058_MULTIPART, RFC_8058_MULTIPART_TYPE),
        (RFC_8058_MULTIPART, "multipart/form-data"),
        (b"", URLENCODED),
        (RFC_8058_URLENCODED, URLENCODED),
        multipart({"token": "not-a-token"}),
    ],
)
def test_r_gdpr_9_a_missing_or_garbled_body_without_a_valid_token_is_400_invalid_token_never_415(
    body: bytes, content_type: str
) -> None:
    signed_up(consents=["marketing"])
    before = consents_of_person()
    reply = post("", body, content_type)
    assert (reply.status, reply.code) == (400, "invalid_token"), reply.body
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert consents_of_person() == before


def raw_event(body: str, *, base64_encoded: bool, content_type: str) -> dict[str, Any]:
    """The HTTP API event with a body of our choosing (``call`` always encodes a valid one)."""
    route, params = _route("POST", "/privacy/unsubscribe")
    request = events.HttpRequest(method="POST", path="/privacy/unsubscribe", headers=[("content-type", content_type)])
    return {**events.http_event(request, route, params, None), "body": body, "isBase64Encoded": base64_encoded}


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    route, _ = _route("POST", "/privacy/unsubscribe")
    return dict(_handler(route.function)(event, _context(route.function)))


def test_r_gdpr_9_a_body_flagged_base64_that_is_not_is_400_invalid_token_not_500() -> None:
    answer = invoke(raw_event("%%% not base64 %%%", base64_encoded=True, content_type=RFC_8058_MULTIPART_TYPE))
    assert answer["statusCode"] == 400
    assert '"invalid_token"' in answer["body"]


def test_r_gdpr_9_a_base64_encoded_rfc_8058_form_with_its_token_unsubscribes() -> None:
    """As API Gateway's HTTP API sends a form body: base64, ``isBase64Encoded`` true."""
    signed_up(consents=["marketing"])
    body, content_type = multipart({"List-Unsubscribe": "One-Click", "token": unsubscribe_token()})
    encoded = base64.b64encode(body).decode("ascii")
    assert invoke(raw_event(encoded, base64_encoded=True, content_type=content_type))["statusCode"] == 204
    assert item("marketing").withdrawn_how == "unsubscribe"


@pytest.mark.parametrize("content_type", [URLENCODED, RFC_8058_MULTIPART_TYPE, "multipart/form-data; boundary=x"])
def test_r_gdpr_9_the_local_runtime_passes_form_bodies_base64_encoded_as_http_api_does(content_type: str) -> None:
    route, params = _route("POST", "/privacy/unsubscribe")
    request = events.HttpRequest(
        method="POST", path="/privacy/unsubscribe", headers=[("content-type", content_type)], body=RFC_8058_MULTIPART
    )
    event = events.http_event(request, route, params, None)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == RFC_8058_MULTIPART
