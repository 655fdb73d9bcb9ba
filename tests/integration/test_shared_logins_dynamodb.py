"""Shared logins on DynamoDB Local: activities that cross the threshold at the same moment
mark the period's fee once and notify the owner once (R-USE-1, R-USE-2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lifecycle.accounts import terms
from lifecycle.core import clock
from lifecycle.core.settings import Settings, get_settings
from lifecycle.storage import Notification, SharedLoginDetection
from local_runtime import events, template
from local_runtime.functions import Functions
from tests.conftest import point_service_at
from tests.support import STACK, call, member, outbox_items
from tests.unit.test_signup import TRIAL

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("local_tables")]

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
USERS = 5
DEVICES = 4  # per user, all at once: more than the allowance of 2


@pytest.fixture(autouse=True)
def _clock() -> Iterator[None]:
    terms._cache_clear()
    clock.set_now(NOW)
    yield
    clock.set_now(None)
    terms._cache_clear()


@pytest.fixture
def outbox(local_tables: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "outbox.jsonl"
    point_service_at({"LOCAL_OUTBOX_PATH": str(path)}, monkeypatch)
    yield path
    get_settings.cache_clear()


def _claims(account: dict[str, Any], user: int) -> dict[str, str]:
    if user == 0:
        return member(account["id"], "owner", sub=account["owner_id"])
    return member(account["id"], "agent", sub=f"usr_agent{user}")


def _session_event(account: dict[str, Any], user: int, device: int) -> dict[str, Any]:
    (route,) = [r for r in template.routes(template.load()) if r.route_key == "POST /accounts/{id}/sessions"]
    request = events.HttpRequest(
        method="POST",
        path=f"/accounts/{account['id']}/sessions",
        headers=[("content-type", "application/json")],
        body=json.dumps({"device_id": f"user{user}-device{device}"}).encode(),
        source_ip=f"198.51.{100 + device}.{user + 1}",
    )
    return events.http_event(request, route, {"id": account["id"]}, _claims(account, user))


def _shared_day(account: dict[str, Any], user: int, day: date) -> None:
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)
    for device in range(3):
        clock.set_now(start + timedelta(minutes=device))
        body = {"device_id": f"user{user}-device{device}"}
        reply = call("POST", f"/accounts/{account['id']}/sessions", body=body, claims=_claims(account, user))
        assert reply.status == 201, reply.body


def test_r_use_2_users_crossing_the_threshold_at_the_same_moment_mark_one_fee_and_one_notice(
    outbox: Path,
) -> None:
    created = call("POST", "/signups", body=TRIAL)
    assert created.status == 201, created.body
    account = created.body
    for user in range(USERS):
        for day in (date(2026, 11, 26), date(2026, 12, 3)):
            _shared_day(account, user, day)
    assert [item for item in SharedLoginDetection.query(account["id"]) if item.kind == "fee"] == []

    # The third day: every user's devices at one instant, each invocation in an environment of its own.
    clock.set_now(datetime(2026, 12, 10, 9, 0, tzinfo=UTC))
    batch = [(user, device) for device in range(DEVICES) for user in range(USERS)]
    functions = Functions(template.load(), STACK, max_concurrency=len(batch))
    with ThreadPoolExecutor(max_workers=len(batch)) as pool:
        results = list(
            pool.map(lambda pair: functions.invoke("SessionsFunction", _session_event(account, *pair)), batch)
        )

    assert [result["statusCode"] for result in results] == [201] * len(batch), results
    stored = list(SharedLoginDetection.query(account["id"], consistent_read=True))
    (fee,) = [item for item in stored if item.kind == "fee"]
    assert (fee.status, fee.amount, fee.detection_days) == ("pending", 3900, 3)
    assert fee.users == {account["owner_id"], *(f"usr_agent{user}" for user in range(1, USERS))}
    third_days = [item for item in stored if item.kind == "detection" and item.day == "2026-12-10"]
    assert len(third_days) == USERS  # one detection day per user, however many activities found it
    notices = [item for item in Notification.query(account["id"]) if item.type == "shared_login_detected"]
    assert [notice.id for notice in notices] == [fee.notice_id]
    sent = outbox_items(outbox)
    assert [item["id"] for item in sent if item["type"] == "shared_login_detected"] == [fee.notice_id]
