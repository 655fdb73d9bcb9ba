"""Fair usage and custom development over HTTP through the local runtime: usage reported
over a free plan's limit is flagged for staff and notified to the owner (R-FAIR-1,
R-FAIR-2); a custom development request is filed, approved with its price and listed
(R-CUSTOM-1)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.conftest import Runtime
from tests.route_examples import registrant

pytestmark = pytest.mark.e2e


def _trial(runtime: Runtime, plan: str = "free") -> dict[str, Any]:
    tag = uuid.uuid4().hex[:10]
    signup = runtime.post(
        "/signups",
        json=registrant(f"usage-{tag}", company_name=f"Usage {tag}", subdomain=f"usage-{tag}", plan=plan),
    )
    assert signup.status_code == 201, signup.text
    return dict(signup.json())


def _notices(runtime: Runtime, account: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    owner = runtime.token(account["owner_id"], account["id"], "owner")
    listed = runtime.get(f"/accounts/{account['id']}/notifications", token=owner)
    assert listed.status_code == 200, listed.text
    return [item for item in listed.json()["items"] if item["type"] == type_]


def test_r_fair_1_and_r_fair_2_usage_over_a_free_plans_limit_is_flagged_and_notified_once(runtime: Runtime) -> None:
    account = _trial(runtime)
    staff = runtime.token("staff-1", None, "staff")
    owner = runtime.token(account["owner_id"], account["id"], "owner")

    before = runtime.get(f"/accounts/{account['id']}/usage", token=owner)
    assert before.status_code == 200, before.text
    assert before.json()["limits"] == {"tickets_per_month": 1000, "storage_bytes": 1_000_000_000}

    path = f"/admin/accounts/{account['id']}/usage"
    first = runtime.post(path, json={"tickets": 900, "storage_bytes": 10_000}, token=staff)
    assert (first.status_code, first.json()["flagged"]) == (200, []), first.text
    crossed = runtime.post(path, json={"tickets": 150}, token=staff)
    assert crossed.status_code == 200, crossed.text
    assert (crossed.json()["flagged"], crossed.json()["over_limit"]) == (["usage"], ["tickets"])
    again = runtime.post(path, json={"tickets": 10}, token=staff)
    assert again.json()["flagged"] == []

    period = crossed.json()["period"]
    flags = runtime.get(f"/admin/usage-flags?kind=usage&period={period}", token=staff)
    assert flags.status_code == 200, flags.text
    (flag,) = [item for item in flags.json()["items"] if item["account_id"] == account["id"]]
    assert flag["evidence"] == {"tickets": 1050, "tickets_per_month": 1000}

    (notice,) = _notices(runtime, account, "usage_limit_exceeded")
    assert "1,050 tickets this month" in notice["body"]
    outbox = runtime.get("/_local/outbox").json()["items"]
    assert notice["id"] in [item["id"] for item in outbox]

    # Staff raise this account's limit without notice; the owner sees it.
    raised = runtime.put(f"/admin/accounts/{account['id']}/usage-limits", json={"tickets_per_month": 5000}, token=staff)
    assert raised.status_code == 200, raised.text
    seen = runtime.get(f"/accounts/{account['id']}/usage?period={period}", token=owner).json()
    assert (seen["limits"]["tickets_per_month"], seen["over_limit"]) == (5000, [])
    assert len(_notices(runtime, account, "usage_limit_exceeded")) == 1
    refused = runtime.post(path, json={"tickets": 1}, token=owner)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")


def test_r_custom_1_a_custom_development_request_is_filed_approved_and_notified(runtime: Runtime) -> None:
    account = _trial(runtime, plan="ticket")
    staff = runtime.token("staff-1", None, "staff")
    owner = runtime.token(account["owner_id"], account["id"], "owner")

    filed = runtime.post(
        f"/accounts/{account['id']}/custom-requests",
        json={"title": "ERP export", "description": "A nightly CSV export of closed tickets."},
        token=owner,
    )
    assert filed.status_code == 201, filed.text
    request = filed.json()
    assert (request["status"], request["results_owner"]) == ("requested", "vendor")
    queue = runtime.get("/admin/custom-requests?status=requested", token=staff)
    assert request["id"] in [item["id"] for item in queue.json()["items"]]
    agreed = {
        "specification": "Nightly CSV export by SFTP at 02:00 UTC.",
        "price": {"amount": 120000, "currency": "USD"},
    }
    by_owner = runtime.post(f"/admin/custom-requests/{request['id']}/approve", json=agreed, token=owner)
    assert (by_owner.status_code, by_owner.json()["code"]) == (403, "forbidden")
    approved = runtime.post(f"/admin/custom-requests/{request['id']}/approve", json=agreed, token=staff)
    assert approved.status_code == 200, approved.text
    assert {key: approved.json()[key] for key in ("status", "specification", "price", "results_owner")} == {
        "status": "approved",
        **agreed,
        "results_owner": "vendor",
    }
    again = runtime.post(f"/admin/custom-requests/{request['id']}/refuse", json={"reason": "late"}, token=staff)
    assert (again.status_code, again.json()["code"]) == (409, "already_decided")

    listed = runtime.get(f"/accounts/{account['id']}/custom-requests", token=owner)
    assert listed.json()["items"] == [approved.json()]
    (notice,) = _notices(runtime, account, "custom_request_approved")
    assert "1,200.00 USD" in notice["body"]
    assert agreed["specification"] in notice["body"]
