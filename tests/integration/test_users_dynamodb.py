"""Users and seats on DynamoDB Local: concurrent adds never pass the seat limit (R-USE-3)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifecycle.core import clock
from lifecycle.core.settings import Settings
from lifecycle.storage import Account, AuditEvent, SeatInterval, User
from local_runtime import events, template
from local_runtime.functions import Functions
from tests.support import STACK, call, member
from tests.unit.test_signup import TRIAL, add_voucher, person

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("local_tables")]

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ADDS = 20
FREE_SEATS = 5


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    clock.set_now(NOW)
    yield
    clock.set_now(None)


def _route() -> template.Route:
    (route,) = [route for route in template.routes(template.load()) if route.route_key == "POST /accounts/{id}/users"]
    return route


def _add_event(account: dict[str, Any], n: int, body: dict[str, Any] | None = None) -> dict[str, Any]:
    form = {"full_name": "Petar Georgiev", "email": f"agent{n}@example.com", "role": "agent"}
    request = events.HttpRequest(
        method="POST",
        path=f"/accounts/{account['id']}/users",
        headers=[("content-type", "application/json")],
        body=json.dumps(form if body is None else body).encode(),
    )
    claims = member(account["id"], "owner", sub=account["owner_id"])
    return events.http_event(request, _route(), {"id": account["id"]}, claims)


def test_r_use_3_twenty_concurrent_adds_with_five_free_seats_add_exactly_five(local_tables: Settings) -> None:
    created = call("POST", "/signups", body=TRIAL)
    assert created.status == 201, created.body
    account = created.body
    limit = 1 + FREE_SEATS  # the owner holds one seat
    Account(account["id"]).update(actions=[Account.seat_limit.set(limit)])

    # Each concurrent invocation in an environment of its own, as Lambda (and `make run`) do.
    functions = Functions(template.load(), STACK, max_concurrency=ADDS)
    with ThreadPoolExecutor(max_workers=ADDS) as pool:
        # Cold starts first (a refused body writes nothing), so the adds themselves overlap.
        list(pool.map(lambda n: functions.invoke("UsersFunction", _add_event(account, n, {})), range(ADDS)))
        results = list(pool.map(lambda n: functions.invoke("UsersFunction", _add_event(account, n)), range(ADDS)))

    statuses = [result["statusCode"] for result in results]
    assert statuses.count(201) == FREE_SEATS, results
    assert statuses.count(409) == ADDS - FREE_SEATS, results
    codes = {json.loads(result["body"])["code"] for result in results if result["statusCode"] == 409}
    assert codes == {"seat_limit_reached"}

    stored = Account.get(account["id"], consistent_read=True)
    assert int(stored.seats_used) == limit
    assert len(list(User.query(account["id"], consistent_read=True))) == limit
    added = [event for event in AuditEvent.query(account["id"], consistent_read=True) if event.type == "user_added"]
    assert len(added) == FREE_SEATS
    # A trial includes one seat (the owner's): every added user holds an extra seat.
    billable = [json.loads(result["body"])["billable"] for result in results if result["statusCode"] == 201]
    assert billable == [True] * FREE_SEATS
    assert len(list(SeatInterval.query(account["id"], consistent_read=True))) == FREE_SEATS


def test_r_vouch_5_r_vouch_6_concurrent_adds_across_the_included_seats_bill_exactly_the_extra_ones(
    local_tables: Settings,
) -> None:
    """Which add takes the voucher's last included seat is decided at commit: one is free,
    the others beyond it each open a billable interval."""
    add_voucher("RACE-SEAT-0001", until=NOW + timedelta(days=30))
    created = call("POST", "/redemptions", body=person(code="RACE-SEAT-0001"))
    assert created.status == 201, created.body
    account = created.body
    Account(account["id"]).update(actions=[Account.seat_limit.set(1 + FREE_SEATS)])

    functions = Functions(template.load(), STACK, max_concurrency=ADDS)
    with ThreadPoolExecutor(max_workers=ADDS) as pool:
        list(pool.map(lambda n: functions.invoke("UsersFunction", _add_event(account, n, {})), range(ADDS)))
        results = list(pool.map(lambda n: functions.invoke("UsersFunction", _add_event(account, n)), range(ADDS)))

    added = [json.loads(result["body"]) for result in results if result["statusCode"] == 201]
    assert len(added) == FREE_SEATS, results
    assert sorted(user["billable"] for user in added) == [False] + [True] * (FREE_SEATS - 1)
    billed = {interval.user_id for interval in SeatInterval.query(account["id"], consistent_read=True)}
    assert billed == {user["user_id"] for user in added if user["billable"]}
    stored = Account.get(account["id"], consistent_read=True)
    assert (int(stored.seats_used), int(stored.included_seats_used)) == (1 + FREE_SEATS, 2)
