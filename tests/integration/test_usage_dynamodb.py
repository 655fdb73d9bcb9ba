"""Usage reports and custom development decisions on DynamoDB Local, concurrently:
the month's crossing is flagged and notified once (R-FAIR-2), the enterprise flag is
raised once (R-PAY-10), and a custom development request is decided once (R-CUSTOM-1)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from lifecycle.core import clock
from lifecycle.core.settings import Settings
from lifecycle.storage import CustomRequest, Notification, Usage
from local_runtime import events, template
from local_runtime.functions import Functions
from tests.support import STACK, STAFF, call, member
from tests.unit.test_signup import TRIAL

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("local_tables")]

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
REPORTS = 20
TICKETS_EACH = 60  # 20 x 60 = 1200: the limit of 1000 is crossed by one of them
QUERIES_EACH = 300  # 20 x 300 = 6000: past 5000 queries for the one agent


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    clock.set_now(NOW)
    yield
    clock.set_now(None)


def _route(route_key: str) -> template.Route:
    (route,) = [route for route in template.routes(template.load()) if route.route_key == route_key]
    return route


def _event(route_key: str, path: str, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    request = events.HttpRequest(
        method="POST", path=path, headers=[("content-type", "application/json")], body=json.dumps(body).encode()
    )
    return events.http_event(request, _route(route_key), params, STAFF)


def _report_event(account_id: str, body: dict[str, Any]) -> dict[str, Any]:
    path = f"/admin/accounts/{account_id}/usage"
    return _event("POST /admin/accounts/{id}/usage", path, {"id": account_id}, body)


def _concurrently(logical_id: str, warm: list[dict[str, Any]], real: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each invocation in an environment of its own, as Lambda (and `make run`) do; cold
    starts first (refused bodies write nothing), so the real invocations overlap."""
    functions = Functions(template.load(), STACK, max_concurrency=len(real))
    with ThreadPoolExecutor(max_workers=len(real)) as pool:
        list(pool.map(lambda event: functions.invoke(logical_id, event), warm))
        return list(pool.map(lambda event: functions.invoke(logical_id, event), real))


def test_r_fair_2_and_r_pay_10_twenty_concurrent_reports_crossing_the_limit_flag_and_notify_once(
    local_tables: Settings,
) -> None:
    created = call("POST", "/signups", body={**TRIAL, "plan": "free"})
    assert created.status == 201, created.body
    account_id = created.body["id"]

    warm = [_report_event(account_id, {"tickets": -1})] * REPORTS
    body = {"tickets": TICKETS_EACH, "queries": QUERIES_EACH}
    results = _concurrently("UsageFunction", warm, [_report_event(account_id, body)] * REPORTS)

    assert [result["statusCode"] for result in results] == [200] * REPORTS, results
    raised = [json.loads(result["body"])["flagged"] for result in results]
    assert sum("usage" in flags for flags in raised) == 1
    assert sum("enterprise" in flags for flags in raised) == 1
    month = Usage.get(account_id, "2026-11", consistent_read=True)
    assert (month.tickets, month.queries, month.reports) == (REPORTS * TICKETS_EACH, REPORTS * QUERIES_EACH, REPORTS)
    assert month.usage_flagged_at is not None
    assert month.enterprise_flagged_at is not None
    sent = [
        item for item in Notification.query(account_id, consistent_read=True) if item.type == "usage_limit_exceeded"
    ]
    assert len(sent) == 1
    assert [item.account_id for item in Usage.usage_flags.query("2026-11")] == [account_id]
    assert [item.account_id for item in Usage.enterprise_flags.query("2026-11")] == [account_id]


def test_r_custom_1_concurrent_approvals_and_refusals_decide_a_request_once(local_tables: Settings) -> None:
    created = call("POST", "/signups", body=TRIAL)
    assert created.status == 201, created.body
    account = created.body
    filed = call(
        "POST",
        f"/accounts/{account['id']}/custom-requests",
        body={"title": "ERP export", "description": "Nightly CSV export."},
        claims=member(account["id"], "owner", sub=account["owner_id"]),
    )
    assert filed.status == 201, filed.body
    request_id = filed.body["id"]

    def decision(n: int, body: dict[str, Any] | None = None) -> dict[str, Any]:
        verb = "approve" if n % 2 == 0 else "refuse"
        if body is None:
            body = {"specification": f"Spec {n}", "price": {"amount": 1000 + n}} if verb == "approve" else {}
            body = body or {"reason": f"Reason {n}"}
        path = f"/admin/custom-requests/{request_id}/{verb}"
        return _event(f"POST /admin/custom-requests/{{request_id}}/{verb}", path, {"request_id": request_id}, body)

    warm = [decision(n, {"unknown": True}) for n in range(REPORTS)]
    results = _concurrently("CustomRequestsFunction", warm, [decision(n) for n in range(REPORTS)])

    statuses = sorted(result["statusCode"] for result in results)
    assert statuses == [200] + [409] * (REPORTS - 1), results
    losers = [json.loads(result["body"]) for result in results if result["statusCode"] == 409]
    assert {loser["code"] for loser in losers} == {"already_decided"}
    (winner,) = [json.loads(result["body"]) for result in results if result["statusCode"] == 200]
    stored = CustomRequest.get(request_id, consistent_read=True)
    assert (stored.status, stored.specification, stored.refusal_reason) == (
        winner["status"],
        winner["specification"],
        winner["refusal_reason"],
    )
    decided = [item for item in Notification.query(account["id"]) if item.type.startswith("custom_request")]
    assert len(decided) == 1
