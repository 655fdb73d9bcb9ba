"""Prepaid credit over moto: bought with the payment method and invoiced, run down by the
second at the seat cost, valid 12 months at constant seats and shorter or longer in
proportion when seats change (R-CREDIT-1); half of what is left is refunded when the
account is cancelled early, the rest is the cancellation fee (R-CREDIT-2). The arithmetic
is checked with hypothesis."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from lifecycle.billing import credit, payments
from lifecycle.billing.credit import YEAR_SECONDS, Credit
from lifecycle.core import clock
from lifecycle.core.errors import ServiceUnavailable
from lifecycle.core.money import div_round_half_up
from lifecycle.core.settings import get_settings
from lifecycle.storage import Account, AuditEvent, Invoice
from tests.conftest import Ledger, ledger
from tests.support import STAFF, Reply, billing_details_body, call, member, outbox_items, owner_of, pay
from tests.unit.test_signup import NOW, TRIAL, add_voucher, person

YEAR = timedelta(days=365)
TICKET = 1900  # the ticket plan's standing monthly seat price
EXTRA_SEAT = 3900
# The fixture's first period, [25 November 12:00, 25 December 12:00), is paid by card when the
# trial ends at NOW (R-PAY-1: from the instant paid): credit bought during it starts to run down
# when it ends (R-CREDIT-1, never paid twice).
PAID_UNTIL = datetime(2026, 12, 25, 12, tzinfo=UTC)


pytestmark = pytest.mark.usefixtures("world", "provider_ledger", "outbox")


@pytest.fixture
def account() -> dict[str, Any]:
    """A paying ticket subscription, monthly, one seat."""
    reply = call("POST", "/signups", body=TRIAL)
    assert reply.status == 201, reply.body
    assert pay(reply.body).status == 200
    return dict(reply.body)


def provider() -> Ledger:
    found = ledger()
    return found


def buy(account: dict[str, Any], cents: int, claims: dict[str, Any] | None = None, **money: Any) -> Reply:
    body = {"amount": {"amount": cents, "currency": "USD", **money}}
    return call("POST", f"/accounts/{account['id']}/credit", body=body, claims=claims or owner_of(account))


def read(account: dict[str, Any], claims: dict[str, Any] | None = None) -> Reply:
    return call("GET", f"/accounts/{account['id']}/credit", claims=claims or owner_of(account))


def add_agent(account: dict[str, Any], n: int) -> str:
    body = {"full_name": "Petar Georgiev", "email": f"agent{n}@example.com", "role": "agent"}
    added = call("POST", f"/accounts/{account['id']}/users", body=body, claims=owner_of(account))
    assert added.status == 201, added.body
    return str(added.body["user_id"])


def remove(account: dict[str, Any], user_id: str) -> None:
    removed = call("DELETE", f"/accounts/{account['id']}/users/{user_id}", claims=owner_of(account))
    assert removed.status == 204, removed.body


def cancel(account: dict[str, Any]) -> Reply:
    return call("POST", f"/accounts/{account['id']}/cancel", claims=owner_of(account))


def iso(instant: datetime) -> str:
    return clock.to_iso(instant)


def usd(cents: int) -> dict[str, Any]:
    return {"amount": cents, "currency": "USD"}


# ---------------------------------------------------------------- the arithmetic (pure)

instants = st.integers(min_value=0, max_value=3 * YEAR_SECONDS)
# Up to 10 000 months' worth, below the validity cap (a thousand years).
balances = st.integers(min_value=1, max_value=10**7)
costs = st.integers(min_value=1_000, max_value=10**6)  # cents per month for all the seats


@given(balance=balances, cost=costs, elapsed=instants)
def test_r_credit_1_the_balance_runs_down_never_below_zero_and_is_zero_at_valid_until(
    balance: int, cost: int, elapsed: int
) -> None:
    bought = credit.topped_up(Credit(0, None, None), balance, NOW, cost)
    assert bought.valid_until is not None
    later = credit.settled(bought, NOW + timedelta(seconds=elapsed))
    assert 0 <= later.balance <= balance
    assert credit.settled(bought, bought.valid_until).balance == 0
    if bought.valid_until > NOW:
        assert credit.settled(bought, NOW).balance == balance


@given(balance=balances, cost=costs, first=instants, second=instants)
def test_r_credit_1_the_balance_only_goes_down(balance: int, cost: int, first: int, second: int) -> None:
    bought = credit.topped_up(Credit(0, None, None), balance, NOW, cost)
    early, late = sorted((first, second))
    assert (
        credit.settled(bought, NOW + timedelta(seconds=late)).balance
        <= credit.settled(bought, NOW + timedelta(seconds=early)).balance
    )


@given(balance=balances, cost=costs, elapsed=instants)
def test_r_credit_1_consumption_is_the_seat_cost_by_the_second(balance: int, cost: int, elapsed: int) -> None:
    """The run-down equals ``elapsed * seat cost * 12 / 365 days`` (half-up), up to a cent and
    the half second ``valid_until`` is rounded by."""
    bought = credit.topped_up(Credit(0, None, None), balance, NOW, cost)
    consumed = balance - credit.settled(bought, NOW + timedelta(seconds=elapsed)).balance
    expected = min(balance, div_round_half_up(elapsed * cost * 12, YEAR_SECONDS))
    per_second = div_round_half_up(cost * 12, YEAR_SECONDS)
    assert abs(consumed - expected) <= 1 + per_second


@given(seats=st.integers(min_value=1, max_value=500), price=st.integers(min_value=1, max_value=100_000))
def test_r_credit_1_twelve_months_worth_at_constant_seats_lasts_exactly_365_days(seats: int, price: int) -> None:
    bought = credit.topped_up(Credit(0, None, None), 12 * seats * price, NOW, seats * price)
    assert bought.valid_until == NOW + YEAR


@given(
    seats=st.integers(min_value=1, max_value=50),
    factor=st.integers(min_value=2, max_value=6),
    price=st.integers(min_value=1, max_value=10_000),
    day=st.integers(min_value=0, max_value=364),
)
@example(seats=1, factor=4, price=1, day=350)  # 12 cents, 15 days left: rounds to nothing
def test_r_credit_1_validity_shortens_and_lengthens_in_proportion_to_the_seats(
    seats: int, factor: int, price: int, day: int
) -> None:
    bought = credit.topped_up(Credit(0, None, None), 12 * seats * price, NOW, seats * price)
    at = NOW + timedelta(days=day)
    more = credit.rebased(bought, at, factor * seats * price)
    left = credit.settled(bought, at).balance
    assert more.balance == left
    # Less than half a cent left rounds to nothing: spent, there is no validity to scale.
    assume(left > 0)
    assert more.valid_until is not None
    remaining = (NOW + YEAR - at) // timedelta(seconds=1)
    # factor times the seats: the time left divided by factor, to the second (half-up).
    assert abs((more.valid_until - at) // timedelta(seconds=1) - remaining / factor) <= 1 + YEAR_SECONDS / (
        12 * seats * price * factor
    )
    back = credit.rebased(more, at, seats * price)
    assert back.valid_until is not None
    assert abs((back.valid_until - at) // timedelta(seconds=1) - remaining) <= 1 + YEAR_SECONDS / (12 * seats * price)


@settings(max_examples=50)
@given(balance=balances, cost=costs, steps=st.lists(st.integers(min_value=0, max_value=86_400 * 40), max_size=12))
def test_r_credit_1_settling_often_loses_or_adds_at_most_a_cent_per_settlement(
    balance: int, cost: int, steps: list[int]
) -> None:
    bought = credit.topped_up(Credit(0, None, None), balance, NOW, cost)
    stepped, at = bought, NOW
    for step in steps:
        at += timedelta(seconds=step, microseconds=250_000)
        stepped = credit.rebased(stepped, at, cost)
    once = credit.settled(bought, at)
    assert stepped.balance >= 0
    # Each settlement rounds the balance (a cent) and its validity (half a second's use).
    assert abs(stepped.balance - once.balance) <= len(steps) * (1 + 12 * cost / YEAR_SECONDS) + 1


def test_r_credit_1_credit_bought_during_a_period_paid_by_card_waits_for_its_end() -> None:
    starts = NOW + timedelta(days=30)
    bought = credit.topped_up(Credit(0, None, None), 12 * TICKET, NOW, TICKET, starts)
    assert bought == Credit(12 * TICKET, starts, starts + YEAR)
    assert credit.settled(bought, starts - timedelta(seconds=1)) == bought  # nothing used before it
    assert credit.settled(bought, starts + YEAR / 2).balance == 6 * TICKET
    # More seats before it starts: half as long, still from its start.
    assert credit.rebased(bought, NOW + timedelta(days=1), 2 * TICKET) == Credit(
        12 * TICKET, starts, starts + timedelta(days=182, hours=12)
    )
    # A top-up before it starts adds to it and keeps its start; one while it runs continues it.
    more = credit.topped_up(bought, 12 * TICKET, NOW + timedelta(days=1), TICKET, starts + YEAR)
    assert more == Credit(24 * TICKET, starts, starts + 2 * YEAR)
    running = credit.topped_up(bought, 12 * TICKET, starts + YEAR / 2, TICKET, starts + YEAR)
    assert running == Credit(18 * TICKET, starts + YEAR / 2, starts + 2 * YEAR)


def test_r_credit_1_r_pay_1_credit_does_not_run_down_where_the_card_paid() -> None:
    """The part of the period the card paid for (a pause) is stepped over: a month's worth
    bought with 10 days of pause ahead lasts 10 days longer, and its balance stands still
    while the pause lasts."""
    pause = (NOW + timedelta(days=5), NOW + timedelta(days=15))
    paused = Credit(0, None, None, pause)
    month = timedelta(seconds=YEAR_SECONDS // 12)
    bought = credit.topped_up(paused, TICKET, NOW, TICKET)
    assert bought == Credit(TICKET, NOW, NOW + month + timedelta(days=10), pause)
    at_pause = credit.settled(bought, pause[0]).balance
    assert at_pause == TICKET - div_round_half_up(TICKET * 5 * 86_400, YEAR_SECONDS // 12)
    assert credit.settled(bought, pause[1] - timedelta(seconds=1)).balance == at_pause
    assert credit.settled(bought, NOW + month + timedelta(days=10)).balance == 0
    # Bought during the pause: it runs from the pause's end.
    during = credit.topped_up(paused, TICKET, NOW + timedelta(days=7), TICKET)
    assert during.valid_until == pause[1] + month
    # Running out before the pause: nothing to step over.
    assert credit.topped_up(paused, TICKET // 10, NOW, TICKET).valid_until == NOW + month / 10
    assert credit.running_seconds(NOW, NOW + timedelta(days=20), pause) == 10 * 86_400


@given(balance=balances, cost=costs, start=instants, length=instants, elapsed=instants)
def test_r_credit_1_r_pay_1_a_pause_changes_when_the_credit_runs_never_how_much_it_pays(
    balance: int, cost: int, start: int, length: int, elapsed: int
) -> None:
    """With or without a pause the credit pays the same running seconds: it runs down at the
    same rate outside it, and none inside it."""
    pause = (NOW + timedelta(seconds=start), NOW + timedelta(seconds=start + length + 1))
    plain = credit.topped_up(Credit(0, None, None), balance, NOW, cost)
    paused = credit.topped_up(Credit(0, None, None, pause), balance, NOW, cost)
    assert plain.valid_until is not None
    assert paused.valid_until is not None
    assert credit.running_seconds(NOW, paused.valid_until, pause) == (plain.valid_until - NOW) // timedelta(seconds=1)
    at = NOW + timedelta(seconds=elapsed)
    ran = credit.running_seconds(NOW, at, pause)
    assert credit.settled(paused, at).balance == credit.settled(plain, NOW + timedelta(seconds=ran)).balance


def test_r_credit_1_a_seat_cost_of_zero_does_not_run_it_down() -> None:
    bought = credit.topped_up(Credit(0, None, None), 5000, NOW, 0)
    assert bought.valid_until is None
    assert credit.settled(bought, NOW + 10 * YEAR).balance == 5000


def test_r_credit_1_an_absurd_balance_lasts_at_most_a_thousand_years() -> None:
    bought = credit.topped_up(Credit(0, None, None), 10**12, NOW, 1)
    assert bought.valid_until == NOW + timedelta(seconds=credit.MAX_VALIDITY_SECONDS)
    assert credit.settled(bought, NOW + YEAR).balance == 10**12 - 10**12 // 1000


def test_r_credit_1_a_clock_behind_the_last_settlement_consumes_nothing() -> None:
    bought = credit.topped_up(Credit(0, None, None), 45_600, NOW, 3800)
    assert credit.settled(bought, NOW - timedelta(hours=1)) == bought


@given(remaining=st.integers(min_value=0, max_value=10**9), percent=st.integers(min_value=0, max_value=100))
def test_r_credit_2_refund_and_fee_add_up_to_what_is_left(remaining: int, percent: int) -> None:
    refund, fee = credit.refund_split(remaining, percent)
    assert refund + fee == remaining
    assert refund == div_round_half_up(remaining * percent, 100)
    assert refund >= 0
    assert fee >= 0


# ---------------------------------------------------------------- reading and buying


def test_r_credit_1_an_account_without_credit_reads_zero(account: dict[str, Any]) -> None:
    reply = read(account)
    assert reply.status == 200, reply.body
    assert reply.body == {"balance": usd(0), "valid_until": None, "seat_price": usd(TICKET), "seats": 1}
    agent = add_agent(account, 1)
    assert read(account, member(account["id"], "agent", sub=agent)).status == 200


def test_r_credit_1_twelve_months_of_credit_for_two_seats_is_valid_twelve_months(
    account: dict[str, Any], outbox: Path
) -> None:
    add_agent(account, 1)
    reply = buy(account, 12 * 2 * TICKET)
    assert reply.status == 201, reply.body
    body = reply.body
    assert (body["balance"], body["valid_until"], body["seat_price"], body["seats"]) == (
        usd(45_600),
        iso(PAID_UNTIL + YEAR),
        usd(TICKET),
        2,
    )
    invoice = body["invoice"]
    (line,) = invoice["lines"]
    assert (line["description"], line["quantity"], line["amount"], line["rule"]) == (
        "Prepaid credit",
        1,
        usd(45_600),
        "R-CREDIT-1",
    )
    assert (invoice["kind"], invoice["status"], invoice["total"]) == ("invoice", "paid", usd(45_600))
    assert [charge.amount.amount for charge in provider().charges()][-1] == 45_600
    receipts = [notice for notice in outbox_items(outbox) if notice["type"] == "receipt"]
    assert invoice["number"] in receipts[-1]["body"]
    stored = Account.get(account["id"])
    assert (stored.credit_balance, stored.credit_updated_at, stored.credit_since, stored.last_invoice_id) == (
        45_600,
        PAID_UNTIL,
        PAID_UNTIL,
        invoice["id"],
    )
    assert "credit_bought" in [event.type for event in AuditEvent.query(account["id"])]
    assert read(account).body == {key: value for key, value in body.items() if key != "invoice"}


def test_r_credit_1_the_balance_runs_down_by_the_second_and_stops_at_zero(account: dict[str, Any]) -> None:
    add_agent(account, 1)
    assert buy(account, 45_600).status == 201
    clock.set_now(PAID_UNTIL - timedelta(seconds=1))  # the period paid by card: nothing used yet
    assert read(account).body["balance"] == usd(45_600)
    clock.set_now(PAID_UNTIL + timedelta(days=73))  # a fifth of the year
    assert read(account).body["balance"] == usd(36_480)
    clock.set_now(PAID_UNTIL + timedelta(days=365, seconds=-1))
    assert read(account).body["balance"] == usd(div_round_half_up(45_600, YEAR_SECONDS))
    clock.set_now(PAID_UNTIL + timedelta(days=400))
    assert read(account).body == {
        "balance": usd(0),
        "valid_until": iso(PAID_UNTIL + YEAR),
        "seat_price": usd(TICKET),
        "seats": 2,
    }


def test_r_credit_1_adding_seats_shortens_the_validity_and_removing_them_lengthens_it(
    account: dict[str, Any],
) -> None:
    add_agent(account, 1)
    assert buy(account, 12 * 2 * TICKET).status == 201
    third, fourth = add_agent(account, 3), add_agent(account, 4)
    # Twice the seats before it starts: half the time (182.5 days) from its start, to the second.
    after = read(account).body
    assert (after["balance"], after["seats"], after["valid_until"]) == (
        usd(45_600),
        4,
        iso(PAID_UNTIL + timedelta(days=182, hours=12)),
    )
    stored = Account.get(account["id"])
    assert (stored.credit_updated_at, stored.credit_since) == (PAID_UNTIL, PAID_UNTIL)  # still nothing used
    remove(account, third)
    remove(account, fourth)
    assert read(account).body["valid_until"] == iso(PAID_UNTIL + YEAR)


def test_r_credit_1_a_seat_change_later_settles_the_past_at_the_old_seats(account: dict[str, Any]) -> None:
    add_agent(account, 1)
    assert buy(account, 45_600).status == 201
    clock.set_now(PAID_UNTIL + timedelta(days=73))
    add_agent(account, 3)
    add_agent(account, 4)
    # 73 days at 2 seats used a fifth; the 36 480 left last 0.4 of a year at 4 seats.
    after = read(account).body
    assert (after["balance"], after["valid_until"]) == (usd(36_480), iso(PAID_UNTIL + timedelta(days=73 + 146)))
    stored = Account.get(account["id"])
    assert (stored.credit_balance, stored.credit_updated_at) == (36_480, PAID_UNTIL + timedelta(days=73))


def test_r_credit_1_buying_more_adds_to_what_is_left(account: dict[str, Any]) -> None:
    assert buy(account, 12 * TICKET).status == 201  # one seat: a year from the paid period's end
    clock.set_now(PAID_UNTIL + timedelta(days=73))
    reply = buy(account, 12 * TICKET)
    assert reply.status == 201, reply.body
    left = 12 * TICKET - 12 * TICKET // 5
    assert reply.body["balance"] == usd(left + 12 * TICKET)
    seconds = div_round_half_up((left + 12 * TICKET) * YEAR_SECONDS, 12 * TICKET)
    assert reply.body["valid_until"] == iso(PAID_UNTIL + timedelta(days=73, seconds=seconds))
    assert len([i for i in Invoice.query(account["id"]) if i.purpose.startswith("prepaid-credit#")]) == 2
    assert Account.get(account["id"]).credit_since == PAID_UNTIL  # the same run of credit


def test_r_credit_1_two_purchases_during_the_paid_period_both_wait_for_its_end(account: dict[str, Any]) -> None:
    assert buy(account, 12 * TICKET).status == 201
    clock.set_now(NOW + timedelta(days=20))
    reply = buy(account, 12 * TICKET)
    assert reply.status == 201, reply.body
    assert (reply.body["balance"], reply.body["valid_until"]) == (usd(24 * TICKET), iso(PAID_UNTIL + 2 * YEAR))
    stored = Account.get(account["id"])
    assert (stored.credit_updated_at, stored.credit_since) == (PAID_UNTIL, PAID_UNTIL)


def test_r_credit_2_cancelled_before_the_credit_started_refunds_half_of_all_of_it(account: dict[str, Any]) -> None:
    assert buy(account, 12 * TICKET).status == 201
    clock.set_now(NOW + timedelta(days=20))  # still in the period paid by card
    assert cancel(account).body == {
        "status": "cancelled",
        "refund": usd(6 * TICKET),
        "cancellation_fee": usd(6 * TICKET),
    }


def test_r_credit_1_a_voucher_account_s_credit_pays_for_its_extra_seats() -> None:
    add_voucher("LIFE-0000-AAAA")
    redeemed = call("POST", "/redemptions", body=person(code="LIFE-0000-AAAA", email="owner@example.com"))
    assert redeemed.status == 201, redeemed.body
    account = dict(redeemed.body)
    assert pay(account).status == 200  # no charge: a voucher account only stores the method
    assert read(account).body == {"balance": usd(0), "valid_until": None, "seat_price": usd(EXTRA_SEAT), "seats": 0}
    reply = buy(account, 12 * EXTRA_SEAT)
    assert reply.status == 201, reply.body
    # The included seats cost nothing: the credit does not run down.
    assert (reply.body["seats"], reply.body["valid_until"]) == (0, None)
    add_agent(account, 1)  # the second included seat
    assert read(account).body["valid_until"] is None
    add_agent(account, 2)  # an extra seat: twelve months' worth lasts a year
    assert read(account).body == {
        "balance": usd(12 * EXTRA_SEAT),
        "valid_until": iso(NOW + YEAR),
        "seat_price": usd(EXTRA_SEAT),
        "seats": 1,
    }


# ---------------------------------------------------------------- refusals


def test_r_credit_1_a_declined_charge_saves_nothing(account: dict[str, Any]) -> None:
    replaced = call(
        "PUT",
        f"/accounts/{account['id']}/payment-method",
        body={"type": "card", "token": "tok_chargeDeclined"},
        claims=owner_of(account),
    )
    assert replaced.status == 200, replaced.body
    charged = len(provider().charges())
    reply = buy(account, 10_000)
    assert (reply.status, reply.code) == (402, "payment_declined")
    stored = Account.get(account["id"])
    assert (stored.credit_balance, stored.credit_updated_at) == (0, None)
    assert [i for i in Invoice.query(account["id"]) if i.purpose.startswith("prepaid-credit#")] == []
    assert len(provider().charges()) == charged


def test_r_vouch_8_credit_needs_billing_details_then_a_payment_method() -> None:
    created = call("POST", "/signups", body=TRIAL)
    account = dict(created.body)
    first = buy(account, 10_000)
    assert (first.status, first.code) == (409, "billing_details_required")
    details = call(
        "PUT", f"/accounts/{account['id']}/billing-details", body=billing_details_body(), claims=owner_of(account)
    )
    assert details.status == 200
    second = buy(account, 10_000)
    assert (second.status, second.code) == (409, "payment_method_required")
    assert provider().charges() == []


@pytest.mark.parametrize(
    ("cents", "currency", "field"),
    [(0, "USD", "amount.amount"), (-5, "USD", "amount.amount"), (10_000, "EUR", "amount.currency")],
)
def test_r_credit_1_the_amount_is_positive_and_in_the_account_currency(
    account: dict[str, Any], cents: int, currency: str, field: str
) -> None:
    reply = buy(account, cents, currency=currency)
    assert (reply.status, reply.code) == (422, "validation_error")
    assert reply.body["errors"][0]["field"] == field


def test_r_credit_1_a_float_amount_is_refused(account: dict[str, Any]) -> None:
    reply = call(
        "POST",
        f"/accounts/{account['id']}/credit",
        body={"amount": {"amount": 100.5, "currency": "USD"}},
        claims=owner_of(account),
    )
    assert (reply.status, reply.code) == (422, "validation_error")


def test_only_the_owner_buys_credit_and_other_accounts_are_not_found(account: dict[str, Any]) -> None:
    agent = member(account["id"], "agent", sub=add_agent(account, 1))
    assert buy(account, 1000, claims=agent).status == 403
    assert buy(account, 1000, claims=STAFF).status == 403
    other = member("acc_other", "owner", sub="someone")
    assert buy(account, 1000, claims=other).status == 404
    assert read(account, claims=other).status == 404


def test_r_use_4_staff_reads_of_the_credit_are_audited(account: dict[str, Any]) -> None:
    assert read(account, claims=STAFF).status == 200
    accesses = [e.details.as_dict() for e in AuditEvent.query(account["id"]) if e.type == "staff_access"]  # type: ignore[no-untyped-call]
    assert accesses == [{"resource": "credit"}]


def test_a_cancelled_account_buys_no_credit(account: dict[str, Any]) -> None:
    assert cancel(account).status == 200
    reply = buy(account, 1000)
    assert (reply.status, reply.code) == (409, "conflict")


# ---------------------------------------------------------------- leaving early (R-CREDIT-2)


def test_r_credit_2_stop_account_refunds_half_of_the_credit_left(account: dict[str, Any]) -> None:
    add_agent(account, 1)
    bought = buy(account, 45_600)
    assert bought.status == 201
    clock.set_now(PAID_UNTIL + timedelta(days=73))

    reply = cancel(account)

    assert (reply.status, reply.body) == (
        200,
        {"status": "cancelled", "refund": usd(18_240), "cancellation_fee": usd(18_240)},
    )
    credit_charge = provider().charges()[-1]
    assert [(r.charge_id, r.amount.amount) for r in provider().refunds()] == [(credit_charge.id, 18_240)]
    stored = Account.get(account["id"])
    assert (stored.credit_balance, stored.credit_valid_until) == (0, None)
    (event,) = [e for e in AuditEvent.query(account["id"]) if e.type == "account_cancelled"]
    details = event.details.as_dict()  # type: ignore[no-untyped-call]
    assert (details["refund"], details["cancellation_fee"], details["currency"]) == (18_240, 18_240, "USD")
    # Stopping again answers the same and refunds nothing more.
    assert cancel(account).body == reply.body
    assert len(provider().refunds()) == 1


def test_r_credit_2_the_refund_comes_from_the_newest_purchases_first(
    account: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CREDIT_REFUND_PERCENT", "100")
    get_settings.cache_clear()
    assert buy(account, 1_000).status == 201
    clock.set_now(NOW + timedelta(seconds=1))
    assert buy(account, 2_000).status == 201
    older, newer = provider().charges()[-2:]
    left = 3_000  # a second of 1 000 cents that last 16 days at one seat: far less than half a cent
    reply = cancel(account)
    assert reply.body["refund"] == usd(left)
    assert reply.body["cancellation_fee"] == usd(0)
    # Never more than a charge's amount: the newer charge whole, the rest from the older one.
    assert [(r.charge_id, r.amount.amount) for r in provider().refunds()] == [
        (newer.id, 2_000),
        (older.id, left - 2_000),
    ]


def test_r_credit_2_credit_that_ran_out_refunds_nothing(account: dict[str, Any]) -> None:
    assert buy(account, 1_900).status == 201  # one seat-month after the paid period
    clock.set_now(PAID_UNTIL + timedelta(days=40))
    reply = cancel(account)
    assert reply.body == {"status": "cancelled", "refund": None, "cancellation_fee": None}
    assert provider().refunds() == []
    assert Account.get(account["id"]).credit_balance == 0


def test_r_credit_2_a_refund_the_provider_failed_is_paid_by_the_next_cancel(
    account: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert buy(account, 12 * TICKET).status == 201
    real_refund = payments.StripeProvider.refund

    def unreachable(self: payments.StripeProvider, *args: Any, **kwargs: Any) -> payments.Refund:
        raise ServiceUnavailable("The payment provider could not be reached; retry shortly")

    monkeypatch.setattr(payments.StripeProvider, "refund", unreachable)
    failed = cancel(account)
    assert (failed.status, failed.code) == (503, "service_unavailable")
    assert Account.get(account["id"]).status == "cancelled"  # cancelled, the refund still owed

    monkeypatch.setattr(payments.StripeProvider, "refund", real_refund)
    again = cancel(account)
    assert again.body == {"status": "cancelled", "refund": usd(11_400), "cancellation_fee": usd(11_400)}
    assert [r.amount.amount for r in provider().refunds()] == [11_400]


def test_r_credit_2_a_confirmed_emailed_cancellation_refunds_too(account: dict[str, Any]) -> None:
    assert buy(account, 12 * TICKET).status == 201
    asked = call("POST", f"/accounts/{account['id']}/cancellation-requests", claims=owner_of(account))
    assert asked.status == 202
    clock.set_now(PAID_UNTIL + timedelta(days=73))
    confirmed = call("POST", f"/admin/cancellation-requests/{asked.body['request_id']}/confirm", claims=STAFF)
    assert confirmed.status == 200, confirmed.body
    assert [r.amount.amount for r in provider().refunds()] == [div_round_half_up(12 * TICKET * 4 // 5, 2)]
    assert Account.get(account["id"]).credit_balance == 0
    # What the owner sees afterwards: the same amounts.
    assert cancel(account).body["refund"] == usd(9_120)


# ---------------------------------------------------------------- races with the reads saved (round trips)


def test_r_credit_1_a_seat_added_during_the_charge_is_seen_by_the_purchase(
    account: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The purchase is computed from the account read before the charge; a user added during
    the charge fails that first build's condition, and the next build reads the new seats."""
    real_charge = payments.StripeProvider.charge

    def charge_while_a_user_is_added(self: payments.StripeProvider, *args: Any, **kwargs: Any) -> Any:
        Account(account["id"]).update(actions=[Account.seats_used.add(1)])
        monkeypatch.setattr(payments.StripeProvider, "charge", real_charge)
        return real_charge(self, *args, **kwargs)

    monkeypatch.setattr(payments.StripeProvider, "charge", charge_while_a_user_is_added)
    reply = buy(account, 12 * 2 * TICKET)
    assert reply.status == 201, reply.body
    assert (reply.body["seats"], reply.body["valid_until"]) == (2, iso(PAID_UNTIL + YEAR))
    assert read(account).body == {key: value for key, value in reply.body.items() if key != "invoice"}


def bought_meanwhile(monkeypatch: pytest.MonkeyPatch, commit: str, account: dict[str, Any], balance: int) -> None:
    """Credit lands (as a purchase at the current seats writes it) just before the next call
    of ``commit`` (the dotted name of the seat change's commit): after the seat change read
    the account without credit."""
    module, _, name = commit.rpartition(".")
    real_commit = getattr(importlib.import_module(module), name)
    seats = credit.seat_cost(Account.get(account["id"]), NOW, get_settings())
    until = credit.valid_until(balance, PAID_UNTIL, seats.monthly)
    assert until is not None

    def commit_after_a_purchase(*args: Any, **kwargs: Any) -> Any:
        Account(account["id"]).update(
            actions=[
                Account.credit_balance.set(balance),
                Account.credit_updated_at.set(PAID_UNTIL),
                Account.credit_since.set(PAID_UNTIL),
                Account.credit_valid_until.set(until),
            ]
        )
        monkeypatch.setattr(commit, real_commit)
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(commit, commit_after_a_purchase)


def test_r_credit_1_credit_bought_while_a_user_is_added_is_rebased_at_the_new_seats(
    account: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    bought_meanwhile(monkeypatch, "lifecycle.subscriptions.users.commit", account, 12 * TICKET)  # a year at one seat
    add_agent(account, 1)
    after = read(account).body
    assert (after["seats"], after["valid_until"]) == (2, iso(PAID_UNTIL + timedelta(days=182, hours=12)))


def test_r_credit_1_credit_bought_while_a_user_is_removed_is_rebased_at_the_new_seats(
    account: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = add_agent(account, 1)
    bought_meanwhile(
        monkeypatch, "lifecycle.billing.credit.try_commit", account, 12 * 2 * TICKET
    )  # a year at two seats
    remove(account, agent)
    after = read(account).body
    assert (after["seats"], after["valid_until"]) == (1, iso(PAID_UNTIL + 2 * YEAR))


def test_r_credit_1_credit_bought_while_the_seats_are_raised_is_rebased_at_the_new_seats(
    account: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    bought_meanwhile(monkeypatch, "lifecycle.billing.credit.try_commit", account, 12 * TICKET)  # a year at one seat
    changed = call("PUT", f"/accounts/{account['id']}/subscription", body={"seats": 2}, claims=owner_of(account))
    assert changed.status == 200, changed.body
    after = read(account).body
    assert (after["seats"], after["valid_until"]) == (2, iso(PAID_UNTIL + timedelta(days=182, hours=12)))
