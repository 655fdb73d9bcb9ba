"""``POST /admin/campaigns/{id}/codes`` and the default campaign through the campaigns function, over moto."""

from __future__ import annotations

from typing import Any

import pytest

from lifecycle.vouchers.vouchers import MAX_CODES_PER_REQUEST
from tests.support import STAFF, call, member
from tests.unit.test_campaigns import TERMS_DEAL

pytestmark = pytest.mark.usefixtures("tables")

CODES = "/admin/campaigns/appsumo-2019/codes"


def test_staff_generate_codes_and_see_them_once() -> None:
    reply = call("POST", CODES, body={"count": 5}, claims=STAFF)
    assert reply.status == 201
    assert set(reply.body) == {"campaign_id", "added", "duplicates", "codes"}
    assert (reply.body["campaign_id"], reply.body["added"], reply.body["duplicates"]) == ("appsumo-2019", 5, 0)
    assert len(set(reply.body["codes"])) == 5


def test_imported_codes_are_not_echoed_back() -> None:
    reply = call("POST", CODES, body={"codes": ["ABCD-EFGH-2345", "abcd efgh 2345", "WXYZ-2345-6789"]}, claims=STAFF)
    assert reply.status == 201
    assert reply.body == {"campaign_id": "appsumo-2019", "added": 2, "duplicates": 1, "codes": []}


def test_the_campaign_counts_the_codes_added() -> None:
    call("POST", CODES, body={"count": 5}, claims=STAFF)
    call("POST", CODES, body={"codes": ["IMPORT-001", "IMPORT-002", "IMPORT-003"]}, claims=STAFF)
    call("POST", CODES, body={"codes": ["IMPORT-001"]}, claims=STAFF)
    read = call("GET", "/admin/campaigns/appsumo-2019", claims=STAFF)
    assert read.body["codes"] == {"total": 8, "redeemed": 0, "abuse_signals": 0}


def test_the_default_campaign_answers_before_anyone_created_it() -> None:
    read = call("GET", "/admin/campaigns/appsumo-2019", claims=STAFF)
    assert read.status == 200
    assert {key: read.body[key] for key in ("campaign_id", "name", "plan", "included_seats", "price", "time_zone")} == {
        key: TERMS_DEAL[key] for key in ("campaign_id", "name", "plan", "included_seats", "price", "time_zone")
    }
    assert read.body["redeem_by"] == "2019-11-30T23:59:59Z"
    taken = call("POST", "/admin/campaigns", body=TERMS_DEAL, claims=STAFF)
    assert (taken.status, taken.code) == (409, "campaign_exists")


def test_codes_for_a_campaign_staff_created() -> None:
    call("POST", "/admin/campaigns", body={**TERMS_DEAL, "campaign_id": "spring"}, claims=STAFF)
    reply = call("POST", "/admin/campaigns/spring/codes", body={"count": 2}, claims=STAFF)
    assert (reply.status, reply.body["campaign_id"], reply.body["added"]) == (201, "spring", 2)


def test_an_unknown_campaign_is_a_404_problem() -> None:
    reply = call("POST", "/admin/campaigns/none-such/codes", body={"count": 1}, claims=STAFF)
    assert (reply.status, reply.code) == (404, "not_found")
    assert reply.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("role", ["owner", "admin", "agent"])
def test_account_members_cannot_add_codes(role: str) -> None:
    reply = call("POST", CODES, body={"count": 1}, claims=member("acc-1", role))
    assert (reply.status, reply.code) == (403, "forbidden")
    assert call("GET", "/admin/campaigns/appsumo-2019", claims=STAFF).body["codes"]["total"] == 0


def test_without_claims_the_caller_is_unauthorized() -> None:
    reply = call("POST", CODES, body={"count": 1}, claims={})
    assert (reply.status, reply.code) == (401, "unauthorized")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"codes": ["ABCDEFGH"], "count": 1}, "body"),
        ({}, "body"),
        ({"count": 0}, "count"),
        ({"count": MAX_CODES_PER_REQUEST + 1}, "count"),
        ({"count": "many"}, "count"),
        ({"codes": ["ABCDEFGH"] * (MAX_CODES_PER_REQUEST + 1)}, "codes"),
        ({"codes": ["GOOD-CODE-1", "bad"]}, "codes.1"),
        ({"codes": "ABCDEFGH"}, "codes"),
        ({"count": 1, "campaign": "x"}, "campaign"),
    ],
)
def test_invalid_requests_are_422_with_field_errors(body: dict[str, Any], field: str) -> None:
    reply = call("POST", CODES, body=body, claims=STAFF)
    assert (reply.status, reply.code) == (422, "validation_error")
    assert field in [error["field"] for error in reply.body["errors"]]


def test_a_retry_with_the_same_idempotency_key_returns_the_same_codes_and_adds_none() -> None:
    key = {"idempotency-key": "codes-1"}
    first = call("POST", CODES, body={"count": 3}, claims=STAFF, headers=key)
    again = call("POST", CODES, body={"count": 3}, claims=STAFF, headers=key)
    assert (first.status, again.status) == (201, 201)
    assert again.body == first.body
    assert call("GET", "/admin/campaigns/appsumo-2019", claims=STAFF).body["codes"]["total"] == 3
