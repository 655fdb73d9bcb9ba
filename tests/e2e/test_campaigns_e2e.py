"""Campaigns over HTTP through the local runtime: the foundation's end-to-end path.

Token from the emulated JWT authorizer → API Gateway v2 event → CampaignsFunction →
DynamoDB Local → problem+json or the campaign, exactly as a web client sees it.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.conftest import Runtime

pytestmark = pytest.mark.e2e


def _deal(campaign_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "campaign_id": campaign_id,
        "name": "AppSumo lifetime deal",
        "plan": "all-inclusive",
        "included_seats": 2,
        "price": {"amount": 5900, "currency": "USD"},
        "redeem_by": "2019-11-30T23:59:59",
        "time_zone": "Europe/Sofia",
        **changes,
    }


@pytest.fixture
def staff(runtime: Runtime) -> str:
    return runtime.token("staff-1", None, "staff")


def test_staff_create_a_campaign_and_read_it_back(runtime: Runtime, staff: str) -> None:
    campaign_id = f"deal-{uuid.uuid4().hex[:8]}"
    created = runtime.post("/admin/campaigns", json=_deal(campaign_id), token=staff)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["redeem_by"] == "2019-11-30T21:59:59Z"
    assert body["codes"] == {"total": 0, "redeemed": 0, "abuse_signals": 0}

    read = runtime.get(f"/admin/campaigns/{campaign_id}", token=staff)
    assert read.status_code == 200
    assert read.json() == body


def test_without_a_token_the_route_is_401_and_for_an_owner_403(runtime: Runtime) -> None:
    anonymous = runtime.get("/admin/campaigns/appsumo-2019")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("application/problem+json")
    assert anonymous.json()["code"] == "unauthorized"

    owner = runtime.token("user-1", "acc-1", "owner")
    forbidden = runtime.post("/admin/campaigns", json=_deal("owner-tries"), token=owner)
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "forbidden")
    assert runtime.get("/admin/campaigns/owner-tries", token=runtime.token("s", None, "staff")).status_code == 404


def test_errors_are_problem_documents_with_stable_codes(runtime: Runtime, staff: str) -> None:
    campaign_id = f"deal-{uuid.uuid4().hex[:8]}"
    runtime.post("/admin/campaigns", json=_deal(campaign_id), token=staff)

    taken = runtime.post("/admin/campaigns", json=_deal(campaign_id), token=staff)
    assert (taken.status_code, taken.json()["code"]) == (409, "campaign_exists")

    invalid = runtime.post("/admin/campaigns", json=_deal("x", price={"amount": 1.5}), token=staff)
    assert (invalid.status_code, invalid.json()["code"]) == (422, "validation_error")
    assert {"field": "price.amount"}.items() <= invalid.json()["errors"][0].items()

    garbage = runtime.post("/admin/campaigns", data=b"\xff\xfe not json", token=staff)
    assert (garbage.status_code, garbage.json()["code"]) == (422, "validation_error")


def test_an_idempotent_retry_over_http_returns_the_first_response(runtime: Runtime, staff: str) -> None:
    campaign_id = f"deal-{uuid.uuid4().hex[:8]}"
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = runtime.post("/admin/campaigns", json=_deal(campaign_id), token=staff, headers=key)
    again = runtime.post("/admin/campaigns", json=_deal(campaign_id), token=staff, headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    changed = runtime.post("/admin/campaigns", json=_deal(campaign_id, name="other"), token=staff, headers=key)
    assert (changed.status_code, changed.json()["code"]) == (409, "idempotency_key_reused")


def test_the_openapi_document_describes_the_campaign_routes(runtime: Runtime) -> None:
    document = runtime.get("/openapi.json").json()
    assert {"/admin/campaigns", "/admin/campaigns/{id}"} <= set(document["paths"])
    assert "Problem" in document["components"]["schemas"]


def test_concurrent_http_creates_of_one_campaign_yield_exactly_one_201(runtime: Runtime, staff: str) -> None:
    """Concurrent requests really race (one environment per request, as in Lambda) and the
    conditional put still lets exactly one through."""
    from concurrent.futures import ThreadPoolExecutor

    campaign_id = f"race-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(max_workers=16) as pool:
        replies = list(
            pool.map(
                lambda n: runtime.post("/admin/campaigns", json=_deal(campaign_id, name=f"n{n}"), token=staff),
                range(32),
            )
        )
    statuses = [reply.status_code for reply in replies]
    assert statuses.count(201) == 1
    assert statuses.count(409) == 31
    winner = next(reply.json() for reply in replies if reply.status_code == 201)
    assert runtime.get(f"/admin/campaigns/{campaign_id}", token=staff).json()["name"] == winner["name"]
