"""Activity on DynamoDB Local: concurrent activities accept new terms exactly once (R-TERMS-3)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifecycle.accounts import terms
from lifecycle.core import clock
from lifecycle.core.settings import Settings
from lifecycle.storage import Account, AuditEvent, Session
from local_runtime import events, template
from local_runtime.functions import Functions
from tests.support import STACK, STAFF, call, member
from tests.unit.test_signup import TRIAL

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("local_tables")]

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ACTIVITIES = 20


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    terms._cache_clear()
    clock.set_now(NOW)
    yield
    clock.set_now(None)
    terms._cache_clear()


def _session_route() -> template.Route:
    (route,) = [
        route for route in template.routes(template.load()) if route.route_key == "POST /accounts/{id}/sessions"
    ]
    return route


def _activity_event(account: dict[str, Any], device: int, device_id: str | None = None) -> dict[str, Any]:
    path = f"/accounts/{account['id']}/sessions"
    request = events.HttpRequest(
        method="POST",
        path=path,
        headers=[("content-type", "application/json"), ("user-agent", f"Device/{device}")],
        body=json.dumps({"device_id": f"device-{device}" if device_id is None else device_id}).encode(),
    )
    claims = member(account["id"], "owner", sub=account["owner_id"])
    return events.http_event(request, _session_route(), {"id": account["id"]}, claims)


def test_r_terms_3_twenty_concurrent_activities_after_a_publication_record_the_acceptance_once(
    local_tables: Settings,
) -> None:
    created = call("POST", "/signups", body=TRIAL)
    assert created.status == 201, created.body
    account = created.body
    clock.set_now(NOW + timedelta(days=1))
    assert call("POST", "/admin/terms", body={"version": "2026-11-26"}, claims=STAFF).status == 201
    clock.set_now(NOW + timedelta(days=1, hours=1))

    # Each concurrent invocation in an environment of its own, as Lambda (and `make run`) do.
    functions = Functions(template.load(), STACK, max_concurrency=ACTIVITIES)
    with ThreadPoolExecutor(max_workers=ACTIVITIES) as pool:
        # Cold starts first (a refused body writes nothing), so the activities themselves overlap.
        list(
            pool.map(lambda n: functions.invoke("SessionsFunction", _activity_event(account, n, "")), range(ACTIVITIES))
        )
        results = list(
            pool.map(lambda n: functions.invoke("SessionsFunction", _activity_event(account, n)), range(ACTIVITIES))
        )

    assert [result["statusCode"] for result in results] == [201] * ACTIVITIES, results
    assert {json.loads(result["body"])["terms_version"] for result in results} == {"2026-11-26"}
    stored = Account.get(account["id"], consistent_read=True)
    assert (stored.terms_version, stored.terms_acceptance) == ("2026-11-26", "continued_use")
    accepted = [event for event in AuditEvent.query(account["id"]) if event.type == "terms_accepted"]
    assert len(accepted) == 1
    assert accepted[0].details.as_dict() == {"version": "2026-11-26", "how": "continued_use"}
    # The winner's evidence, not a mix of several activities'.
    assert stored.terms_accepted_user_agent in {f"Device/{n}" for n in range(ACTIVITIES)}
    assert len(list(Session.query(account["id"], consistent_read=True))) == ACTIVITIES
