"""A price change's fan-out on DynamoDB Local (R-PAY-9): the sparse by-price index read a page
at a time with one BatchGetItem, one transaction per owner whose conditions AWS's own engine
evaluates, overlapping runs recording each owner once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from lifecycle.billing import price_fanout
from lifecycle.core import clock
from lifecycle.core.settings import Settings
from lifecycle.storage import Account, Claim, Notification, PriceChange
from lifecycle.storage.base import shard_of
from lifecycle.storage.claims import price_notice_claim
from tests.support import run_schedule

pytestmark = [pytest.mark.integration]

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
EFFECTIVE_AT = NOW + timedelta(days=30)
KEY = "ticket#monthly"


@pytest.fixture(autouse=True)
def _frozen_clock() -> object:
    clock.set_now(NOW)
    yield
    clock.set_now(None)


def owner(n: int, **more: object) -> Account:
    account = Account(
        f"acc_{n:03d}",
        status="active",
        plan="ticket",
        billing_period="monthly",
        created_at=NOW - timedelta(days=60),
        owner_email=f"owner{n}@example.com",
        price_key=KEY,
        **more,
    )
    account.save()
    return account


def change(settings: Settings) -> PriceChange:
    item = PriceChange(
        KEY,
        EFFECTIVE_AT,
        id="price_integration",
        plan="ticket",
        billing_period="monthly",
        amount=2500,
        currency="USD",
        previous_amount=1900,
        scheduled_at=NOW,
        scheduled_by="staff-1",
        notified_accounts=0,
        fanout_pending=shard_of("price_integration", settings.sweep_shards),
    )
    item.save()
    return item


def notices_of(account_id: str) -> list[Notification]:
    return [item for item in Notification.query(account_id) if item.type == "price_change_notice"]


def test_r_pay_9_overlapping_fan_outs_record_each_owner_once(
    local_tables: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(price_fanout, "OWNERS_PAGE", 3)
    owners = [owner(n) for n in range(7)]
    saved = change(local_tables)
    stale = PriceChange.get(KEY, EFFECTIVE_AT, consistent_read=True)
    first = price_fanout.fan_out(saved, pages(1))
    assert first == price_fanout.FanoutResult(3, False)
    assert price_fanout.fan_out(stale, lambda: 60_000) == price_fanout.FanoutResult(4, True)
    assert run_schedule("price-fanout")["changed"] == 0
    for account in owners:
        (notice,) = notices_of(account.id)
        assert (notice.price_change_id, notice.sent_at) == ("price_integration", None)
        assert Account.get(account.id, consistent_read=True).price_notices_unsent == {"price_integration"}
        assert Claim.get(price_notice_claim("price_integration", account.id)).ref == notice.id
    stored = PriceChange.get(KEY, EFFECTIVE_AT, consistent_read=True)
    assert (stored.notified_accounts, stored.fanout_pending, stored.fanout_completed_at) == (7, None, NOW)


def pages(n: int) -> Callable[[], int]:
    """A remaining time that lasts for ``n`` pages of the fan-out, then is below the margin."""
    left = iter([60_000] * n)
    return lambda: next(left, 0)


@pytest.mark.parametrize(
    "change_meanwhile",
    [
        [Account.status.set("cancelled")],
        [Account.price_key.set("ticket-chat#monthly")],
        [Account.lifetime.set(True)],
    ],
)
def test_r_pay_9_an_owner_who_stopped_being_one_after_the_read_is_not_recorded(
    local_tables: Settings, change_meanwhile: list[object]
) -> None:
    read = owner(1)
    saved = change(local_tables)
    Account(read.id).update(actions=change_meanwhile)  # type: ignore[arg-type]
    facts = price_fanout._facts(saved)
    assert price_fanout._record(saved, read, facts, NOW) is False
    assert notices_of(read.id) == []
    assert Account.get(read.id, consistent_read=True).price_notices_unsent is None
    assert list(Claim.query(price_notice_claim(saved.id, read.id))) == []
