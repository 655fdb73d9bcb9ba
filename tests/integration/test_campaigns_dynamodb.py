"""The campaigns function on DynamoDB Local: stored state, conflicts, idempotency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from lifecycle.core.settings import Settings
from lifecycle.storage import Campaign
from tests.support import STAFF, call
from tests.unit.test_campaigns import TERMS_DEAL

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("local_tables")]


def test_a_campaign_is_stored_in_dynamodb_and_read_back(local_tables: Settings) -> None:
    created = call("POST", "/admin/campaigns", body={**TERMS_DEAL, "time_zone": "Europe/Sofia"}, claims=STAFF)
    assert created.status == 201
    stored = Campaign.get("appsumo-2019", consistent_read=True)
    assert stored.Meta.table_name == local_tables.campaigns_table
    assert (stored.price_amount, stored.time_zone, stored.created_by) == (5900, "Europe/Sofia", "staff-1")
    assert created.body["redeem_by"] == "2019-11-30T21:59:59Z"
    assert call("GET", "/admin/campaigns/appsumo-2019", claims=STAFF).body == created.body


def test_concurrent_creates_of_one_id_make_exactly_one_campaign() -> None:
    """The conditional put holds under a race: one 201, every other attempt 409."""
    bodies = [{**TERMS_DEAL, "name": f"attempt {n}"} for n in range(12)]
    with ThreadPoolExecutor(max_workers=12) as pool:
        replies = list(pool.map(lambda body: call("POST", "/admin/campaigns", body=body, claims=STAFF), bodies))
    statuses = sorted(reply.status for reply in replies)
    assert statuses == [201] + [409] * 11
    winner = next(reply for reply in replies if reply.status == 201)
    assert Campaign.get("appsumo-2019").name == winner.body["name"]


def test_idempotent_retry_is_answered_from_the_idempotency_table() -> None:
    key = {"idempotency-key": "retry-1"}
    first = call("POST", "/admin/campaigns", body=TERMS_DEAL, claims=STAFF, headers=key)
    second = call("POST", "/admin/campaigns", body=TERMS_DEAL, claims=STAFF, headers=key)
    assert (first.status, second.status) == (201, 201)
    assert second.body == first.body
    other = call("POST", "/admin/campaigns", body={**TERMS_DEAL, "name": "x"}, claims=STAFF, headers=key)
    assert (other.status, other.code) == (409, "idempotency_key_reused")
