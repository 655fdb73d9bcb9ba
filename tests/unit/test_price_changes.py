"""``POST /admin/prices`` over moto (R-PAY-9): a price change notifies every affected owner
once and needs 30 days' notice to the second; it applies from the first period starting on
or after its effective instant; owners and staff read the scheduled changes."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lifecycle.billing import pricing
from lifecycle.core import clock
from lifecycle.core.money import Money
from lifecycle.core.settings import get_settings
from lifecycle.storage import AuditEvent, PriceChange
from tests.faults import FaultInjector
from tests.support import STAFF, call, member, outbox_items, owner_of, pay
from tests.unit.test_signup import NOW, PERSON, add_voucher

NOTICE = timedelta(days=30)


pytestmark = pytest.mark.usefixtures("world", "provider_ledger", "outbox")


def sign_up(tag: str, plan: str = "ticket", billing_period: str = "monthly") -> dict[str, Any]:
    body = {
        **PERSON,
        "email": f"{tag}@example.com",
        "company_name": f"Company {tag}",
        "plan": plan,
        "billing_period": billing_period,
    }
    reply = call("POST", "/signups", body=body, source_ip=f"198.51.100.{len(tag)}")
    assert reply.status == 201, reply.body
    return dict(reply.body)


def redeem(tag: str) -> dict[str, Any]:
    add_voucher("LIFE-0000-AAAA")
    body = {**PERSON, "email": f"{tag}@example.com", "company_name": f"Company {tag}", "code": "LIFE-0000-AAAA"}
    reply = call("POST", "/redemptions", body=body, source_ip="198.51.100.99")
    assert reply.status == 201, reply.body
    assert reply.body["lifetime"] is True
    return dict(reply.body)


def schedule(plan: str, effective_at: datetime, amount: int = 2500, **more: Any) -> Any:
    body = {
        "plan": plan,
        "price": {"amount": amount, "currency": "USD"},
        "effective_at": clock.to_iso(effective_at),
        **more,
    }
    return call("POST", "/admin/prices", body=body, claims=STAFF)


def price_notices(outbox: Path) -> Counter[str]:
    """Price change notices per account."""
    return Counter(item["account_id"] for item in outbox_items(outbox) if item["type"] == "price_change_notice")


# ---------------------------------------------------------------- who is notified


def test_r_pay_9_every_affected_owner_gets_exactly_one_notice(outbox: Path) -> None:
    trial = sign_up("trial")
    subscribed = sign_up("subscribed")
    assert pay(subscribed).status == 200
    annual = sign_up("annual", billing_period="annual")
    other_plan = sign_up("other-plan", plan="ticket-chat")

    effective_at = NOW + NOTICE
    reply = schedule("ticket", effective_at)
    assert reply.status == 201, reply.body
    assert reply.body["plan"] == "ticket"
    assert reply.body["billing_period"] == "monthly"
    assert reply.body["price"] == {"amount": 2500, "currency": "USD"}
    assert reply.body["previous_price"] == {"amount": 1900, "currency": "USD"}
    assert reply.body["effective_at"] == clock.to_iso(effective_at)
    assert reply.body["notified_accounts"] == 2
    assert reply.body["id"].startswith("price_")

    assert price_notices(outbox) == Counter({trial["id"]: 1, subscribed["id"]: 1})
    assert annual["id"] not in price_notices(outbox)
    assert other_plan["id"] not in price_notices(outbox)
    (notice,) = [
        item
        for item in outbox_items(outbox)
        if item["type"] == "price_change_notice" and item["account_id"] == trial["id"]
    ]
    assert notice["to"] == "trial@example.com"
    assert notice["subject"] == "The price of the Ticket plan is changing"
    assert "From 25 December 2026, 12:00 UTC" in notice["body"]
    assert "25.00 USD per seat a month instead of 19.00 USD per seat a month" in notice["body"]
    assert notice["created_at"] == clock.to_iso(NOW)

    # The notices are listed to the owner, and the change is kept with when they were recorded.
    listed = call("GET", f"/accounts/{trial['id']}/notifications", claims=owner_of(trial))
    assert [item["type"] for item in listed.body["items"]].count("price_change_notice") == 1
    stored = PriceChange.get("ticket#monthly", effective_at)
    assert (stored.notices_recorded_at, stored.notified_accounts, stored.scheduled_by) == (NOW, 2, "staff-1")
    assert stored.effective_at - stored.notices_recorded_at >= NOTICE


def test_r_pay_9_lifetime_voucher_accounts_are_not_notified(outbox: Path) -> None:
    lifetime = redeem("lifetime")
    trial = sign_up("all-in", plan="all-inclusive")
    reply = schedule("all-inclusive", NOW + NOTICE, amount=4500)
    assert reply.status == 201, reply.body
    assert reply.body["notified_accounts"] == 1
    assert reply.body["previous_price"] == {"amount": 3900, "currency": "USD"}
    assert price_notices(outbox) == Counter({trial["id"]: 1})
    assert lifetime["id"] not in price_notices(outbox)


def test_r_pay_9_annual_prices_are_changed_and_announced_per_year(outbox: Path) -> None:
    annual = sign_up("annual", billing_period="annual")
    sign_up("monthly")
    reply = schedule("ticket", NOW + NOTICE, amount=21_000, billing_period="annual")
    assert reply.status == 201, reply.body
    assert reply.body["previous_price"] == {"amount": 19_000, "currency": "USD"}
    assert price_notices(outbox) == Counter({annual["id"]: 1})
    (notice,) = [item for item in outbox_items(outbox) if item["type"] == "price_change_notice"]
    assert "210.00 USD per seat a year instead of 190.00 USD per seat a year" in notice["body"]


# ---------------------------------------------------------------- the notice period


@pytest.mark.parametrize(("notice", "status"), [(NOTICE, 201), (NOTICE - timedelta(seconds=1), 422)])
def test_r_pay_9_the_price_takes_effect_30_days_after_the_notice_to_the_second(
    outbox: Path, notice: timedelta, status: int
) -> None:
    account = sign_up("owner")
    reply = schedule("ticket", NOW + notice)
    assert reply.status == status, reply.body
    if status == 422:
        assert reply.code == "notice_too_short"
        assert clock.to_iso(NOW + NOTICE) in reply.body["detail"]
        # Refused before anything was sent or saved.
        assert price_notices(outbox) == Counter()
        assert list(PriceChange.query("ticket#monthly")) == []
    else:
        assert price_notices(outbox) == Counter({account["id"]: 1})


def test_r_pay_9_one_change_per_plan_and_instant_and_the_second_sends_nothing(outbox: Path) -> None:
    account = sign_up("owner")
    assert schedule("ticket", NOW + NOTICE).status == 201
    again = schedule("ticket", NOW + NOTICE, amount=2700)
    assert (again.status, again.code) == (409, "conflict")
    assert price_notices(outbox) == Counter({account["id"]: 1})
    assert PriceChange.get("ticket#monthly", NOW + NOTICE).amount == 2500


# ---------------------------------------------------------------- who may schedule


def test_r_pay_9_only_staff_schedule_prices(outbox: Path) -> None:
    account = sign_up("owner")
    body = {"plan": "ticket", "price": {"amount": 2500, "currency": "USD"}, "effective_at": "2027-06-01T00:00:00Z"}
    as_owner = call("POST", "/admin/prices", body=body, claims=owner_of(account))
    assert (as_owner.status, as_owner.code) == (403, "forbidden")
    anonymous = call("POST", "/admin/prices", body=body)
    assert (anonymous.status, anonymous.code) == (401, "unauthorized")
    assert call("GET", "/admin/prices", claims=owner_of(account)).status == 403
    assert price_notices(outbox) == Counter()
    assert list(PriceChange.query("ticket#monthly")) == []


@pytest.mark.parametrize(
    "change",
    [
        {"price": {"amount": 2500, "currency": "EUR"}},
        {"price": {"amount": -1, "currency": "USD"}},
        {"price": {"amount": 25.0, "currency": "USD"}},
        {"effective_at": "2027-06-01T00:00:00"},
        {"plan": "gold"},
        {"billing_period": "weekly"},
    ],
)
def test_r_pay_9_a_malformed_change_is_refused(change: dict[str, Any], outbox: Path) -> None:
    sign_up("owner")
    body = {"plan": "ticket", "price": {"amount": 2500, "currency": "USD"}, "effective_at": "2027-06-01T00:00:00Z"}
    reply = call("POST", "/admin/prices", body={**body, **change}, claims=STAFF)
    assert (reply.status, reply.code) == (422, "validation_error")
    assert price_notices(outbox) == Counter()


# ---------------------------------------------------------------- reading


def test_r_pay_9_staff_list_the_scheduled_changes() -> None:
    assert schedule("ticket", NOW + NOTICE + timedelta(days=10), amount=2700).status == 201
    assert schedule("ticket", NOW + NOTICE).status == 201
    assert schedule("all-inclusive", NOW + NOTICE, amount=4500, billing_period="annual").status == 201
    with FaultInjector() as counted:
        listed = call("GET", "/admin/prices", claims=STAFF)
    assert listed.status == 200, listed.body
    assert counted.operations() == ["Scan"]  # one read of the small price table (round-trip budget)
    assert [(item["plan"], item["billing_period"], item["price"]["amount"]) for item in listed.body["items"]] == [
        ("ticket", "monthly", 2500),
        ("ticket", "monthly", 2700),
        ("all-inclusive", "annual", 4500),
    ]
    # The later change follows the earlier one's price.
    assert listed.body["items"][1]["previous_price"]["amount"] == 2500


def test_r_pay_9_owners_read_the_coming_changes_of_their_plan() -> None:
    account = sign_up("owner")
    other = sign_up("other", plan="ticket-chat")
    effective_at = NOW + NOTICE
    assert schedule("ticket", effective_at).status == 201

    coming = call("GET", f"/accounts/{account['id']}/price-changes", claims=member(account["id"], "agent"))
    assert coming.status == 200, coming.body
    assert coming.body["items"] == [
        {
            "plan": "ticket",
            "billing_period": "monthly",
            "price": {"amount": 2500, "currency": "USD"},
            "previous_price": {"amount": 1900, "currency": "USD"},
            "effective_at": clock.to_iso(effective_at),
        }
    ]
    assert call("GET", f"/accounts/{other['id']}/price-changes", claims=owner_of(other)).body["items"] == []
    stranger = call("GET", f"/accounts/{account['id']}/price-changes", claims=owner_of(other))
    assert (stranger.status, stranger.code) == (404, "not_found")

    # Staff reads are audited (R-USE-4).
    assert call("GET", f"/accounts/{account['id']}/price-changes", claims=STAFF).status == 200
    assert "staff_access" in [event.type for event in AuditEvent.query(account["id"])]

    # In force: no longer coming.
    clock.set_now(effective_at)
    assert call("GET", f"/accounts/{account['id']}/price-changes", claims=owner_of(account)).body["items"] == []


# ---------------------------------------------------------------- when the price applies


def test_r_pay_9_the_new_price_applies_from_the_first_period_starting_at_or_after_it() -> None:
    effective_at = NOW + NOTICE
    assert schedule("ticket", effective_at).status == 201
    settings = get_settings()
    old, new = Money(amount=1900, currency="USD"), Money(amount=2500, currency="USD")
    assert pricing.seat_price("ticket", "monthly", effective_at - timedelta(seconds=1), settings) == old
    assert pricing.seat_price("ticket", "monthly", effective_at, settings) == new
    assert pricing.seat_price("ticket", "monthly", effective_at + timedelta(days=400), settings) == new
    # Other billing periods and plans keep their prices.
    assert pricing.seat_price("ticket", "annual", effective_at, settings).amount == 19_000
    assert pricing.seat_price("ticket-chat", "monthly", effective_at, settings).amount == 2900


def test_r_pay_9_within_one_read_each_plans_prices_are_one_query_and_the_same_prices() -> None:
    first, second = NOW + NOTICE, NOW + NOTICE + timedelta(days=90)
    assert schedule("ticket", first).status == 201
    assert schedule("ticket", second, amount=3100).status == 201
    settings = get_settings()
    asked = [NOW, first - timedelta(seconds=1), first, second - timedelta(seconds=1), second, second + 400 * NOTICE]
    one_by_one = [pricing.seat_price("ticket", "monthly", at, settings) for at in asked]
    assert [price.amount for price in one_by_one] == [1900, 1900, 2500, 2500, 3100, 3100]
    with FaultInjector() as counted, pricing.one_read():
        memoised = [pricing.seat_price("ticket", "monthly", at, settings) for at in asked]
        other_plan = pricing.seat_price("ticket-chat", "monthly", second, settings)
    assert memoised == one_by_one
    assert other_plan.amount == 2900
    assert counted.operations() == ["Query", "Query"]  # one per price key asked


def test_an_instant_outside_the_calendar_is_a_validation_error_not_a_500() -> None:
    """Found by fuzzing: an offset at the calendar's edge has no UTC instant."""
    body = {"plan": "free", "price": {"amount": 0, "currency": "USD"}, "effective_at": "0001-01-01T00:00:00+00:01"}
    reply = call("POST", "/admin/prices", body=body, claims=STAFF)
    assert (reply.status, reply.code) == (422, "validation_error"), reply.body
    assert [error["field"] for error in reply.body["errors"]] == ["effective_at"]
