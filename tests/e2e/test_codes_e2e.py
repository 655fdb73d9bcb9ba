"""Voucher codes over HTTP through the local runtime: generate, import, count.

Token → API Gateway v2 event → CampaignsFunction → DynamoDB Local, as a staff client sees it.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Runtime

pytestmark = pytest.mark.e2e


@pytest.fixture
def staff(runtime: Runtime) -> str:
    return runtime.token("staff-1", None, "staff")


@pytest.fixture
def campaign_id(runtime: Runtime) -> str:
    return runtime.create_campaign("codes", name="Spring deal", redeem_by="2030-03-31T23:59:59")


def test_staff_generate_5_codes_import_3_more_and_the_campaign_counts_8(
    runtime: Runtime, staff: str, campaign_id: str
) -> None:
    generated = runtime.post(f"/admin/campaigns/{campaign_id}/codes", json={"count": 5}, token=staff)
    assert generated.status_code == 201, generated.text
    assert (generated.json()["added"], len(set(generated.json()["codes"]))) == (5, 5)

    imported_codes = [f"{campaign_id}-import-{n}" for n in range(3)]
    imported = runtime.post(f"/admin/campaigns/{campaign_id}/codes", json={"codes": imported_codes}, token=staff)
    assert imported.status_code == 201, imported.text
    assert imported.json() == {"campaign_id": campaign_id, "added": 3, "duplicates": 0, "codes": []}

    again = runtime.post(
        f"/admin/campaigns/{campaign_id}/codes", json={"codes": generated.json()["codes"][:2]}, token=staff
    )
    assert (again.json()["added"], again.json()["duplicates"]) == (0, 2)

    read = runtime.get(f"/admin/campaigns/{campaign_id}", token=staff)
    assert read.status_code == 200
    assert read.json()["codes"] == {"total": 8, "redeemed": 0, "abuse_signals": 0}


def test_codes_errors_are_problem_documents(runtime: Runtime, staff: str, campaign_id: str) -> None:
    path = f"/admin/campaigns/{campaign_id}/codes"
    both = runtime.post(path, json={"codes": ["ABCDEFGH"], "count": 1}, token=staff)
    assert (both.status_code, both.json()["code"]) == (422, "validation_error")
    too_many = runtime.post(path, json={"count": 10_001}, token=staff)
    assert (too_many.status_code, too_many.json()["code"]) == (422, "validation_error")
    owner = runtime.token("user-1", "acc-1", "owner")
    assert runtime.post(path, json={"count": 1}, token=owner).json()["code"] == "forbidden"
    assert runtime.post(path, json={"count": 1}).status_code == 401
    unknown = runtime.post("/admin/campaigns/no-such-deal/codes", json={"count": 1}, token=staff)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")


def test_the_default_campaign_answers_over_http(runtime: Runtime, staff: str) -> None:
    read = runtime.get("/admin/campaigns/appsumo-2019", token=staff)
    assert read.status_code == 200, read.text
    assert (read.json()["name"], read.json()["price"]) == ("AppSumo lifetime deal", {"amount": 5900, "currency": "USD"})
    assert "/admin/campaigns/{id}/codes" in runtime.get("/openapi.json").json()["paths"]
