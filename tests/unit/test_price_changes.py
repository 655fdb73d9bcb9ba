"""``POST /admin/prices`` over moto (R-PAY-9): a price change needs 30 days' notice to the
second and is saved at once; its fan-out then records one notice per affected owner; it applies
to each owner from the first period starting at or after its effective instant and 30 days
after their own notice was sent; owners and staff read the scheduled changes."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lifecycle.billing import price_fanout, pricing
from lifecycle.core import clock
from lifecycle.core.money import Money
from lifecycle.core.settings import get_settings
from lifecycle.storage import Account, AuditEvent, Notification, PriceChange
from tests.faults import Fault, FaultInjector
from tests.support import STAFF, _context, _handler, call, member, owner_of, pay, run_schedule
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


def price_notices(_outbox: Path | None = None) -> Counter[str]:
    """Price change notice records per account (sending them is the notifier's)."""
    return Counter(item.account_id for item in Notification.scan() if item.type == "price_change_notice")


def fan_out_all() -> dict[str, Any]:
    """The ``price-fanout`` schedule, as EventBridge fires it: every pending fan-out run to its end."""
    return run_schedule("price-fanout")


def mark_sent(account_id: str, change_id: str, at: datetime) -> None:
    """The notifier's sent mark (one transaction with the notice's): unsent id out, "id@instant" in."""
    Account(account_id).update(
        actions=[
            Account.price_notices_unsent.delete({change_id}),
            Account.price_notices_sent.add({f"{change_id}@{clock.to_iso(at)}"}),
        ]
    )


# ---------------------------------------------------------------- who is notified


def test_r_pay_9_every_affected_owner_gets_exactly_one_notice() -> None:
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
    assert (reply.body["notified_accounts"], reply.body["fanout"], reply.body["fanout_completed_at"]) == (
        0,
        "pending",
        None,
    )
    assert reply.body["id"].startswith("price_")
    assert price_notices() == Counter()

    assert fan_out_all()["changed"] == 1
    assert price_notices() == Counter({trial["id"]: 1, subscribed["id"]: 1})
    assert annual["id"] not in price_notices()
    assert other_plan["id"] not in price_notices()
    (notice,) = [item for item in Notification.query(trial["id"]) if item.type == "price_change_notice"]
    assert notice.to == "trial@example.com"
    assert notice.subject == "The price of the Ticket plan is changing"
    assert "From 25 December 2026, 12:00 UTC" in notice.body
    assert "25.00 USD per seat a month instead of 19.00 USD per seat a month" in notice.body
    assert (notice.created_at, notice.sent_at, notice.price_change_id) == (NOW, None, reply.body["id"])
    # Recorded unsent on the owner, for the notifier to mark sent.
    assert Account.get(trial["id"]).price_notices_unsent == {reply.body["id"]}
    assert Account.get(annual["id"]).price_notices_unsent is None

    # The notices are listed to the owner; staff see the fan-out complete with its count.
    listed = call("GET", f"/accounts/{trial['id']}/notifications", claims=owner_of(trial))
    assert [item["type"] for item in listed.body["items"]].count("price_change_notice") == 1
    (shown,) = call("GET", "/admin/prices", claims=STAFF).body["items"]
    assert (shown["notified_accounts"], shown["fanout"], shown["fanout_completed_at"]) == (
        2,
        "complete",
        clock.to_iso(NOW),
    )
    stored = PriceChange.get("ticket#monthly", effective_at)
    assert (stored.notified_accounts, stored.scheduled_by, stored.fanout_pending) == (2, "staff-1", None)


def test_r_pay_9_the_request_answers_at_once_and_records_nothing_per_owner() -> None:
    owners = [sign_up(f"owner-{n}") for n in range(6)]
    with FaultInjector() as counted:
        reply = schedule("ticket", NOW + NOTICE)
    assert reply.status == 201, reply.body
    # Whatever the number of owners: the plan's changes (the price it replaces), then the Put
    # whose condition is the conflict check. No owner is read or written.
    assert [(c.operation, c.tables) for c in counted.calls] == [
        ("Query", ("helpdesk-local-PricesTable",)),
        ("PutItem", ("helpdesk-local-PricesTable",)),
    ]
    assert price_notices() == Counter()
    assert all(Account.get(o["id"]).price_notices_unsent is None for o in owners)
    assert PriceChange.get("ticket#monthly", NOW + NOTICE).fanout_pending is not None


def test_r_pay_9_the_fan_out_run_twice_records_each_owner_once() -> None:
    owners = [sign_up(f"owner-{n}") for n in range(5)]
    assert schedule("ticket", NOW + NOTICE).status == 201
    first = PriceChange.get("ticket#monthly", NOW + NOTICE)
    second = PriceChange.get("ticket#monthly", NOW + NOTICE)  # a second run that read it at the same time
    assert price_fanout.fan_out(first, lambda: 60_000) == price_fanout.FanoutResult(5, True)
    assert price_fanout.fan_out(second, lambda: 60_000) == price_fanout.FanoutResult(0, True)
    assert fan_out_all()["changed"] == 0
    assert price_notices() == Counter({o["id"]: 1 for o in owners})
    stored = PriceChange.get("ticket#monthly", NOW + NOTICE)
    assert (stored.notified_accounts, stored.fanout_complete) == (5, True)
    assert all(Account.get(o["id"]).price_notices_unsent == {stored.id} for o in owners)


def test_r_pay_9_overlapping_fan_outs_record_each_owner_once_and_count_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(price_fanout, "OWNERS_PAGE", 2)
    owners = [sign_up(f"owner-{n}") for n in range(5)]
    assert schedule("ticket", NOW + NOTICE).status == 201
    stale = PriceChange.get("ticket#monthly", NOW + NOTICE)
    # Run A does one page, then run B (which read the change before A moved it) does all.
    a = price_fanout.fan_out(PriceChange.get("ticket#monthly", NOW + NOTICE), pages(1))
    b = price_fanout.fan_out(stale, lambda: 60_000)
    assert (a, b) == (price_fanout.FanoutResult(2, False), price_fanout.FanoutResult(3, True))
    assert price_notices() == Counter({o["id"]: 1 for o in owners})
    assert PriceChange.get("ticket#monthly", NOW + NOTICE).notified_accounts == 5


def pages(n: int) -> Any:
    """A remaining time that lasts for ``n`` pages of the fan-out, then is below the margin."""
    left = iter([60_000] * n)
    return lambda: next(left, 0)


def test_r_pay_9_a_fan_out_cut_off_resumes_from_its_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(price_fanout, "OWNERS_PAGE", 2)
    owners = [sign_up(f"owner-{n}") for n in range(5)]
    assert schedule("ticket", NOW + NOTICE).status == 201
    change = PriceChange.get("ticket#monthly", NOW + NOTICE)
    assert price_fanout.fan_out(change, pages(2)) == price_fanout.FanoutResult(4, False)
    stored = PriceChange.get("ticket#monthly", NOW + NOTICE)
    assert stored.notified_accounts == 4
    assert stored.fanout_cursor is not None
    assert stored.fanout_pending is not None
    # Handed on: the schedule resumes it at once, and only the rest is read and recorded.
    assert stored.fanout_progress_at is None
    (shown,) = call("GET", "/admin/prices", claims=STAFF).body["items"]
    assert (shown["notified_accounts"], shown["fanout"]) == (4, "pending")
    with FaultInjector() as counted:
        assert fan_out_all()["changed"] == 1
    assert sum(c.items for c in counted.calls if c.operation == "TransactWriteItems") == 3  # one owner, 3 items
    assert price_notices() == Counter({o["id"]: 1 for o in owners})
    stored = PriceChange.get("ticket#monthly", NOW + NOTICE)
    assert (stored.notified_accounts, stored.fanout_complete, stored.fanout_cursor) == (5, True, None)


def test_r_pay_9_an_owner_whose_notice_failed_is_recorded_by_the_next_run_and_counted_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(price_fanout, "OWNERS_PAGE", 2)
    owners = [sign_up(f"owner-{n}") for n in range(3)]
    assert schedule("ticket", NOW + NOTICE).status == 201
    throttled = Fault("ProvisionedThroughputExceededException", operation="TransactWriteItems", at=2)
    with FaultInjector(throttled):
        summary = fan_out_all()
    assert (summary["changed"], summary["errors"]) == (0, 1)  # the run's errors: its alarm
    stored = PriceChange.get("ticket#monthly", NOW + NOTICE)
    assert (stored.notified_accounts, stored.fanout_cursor, stored.fanout_complete) == (1, None, False)
    # Left to the run that was moving it for a while; then resumed before the failed page.
    assert fan_out_all()["changed"] == 0
    clock.set_now(NOW + price_fanout.STALLED_AFTER + timedelta(seconds=1))
    assert fan_out_all() == {"examined": 1, "changed": 1, "errors": 0, "next": None}
    assert price_notices() == Counter({o["id"]: 1 for o in owners})
    assert PriceChange.get("ticket#monthly", NOW + NOTICE).notified_accounts == 3


def test_r_pay_9_a_fan_out_a_live_run_is_moving_is_left_to_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(price_fanout, "OWNERS_PAGE", 2)
    [sign_up(f"owner-{n}") for n in range(3)]
    assert schedule("ticket", NOW + NOTICE).status == 201
    change = PriceChange.get("ticket#monthly", NOW + NOTICE)
    # A run that moved one page and then stopped without handing on (a crash).
    price_fanout._moved_on(change, None, 0, NOW)
    assert fan_out_all()["changed"] == 0
    clock.set_now(NOW + price_fanout.STALLED_AFTER + timedelta(seconds=1))
    assert fan_out_all()["changed"] == 1
    assert PriceChange.get("ticket#monthly", NOW + NOTICE).notified_accounts == 3


def test_r_pay_9_the_stream_insert_starts_the_fan_out_and_its_own_updates_do_not() -> None:
    owner = sign_up("owner")
    assert schedule("ticket", NOW + NOTICE).status == 201
    keys = {
        "price_key": {"S": "ticket#monthly"},
        "effective_at": {"S": PriceChange.effective_at.serialize(NOW + NOTICE)},
    }
    event = {"Records": [{"eventName": "MODIFY", "dynamodb": {"Keys": keys}}]}
    assert price_fanout.stream_keys(event) == []
    event = {"Records": [{"eventName": "INSERT", "dynamodb": {"Keys": keys}}]}
    assert price_fanout.stream_keys(event) == [("ticket#monthly", NOW + NOTICE)]
    assert price_fanout.on_saved("ticket#monthly", NOW + NOTICE, lambda: 60_000, get_settings()).complete
    assert price_notices() == Counter({owner["id"]: 1})


def test_r_pay_9_the_function_fans_out_a_change_its_stream_batch_inserted() -> None:
    """PriceFanoutFunction's handler given Lambda's DynamoDB event of the Prices stream."""
    owner = sign_up("owner")
    assert schedule("ticket", NOW + NOTICE).status == 201
    stored = PriceChange.effective_at.serialize(NOW + NOTICE)
    record = {
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "dynamodb": {"Keys": {"price_key": {"S": "ticket#monthly"}, "effective_at": {"S": stored}}},
    }
    handler, context = _handler("PriceFanoutFunction"), _context("PriceFanoutFunction")
    # An owner's notice that cannot be recorded fails the batch: Lambda retries it.
    throttled = Fault("ProvisionedThroughputExceededException", operation="TransactWriteItems")
    with FaultInjector(throttled), pytest.raises(RuntimeError, match="1 owners' price notices not recorded"):
        handler({"Records": [record]}, context)
    assert price_notices() == Counter()
    assert handler({"Records": [record]}, context) == {"complete": 1}
    assert price_notices() == Counter({owner["id"]: 1})


def test_r_pay_9_an_owner_who_left_the_plan_or_ended_is_not_notified() -> None:
    moved = sign_up("moved")
    ended = sign_up("ended")
    kept = sign_up("kept")
    assert schedule("ticket", NOW + NOTICE).status == 201
    Account(moved["id"]).update(actions=[Account.price_key.set("ticket-chat#monthly")])
    Account(ended["id"]).update(actions=[Account.status.set("cancelled")])
    fan_out_all()
    assert price_notices() == Counter({kept["id"]: 1})
    assert PriceChange.get("ticket#monthly", NOW + NOTICE).notified_accounts == 1


def test_r_pay_9_lifetime_voucher_accounts_are_not_notified() -> None:
    lifetime = redeem("lifetime")
    trial = sign_up("all-in", plan="all-inclusive")
    reply = schedule("all-inclusive", NOW + NOTICE, amount=4500)
    assert reply.status == 201, reply.body
    assert reply.body["previous_price"] == {"amount": 3900, "currency": "USD"}
    fan_out_all()
    assert price_notices() == Counter({trial["id"]: 1})
    assert lifetime["id"] not in price_notices()
    assert PriceChange.get("all-inclusive#monthly", NOW + NOTICE).notified_accounts == 1


def test_r_pay_9_annual_prices_are_changed_and_announced_per_year() -> None:
    annual = sign_up("annual", billing_period="annual")
    sign_up("monthly")
    reply = schedule("ticket", NOW + NOTICE, amount=21_000, billing_period="annual")
    assert reply.status == 201, reply.body
    assert reply.body["previous_price"] == {"amount": 19_000, "currency": "USD"}
    fan_out_all()
    assert price_notices() == Counter({annual["id"]: 1})
    (notice,) = [item for item in Notification.scan() if item.type == "price_change_notice"]
    assert "210.00 USD per seat a year instead of 190.00 USD per seat a year" in notice.body


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
        fan_out_all()
        assert price_notices() == Counter({account["id"]: 1})


def test_r_pay_9_one_change_per_plan_and_instant_and_the_second_sends_nothing(outbox: Path) -> None:
    account = sign_up("owner")
    assert schedule("ticket", NOW + NOTICE).status == 201
    again = schedule("ticket", NOW + NOTICE, amount=2700)
    assert (again.status, again.code) == (409, "conflict")
    fan_out_all()
    assert price_notices() == Counter({account["id"]: 1})
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
    change_id = schedule("ticket", effective_at).body["id"]
    fan_out_all()
    expected = {
        "plan": "ticket",
        "billing_period": "monthly",
        "price": {"amount": 2500, "currency": "USD"},
        "previous_price": {"amount": 1900, "currency": "USD"},
        "effective_at": clock.to_iso(effective_at),
        "notice_sent_at": None,
    }

    coming = call("GET", f"/accounts/{account['id']}/price-changes", claims=member(account["id"], "agent"))
    assert coming.status == 200, coming.body
    assert coming.body["items"] == [expected]
    # Unsent a day on: it cannot apply before 30 days from now.
    clock.set_now(NOW + timedelta(days=1))
    coming = call("GET", f"/accounts/{account['id']}/price-changes", claims=owner_of(account))
    assert coming.body["items"] == [{**expected, "effective_at": clock.to_iso(NOW + timedelta(days=1) + NOTICE)}]
    # Sent then: this owner's own effective time is 30 days after it.
    mark_sent(account["id"], change_id, NOW + timedelta(days=1))
    coming = call("GET", f"/accounts/{account['id']}/price-changes", claims=owner_of(account))
    assert coming.body["items"] == [
        {
            **expected,
            "effective_at": clock.to_iso(NOW + timedelta(days=1) + NOTICE),
            "notice_sent_at": clock.to_iso(NOW + timedelta(days=1)),
        }
    ]
    assert call("GET", f"/accounts/{other['id']}/price-changes", claims=owner_of(other)).body["items"] == []
    stranger = call("GET", f"/accounts/{account['id']}/price-changes", claims=owner_of(other))
    assert (stranger.status, stranger.code) == (404, "not_found")

    # Staff reads are audited (R-USE-4).
    assert call("GET", f"/accounts/{account['id']}/price-changes", claims=STAFF).status == 200
    assert "staff_access" in [event.type for event in AuditEvent.query(account["id"])]

    # In force for this owner: no longer coming.
    clock.set_now(NOW + timedelta(days=1) + NOTICE)
    assert call("GET", f"/accounts/{account['id']}/price-changes", claims=owner_of(account)).body["items"] == []


# ---------------------------------------------------------------- when the price applies


def test_r_pay_9_the_list_price_applies_from_the_first_period_starting_at_or_after_it() -> None:
    effective_at = NOW + NOTICE
    assert schedule("ticket", effective_at).status == 201
    settings = get_settings()
    old, new = Money(amount=1900, currency="USD"), Money(amount=2500, currency="USD")
    assert pricing.seat_price("ticket", "monthly", effective_at - timedelta(seconds=1), settings, None) == old
    assert pricing.seat_price("ticket", "monthly", effective_at, settings, None) == new
    assert pricing.seat_price("ticket", "monthly", effective_at + timedelta(days=400), settings, None) == new
    # Other billing periods and plans keep their prices.
    assert pricing.seat_price("ticket", "annual", effective_at, settings, None).amount == 19_000
    assert pricing.seat_price("ticket-chat", "monthly", effective_at, settings, None).amount == 2900


def test_r_pay_9_within_one_read_each_plans_prices_are_one_query_and_the_same_prices() -> None:
    first, second = NOW + NOTICE, NOW + NOTICE + timedelta(days=90)
    assert schedule("ticket", first).status == 201
    assert schedule("ticket", second, amount=3100).status == 201
    fan_out_all()
    settings = get_settings()
    notified = pricing.PriceNotices(sent={c.id: NOW for c in PriceChange.query("ticket#monthly")})
    asked = [NOW, first - timedelta(seconds=1), first, second - timedelta(seconds=1), second, second + 400 * NOTICE]
    one_by_one = [pricing.seat_price("ticket", "monthly", at, settings, notified) for at in asked]
    assert [price.amount for price in one_by_one] == [1900, 1900, 2500, 2500, 3100, 3100]
    with FaultInjector() as counted, pricing.one_read():
        memoised = [pricing.seat_price("ticket", "monthly", at, settings, notified) for at in asked]
        other_plan = pricing.seat_price("ticket-chat", "monthly", second, settings, notified)
    assert memoised == one_by_one
    assert other_plan.amount == 2900
    assert counted.operations() == ["Query", "Query"]  # one per price key asked


# ---------------------------------------------------------------- R-PAY-9 per owner

DAY = timedelta(days=1)
# Two subscriptions paid at NOW renew on 25 December 12:00 (NOW + 30 days), then 25 January 12:00.
FIRST_END = NOW + NOTICE
SECOND_END = datetime(2027, 1, 25, 12, tzinfo=UTC)


def two_owners_notified_on_days_0_and_5() -> tuple[dict[str, Any], dict[str, Any], str]:
    first, second = sign_up("first"), sign_up("second")
    assert pay(first).status == 200
    assert pay(second).status == 200
    change_id = schedule("ticket", FIRST_END).body["id"]
    fan_out_all()
    mark_sent(first["id"], change_id, NOW)
    mark_sent(second["id"], change_id, NOW + 5 * DAY)
    return first, second, change_id


def test_r_pay_9_each_owner_s_price_applies_30_days_after_their_own_notice_at_renewal() -> None:
    first, second, _ = two_owners_notified_on_days_0_and_5()
    clock.set_now(FIRST_END + timedelta(hours=1))
    assert run_schedule("billing-run")["changed"] == 2
    renewal_price = {o["id"]: renewal_prices(o)[-1] for o in (first, second)}
    assert renewal_price == {first["id"]: 2500, second["id"]: 1900}
    clock.set_now(SECOND_END + timedelta(hours=1))
    run_schedule("billing-run")
    assert renewal_prices(second)[-1] == 2500


def renewal_prices(account: dict[str, Any]) -> list[int]:
    reply = call("GET", f"/accounts/{account['id']}/invoices", claims=owner_of(account))
    ordered = sorted(reply.body["items"], key=lambda invoice: str(invoice["number"]))
    return [invoice["lines"][0]["unit_price"]["amount"] for invoice in ordered]


def test_r_pay_9_the_second_owner_s_price_applies_from_day_35() -> None:
    first, second, _ = two_owners_notified_on_days_0_and_5()
    settings = get_settings()
    notices_of = {o["id"]: pricing.PriceNotices.of(Account.get(o["id"])) for o in (first, second)}
    price = lambda account, at: pricing.seat_price("ticket", "monthly", at, settings, notices_of[account["id"]]).amount  # noqa: E731
    assert (price(first, FIRST_END - timedelta(seconds=1)), price(first, FIRST_END)) == (1900, 2500)
    day_35 = NOW + 35 * DAY
    assert (price(second, FIRST_END), price(second, day_35 - timedelta(seconds=1)), price(second, day_35)) == (
        1900,
        1900,
        2500,
    )


def test_r_pay_9_each_owner_s_price_applies_30_days_after_their_own_notice_in_the_plan_change_preview() -> None:
    first, second, _ = two_owners_notified_on_days_0_and_5()
    clock.set_now(NOW + 6 * DAY)
    shown = {
        o["id"]: call("POST", f"/accounts/{o['id']}/subscription/preview", body={"seats": 2}, claims=owner_of(o))
        for o in (first, second)
    }
    assert all(reply.status == 200 for reply in shown.values()), shown
    unit = {key: reply.body["next_invoice"]["lines"][0]["unit_price"]["amount"] for key, reply in shown.items()}
    assert unit == {first["id"]: 2500, second["id"]: 1900}


def test_r_pay_9_a_notice_recorded_but_unsent_keeps_the_old_price() -> None:
    owner = sign_up("owner")
    assert pay(owner).status == 200
    schedule("ticket", FIRST_END)
    fan_out_all()
    notices = pricing.PriceNotices.of(Account.get(owner["id"]))
    assert notices.unsent
    assert not notices.sent
    assert pricing.seat_price("ticket", "monthly", FIRST_END + 400 * DAY, get_settings(), notices).amount == 1900


def test_r_pay_9_an_owner_who_joined_after_a_complete_fan_out_gets_the_price_at_effective_at() -> None:
    sign_up("early")
    schedule("ticket", FIRST_END)
    late = sign_up("late")
    late_notices = pricing.PriceNotices.of(Account.get(late["id"]))
    # While the fan-out runs, an owner it has not reached is not priced anew.
    assert pricing.seat_price("ticket", "monthly", FIRST_END, get_settings(), late_notices).amount == 1900
    fan_out_all()  # the late owner was an owner when it ran: notified too
    joined = sign_up("joined")
    assert Account.get(joined["id"]).price_notices_unsent is None
    joined_notices = pricing.PriceNotices.of(Account.get(joined["id"]))
    settings = get_settings()
    assert (
        pricing.seat_price("ticket", "monthly", FIRST_END - timedelta(seconds=1), settings, joined_notices).amount
        == 1900
    )
    assert pricing.seat_price("ticket", "monthly", FIRST_END, settings, joined_notices).amount == 2500


def test_an_instant_outside_the_calendar_is_a_validation_error_not_a_500() -> None:
    """Found by fuzzing: an offset at the calendar's edge has no UTC instant."""
    body = {"plan": "free", "price": {"amount": 0, "currency": "USD"}, "effective_at": "0001-01-01T00:00:00+00:01"}
    reply = call("POST", "/admin/prices", body=body, claims=STAFF)
    assert (reply.status, reply.code) == (422, "validation_error"), reply.body
    assert [error["field"] for error in reply.body["errors"]] == ["effective_at"]
