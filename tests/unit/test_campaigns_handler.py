"""The campaigns function end to end in-process over moto: contract, errors, idempotency."""

from __future__ import annotations

import pytest

from tests.support import STAFF, call, member
from tests.unit.test_campaigns import TERMS_DEAL

pytestmark = pytest.mark.usefixtures("tables")


def test_staff_create_and_read_a_campaign() -> None:
    created = call("POST", "/admin/campaigns", body=TERMS_DEAL, claims=STAFF)
    assert created.status == 201
    assert created.body["campaign_id"] == "appsumo-2019"
    assert created.body["price"] == {"amount": 5900, "currency": "USD"}

    read = call("GET", "/admin/campaigns/appsumo-2019", claims=STAFF)
    assert read.status == 200
    assert read.body == created.body


@pytest.mark.parametrize("role", ["owner", "admin", "agent"])
def test_account_members_are_not_staff(role: str) -> None:
    reply = call("POST", "/admin/campaigns", body=TERMS_DEAL, claims=member("acc-1", role))
    assert (reply.status, reply.code) == (403, "forbidden")
    assert reply.headers["content-type"] == "application/problem+json"
    assert call("GET", "/admin/campaigns/appsumo-2019", claims=member("acc-1", role)).status == 403


def test_without_claims_the_caller_is_unauthorized() -> None:
    reply = call("GET", "/admin/campaigns/appsumo-2019", claims={})
    assert (reply.status, reply.code) == (401, "unauthorized")


def test_a_taken_campaign_id_is_a_conflict() -> None:
    call("POST", "/admin/campaigns", body=TERMS_DEAL, claims=STAFF)
    reply = call("POST", "/admin/campaigns", body={**TERMS_DEAL, "name": "again"}, claims=STAFF)
    assert (reply.status, reply.code) == (409, "campaign_exists")
    assert set(reply.body) >= {"type", "title", "status", "detail", "code"}


def test_an_unknown_campaign_is_a_404_problem() -> None:
    reply = call("GET", "/admin/campaigns/none-such", claims=STAFF)
    assert (reply.status, reply.code) == (404, "not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**TERMS_DEAL, "time_zone": "Mars/Olympus"}, "time_zone"),
        ({**TERMS_DEAL, "price": {"amount": "lots"}}, "price.amount"),
        ({k: v for k, v in TERMS_DEAL.items() if k != "name"}, "name"),
        ({**TERMS_DEAL, "name": "x" * 10_000}, "name"),
        ({**TERMS_DEAL, "unexpected": 1}, "unexpected"),
    ],
)
def test_invalid_bodies_are_422_with_field_errors(body: dict[str, object], field: str) -> None:
    reply = call("POST", "/admin/campaigns", body=body, claims=STAFF)
    assert (reply.status, reply.code) == (422, "validation_error")
    assert field in [error["field"] for error in reply.body["errors"]]


@pytest.mark.parametrize(
    "raw", [b"not json", b"[1, 2]", b"", "\u00e9\u0000".encode(), b'{"campaign_id": ', b"\xff\xfe not utf-8"]
)
def test_malformed_bodies_are_422_never_500(raw: bytes) -> None:
    reply = call("POST", "/admin/campaigns", raw_body=raw, claims=STAFF)
    assert (reply.status, reply.code) == (422, "validation_error")


def test_a_body_that_is_not_json_is_415_never_500() -> None:
    binary = {"content-type": "application/octet-stream"}
    reply = call("POST", "/admin/campaigns", raw_body=b"\xff\xfe\x00", claims=STAFF, headers=binary)
    assert (reply.status, reply.code) == (415, "unsupported_media_type")


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data"])
def test_only_json_bodies_are_accepted(content_type: str) -> None:
    reply = call("POST", "/admin/campaigns", raw_body=b"a=b", claims=STAFF, headers={"content-type": content_type})
    assert (reply.status, reply.code) == (415, "unsupported_media_type")


def test_json_with_a_charset_is_json() -> None:
    json_utf8 = {"content-type": "application/json; charset=utf-8"}
    assert call("POST", "/admin/campaigns", body=TERMS_DEAL, claims=STAFF, headers=json_utf8).status == 201


def test_json_that_is_not_utf8_is_422_never_500() -> None:
    reply = call("POST", "/admin/campaigns", raw_body=b"\xff\xfe\x00", claims=STAFF)
    assert (reply.status, reply.code) == (422, "validation_error")


def test_a_retry_with_the_same_idempotency_key_returns_the_first_response() -> None:
    key = {"idempotency-key": "k-1"}
    first = call("POST", "/admin/campaigns", body=TERMS_DEAL, claims=STAFF, headers=key)
    again = call("POST", "/admin/campaigns", body=TERMS_DEAL, claims=STAFF, headers=key)
    assert (first.status, again.status) == (201, 201)
    assert again.body == first.body


def test_the_same_idempotency_key_with_another_body_is_refused() -> None:
    key = {"idempotency-key": "k-2"}
    call("POST", "/admin/campaigns", body=TERMS_DEAL, claims=STAFF, headers=key)
    reply = call("POST", "/admin/campaigns", body={**TERMS_DEAL, "name": "other"}, claims=STAFF, headers=key)
    assert (reply.status, reply.code) == (409, "idempotency_key_reused")
    assert call("GET", "/admin/campaigns/appsumo-2019", claims=STAFF).body["name"] == TERMS_DEAL["name"]
