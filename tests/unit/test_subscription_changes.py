"""``PUT /accounts/{id}/subscription`` and its preview over moto: an annual upgrade charges
the prorated difference at once (R-PAY-5), a monthly one charges nothing now (R-PAY-6),
a downgrade is listed, confirmed and scheduled for the next period (R-PAY-8) and nothing
is ever refunded or credited (R-PAY-7). Subscriptions are made through the API: a trial
signup, then billing details and a card (``pay``), which charges the first period.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifecycle.accounts import accounts
from lifecycle.billing import subscriptions
from lifecycle.core import clock
from lifecycle.core.billing_periods import Period, annual_period, monthly_period
from lifecycle.core.money import div_round_half_up
from lifecycle.storage import Account, AuditEvent, Invoice
from lifecycle.storage.accounts import AccountStatus
from lifecycle.subscriptions import subscription_changes
from tests.conftest import Ledger, ledger
from tests.support import STAFF, call, member, outbox_items, owner_of, pay
from tests.unit.test_signup import NOW, TRIAL, add_voucher, person

ANNUAL_SECONDS = 365 * 24 * 3600


pytestmark = pytest.mark.usefixtures("world", "provider_ledger", "outbox")


def subscribe(plan: str = "ticket", billing_period: str = "annual", **changes: Any) -> dict[str, Any]:
    """A trial signup ended by a card: an active subscription whose first period is paid."""
    created = call("POST", "/signups", body={**TRIAL, "plan": plan, "billing_period": billing_period, **changes})
    assert created.status == 201, created.body
    account = dict(created.body)
    paid = pay(account)
    assert paid.status == 200, paid.body
    assert paid.body["account"]["status"] == "active"
    return account


def change(account: dict[str, Any], **body: Any) -> Any:
    return call("PUT", f"/accounts/{account['id']}/subscription", body=body, claims=owner_of(account))


def preview(account: dict[str, Any], **body: Any) -> Any:
    return call("POST", f"/accounts/{account['id']}/subscription/preview", body=body, claims=owner_of(account))


def provider() -> Ledger:
    local = ledger()
    return local


def charged() -> list[int]:
    return [charge.amount.amount for charge in provider().charges()]


def invoices_of(account: dict[str, Any]) -> list[Invoice]:
    return list(Invoice.query(account["id"], consistent_read=True))


def period_end(account: dict[str, Any]) -> datetime:
    end = Account.get(account["id"]).period_end
    assert end is not None
    return end


# ---------------------------------------------------------------- R-PAY-5: annual upgrades


def test_r_pay_5_an_annual_upgrade_mid_period_charges_the_prorated_difference_at_once(outbox: Path) -> None:
    account = subscribe("ticket", "annual")
    end = period_end(account)
    assert end == datetime(2027, 11, 25, 12, tzinfo=UTC)  # a 365-day year from the card, 2026-11-25 12:00
    clock.set_now(end - timedelta(days=182, hours=12))

    reply = change(account, plan="ticket-chat")

    assert reply.status == 200, reply.body
    expected = div_round_half_up(15_768_000 * (29_000 - 19_000), 31_536_000)
    assert expected == 5000
    assert reply.body["proration"] == {
        "amount": {"amount": 5000, "currency": "USD"},
        "seconds_remaining": 15_768_000,
        "period_seconds": 31_536_000,
        "rule": "R-PAY-5",
    }
    invoice = reply.body["invoice"]
    (line,) = invoice["lines"]
    assert (line["quantity"], line["unit_price"]["amount"], line["amount"]["amount"], line["rule"]) == (
        1,
        5000,
        5000,
        "R-PAY-5",
    )
    assert (line["seconds"], line["period_seconds"]) == (15_768_000, 31_536_000)
    assert (line["period_start"], line["period_end"]) == ("2027-05-27T00:00:00Z", "2027-11-25T12:00:00Z")
    assert "Ticket+Chat" in line["description"]
    assert "100.00 USD" in line["description"]
    assert invoice["total"] == {"amount": 5000, "currency": "USD"}  # reverse charge: no VAT
    assert charged() == [19_000, 5000]

    subscription = reply.body["subscription"]
    assert (subscription["plan"], subscription["seats"], subscription["billing_period"]) == ("ticket-chat", 1, "annual")
    assert (subscription["period_end"], subscription["pending"]) == ("2027-11-25T12:00:00Z", None)
    stored = Account.get(account["id"])
    assert (stored.plan, stored.seats, stored.price_key) == ("ticket-chat", 1, "ticket-chat#annual")
    assert stored.last_invoice_id == invoice["id"]
    # R-PAY-11: a receipt for this charge too.
    receipts = [notice for notice in outbox_items(outbox) if notice["type"] == "receipt"]
    assert invoice["number"] in receipts[-1]["body"]


def test_r_pay_5_adding_seats_on_an_annual_period_charges_them_for_the_rest_of_it() -> None:
    account = subscribe("ticket", "annual")
    clock.set_now(NOW + timedelta(days=100, seconds=7))
    remaining = int((period_end(account) - clock.now()).total_seconds())

    reply = change(account, seats=3)

    assert reply.status == 200, reply.body
    amount = div_round_half_up(remaining * 2 * 19_000, ANNUAL_SECONDS)
    assert reply.body["proration"]["amount"]["amount"] == amount
    assert reply.body["invoice"]["total"]["amount"] == amount
    assert charged() == [19_000, amount]
    assert Account.get(account["id"]).seats == 3


def test_r_pay_5_the_next_period_is_billed_at_the_new_price() -> None:
    account = subscribe("ticket", "annual")
    clock.set_now(NOW + timedelta(days=30))
    assert change(account, plan="all-inclusive", seats=2).status == 200

    shown = preview(account)

    assert shown.status == 200, shown.body
    assert shown.body["amount_due_now"]["amount"] == 0
    assert shown.body["proration"] is None
    (line,) = shown.body["next_invoice"]["lines"]
    assert (line["quantity"], line["unit_price"]["amount"], line["amount"]["amount"]) == (2, 39_000, 78_000)
    assert (line["period_start"], line["period_end"]) == ("2027-11-25T12:00:00Z", "2028-11-25T12:00:00Z")
    assert subscriptions.next_period_terms(Account.get(account["id"])) == ("all-inclusive", 2, "annual")


def test_r_pay_5_the_preview_equals_what_the_put_then_charges_and_saves_nothing() -> None:
    account = subscribe("ticket", "annual", company_name="Preview Ltd")
    clock.set_now(NOW + timedelta(days=211, hours=5, minutes=3, seconds=9))
    before = Account.get(account["id"]).attribute_values

    shown = preview(account, plan="all-inclusive", seats=2)

    assert shown.status == 200, shown.body
    assert shown.body["invoice"] is None
    assert (shown.body["needs_confirmation"], shown.body["losses"]) == (False, [])
    assert Account.get(account["id"]).attribute_values == before
    assert charged() == [19_000]
    assert len(invoices_of(account)) == 1
    (line,) = shown.body["due_now"]["lines"]
    assert (line["rule"], line["seconds"], line["period_seconds"]) == ("R-PAY-5", *_seconds(account))

    done = change(account, plan="all-inclusive", seats=2)

    assert done.status == 200, done.body
    assert done.body["proration"] == shown.body["proration"]
    assert done.body["invoice"]["total"] == shown.body["amount_due_now"]
    assert done.body["invoice"]["lines"] == shown.body["due_now"]["lines"]
    assert done.body["subscription"] == shown.body["subscription"]
    assert charged() == [19_000, shown.body["amount_due_now"]["amount"]]


def _seconds(account: dict[str, Any]) -> tuple[int, int]:
    return int((period_end(account) - clock.now()).total_seconds()), ANNUAL_SECONDS


def test_r_pay_5_vat_is_added_to_the_prorated_charge_and_previewed() -> None:
    account = subscribe("ticket", "annual")
    # The vendor's own country: VAT on top even with a VAT ID (Slovakia, 23 %).
    details = {"country": "SK", "vat_id": "SK2022749619", "company_registration": "31322832"}
    assert pay(account, **details).status == 200  # new details, the same card: no charge
    clock.set_now(period_end(account) - timedelta(days=182, hours=12))

    shown = preview(account, plan="ticket-chat")
    done = change(account, plan="ticket-chat")

    assert shown.body["amount_due_now"] == {"amount": 6150, "currency": "USD"}  # 5000 + 23 %
    assert done.body["invoice"]["tax"]["amount"] == 1150
    assert charged()[-1] == 6150 == done.body["invoice"]["total"]["amount"]


def test_r_pay_5_a_declined_upgrade_saves_nothing() -> None:
    account = subscribe("ticket", "annual")
    replaced = call(
        "PUT",
        f"/accounts/{account['id']}/payment-method",
        body={"type": "card", "token": "tok_chargeDeclined"},
        claims=owner_of(account),
    )
    assert replaced.status == 200, replaced.body
    clock.set_now(NOW + timedelta(days=10))

    reply = change(account, plan="all-inclusive")

    assert (reply.status, reply.code) == (402, "payment_declined")
    stored = Account.get(account["id"])
    assert (stored.plan, stored.price_key) == ("ticket", "ticket#annual")
    assert len(invoices_of(account)) == 1
    assert charged() == [19_000]


def test_r_pay_5_an_upgrade_without_a_payment_method_is_refused() -> None:
    account = subscribe("ticket", "annual")
    Account(account["id"]).update(actions=[Account.payment_method_ref.remove()])
    clock.set_now(NOW + timedelta(days=10))

    reply = change(account, plan="all-inclusive")

    assert (reply.status, reply.code) == (409, "payment_method_required")
    assert Account.get(account["id"]).plan == "ticket"


def test_r_pay_5_a_change_made_meanwhile_is_a_conflict_and_the_charge_is_refunded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = subscribe("ticket", "annual")
    stale = Account.get(account["id"])
    clock.set_now(NOW + timedelta(days=10))
    assert change(account, seats=2).status == 200  # another request wins the race
    monkeypatch.setattr(accounts, "load", lambda _: stale)

    reply = change(account, plan="all-inclusive")

    assert (reply.status, reply.code) == (409, "conflict")
    lost = charged()[-1]
    assert [refund.amount.amount for refund in provider().refunds()] == [lost]
    stored = Account.get(account["id"])
    assert (stored.plan, stored.seats) == ("ticket", 2)
    assert len(invoices_of(account)) == 2  # the first period and the winner's


# ---------------------------------------------------------------- R-PAY-6: monthly upgrades


def test_r_pay_6_a_monthly_upgrade_charges_nothing_now_and_applies_from_the_next_invoice() -> None:
    account = subscribe("ticket", "monthly")
    clock.set_now(NOW + timedelta(days=12))

    shown = preview(account, plan="ticket-chat", seats=2)
    reply = change(account, plan="ticket-chat", seats=2)

    assert reply.status == 200, reply.body
    assert (reply.body["proration"], reply.body["invoice"]) == (None, None)
    assert shown.body["amount_due_now"]["amount"] == 0
    (line,) = shown.body["next_invoice"]["lines"]
    assert (line["unit_price"]["amount"], line["amount"]["amount"]) == (2900, 5800)
    assert (line["period_start"], line["period_end"]) == ("2026-12-25T12:00:00Z", "2027-01-25T12:00:00Z")
    assert charged() == [1900]
    stored = Account.get(account["id"])
    assert (stored.plan, stored.seats, stored.price_key) == ("ticket-chat", 2, "ticket-chat#monthly")


# ---------------------------------------------------------------- R-PAY-8 and R-PAY-7: downgrades


def test_r_pay_8_a_downgrade_lists_what_the_lower_plan_loses_before_confirming() -> None:
    account = subscribe("all-inclusive", "annual")
    clock.set_now(NOW + timedelta(days=40))

    reply = change(account, plan="ticket")

    assert (reply.status, reply.code) == (409, "downgrade_needs_confirmation")
    lost = {(loss["kind"], loss["name"]) for loss in reply.body["losses"]}
    assert {("feature", "chat"), ("feature", "calls"), ("feature", "knowledge base")} <= lost
    assert ("seat_limit", "users") in lost  # 100 users become 10
    assert all(loss["detail"] for loss in reply.body["losses"])
    stored = Account.get(account["id"])
    assert stored.plan == "all-inclusive"
    assert stored.pending_plan is None
    assert preview(account, plan="ticket").body["losses"] == reply.body["losses"]


def test_r_pay_8_to_the_free_plan_the_usage_limits_are_listed() -> None:
    account = subscribe("ticket", "annual")

    reply = change(account, plan="free")

    assert reply.code == "downgrade_needs_confirmation"
    details = {loss["name"]: loss["detail"] for loss in reply.body["losses"]}
    assert details["tickets_per_month"] == "At most 1,000 tickets a month (now unlimited)"
    assert details["storage_bytes"] == "At most 1 GB storage (now unlimited)"
    assert "email" in details


def test_r_pay_8_r_pay_7_a_confirmed_downgrade_waits_for_the_next_period_and_nothing_is_refunded() -> None:
    account = subscribe("all-inclusive", "annual")
    clock.set_now(NOW + timedelta(days=40))

    reply = change(account, plan="ticket", confirm_downgrade=True)

    assert reply.status == 200, reply.body
    assert (reply.body["proration"], reply.body["invoice"]) == (None, None)
    subscription = reply.body["subscription"]
    assert (subscription["plan"], subscription["billing_period"]) == ("all-inclusive", "annual")
    assert subscription["pending"] == {
        "plan": "ticket",
        "seats": 1,
        "billing_period": "annual",
        "effective_at": "2027-11-25T12:00:00Z",
    }
    stored = Account.get(account["id"])
    # Applied nowhere now: the plan, price key and seats stay until the billing run's next period.
    assert (stored.plan, stored.price_key, stored.seats) == ("all-inclusive", "all-inclusive#annual", 1)
    assert (stored.pending_plan, stored.pending_seats, stored.pending_billing_period) == ("ticket", 1, "annual")
    # R-PAY-7: no refund, no credit note, no credit.
    assert provider().refunds() == []
    assert [invoice.kind for invoice in invoices_of(account)] == ["invoice"]
    assert int(stored.credit_balance or 0) == 0
    assert charged() == [39_000]
    assert "subscription_changed" in [event.type for event in AuditEvent.query(account["id"])]


def test_r_pay_8_fewer_seats_wait_for_the_next_period_too() -> None:
    account = subscribe("ticket", "annual")
    assert change(account, seats=4).status == 200
    clock.set_now(NOW + timedelta(days=3))

    refused = change(account, seats=2)
    reply = change(account, seats=2, confirm_downgrade=True)

    assert refused.code == "downgrade_needs_confirmation"
    assert [loss["kind"] for loss in refused.body["losses"]] == ["seats"]
    assert reply.status == 200, reply.body
    assert reply.body["subscription"]["seats"] == 4
    assert reply.body["subscription"]["pending"]["seats"] == 2
    assert provider().refunds() == []


def test_fewer_seats_than_users_is_a_conflict_until_users_are_removed() -> None:
    account = subscribe("ticket", "annual")
    added = call(
        "POST",
        f"/accounts/{account['id']}/users",
        body={"full_name": "Petar Georgiev", "email": "petar@example.com", "role": "agent"},
        claims=owner_of(account),
    )
    assert added.status == 201, added.body
    assert change(account, seats=3).status == 200

    reply = change(account, seats=1, confirm_downgrade=True)

    assert (reply.status, reply.code) == (409, "conflict")
    assert "remove users" in reply.body["detail"]
    assert Account.get(account["id"]).pending_seats is None


def test_r_pay_8_naming_the_current_values_cancels_a_scheduled_downgrade() -> None:
    account = subscribe("ticket-chat", "annual")
    assert change(account, plan="ticket", confirm_downgrade=True).status == 200

    unchanged = change(account)
    assert unchanged.body["subscription"]["pending"]["plan"] == "ticket"  # {} keeps what is scheduled
    reply = change(account, plan="ticket-chat")

    assert reply.status == 200, reply.body
    assert reply.body["subscription"]["pending"] is None
    assert Account.get(account["id"]).pending_plan is None
    assert charged() == [29_000]


# ---------------------------------------------------------------- billing periods


def test_monthly_to_annual_is_scheduled_for_the_next_period_without_confirmation() -> None:
    account = subscribe("ticket", "monthly")
    clock.set_now(NOW + timedelta(days=5))

    shown = preview(account, billing_period="annual")
    reply = change(account, billing_period="annual")

    assert reply.status == 200, reply.body
    assert (reply.body["proration"], reply.body["invoice"]) == (None, None)
    assert reply.body["subscription"]["billing_period"] == "monthly"
    assert reply.body["subscription"]["pending"] == {
        "plan": "ticket",
        "seats": 1,
        "billing_period": "annual",
        "effective_at": "2026-12-25T12:00:00Z",
    }
    # The next invoice is the first annual period, from the end of the paid month.
    next_invoice = shown.body["next_invoice"]
    assert (next_invoice["period_start"], next_invoice["period_end"]) == (
        "2026-12-25T12:00:00Z",
        "2027-12-25T12:00:00Z",
    )
    assert next_invoice["total"]["amount"] == 19_000
    assert charged() == [1900]


def test_annual_to_monthly_needs_confirmation_and_refunds_nothing() -> None:
    account = subscribe("ticket", "annual")

    refused = change(account, billing_period="monthly")
    reply = change(account, billing_period="monthly", confirm_downgrade=True)

    assert refused.code == "downgrade_needs_confirmation"
    assert [loss["kind"] for loss in refused.body["losses"]] == ["billing_period"]
    assert reply.status == 200, reply.body
    assert reply.body["subscription"]["pending"]["billing_period"] == "monthly"
    assert Account.get(account["id"]).billing_period == "annual"
    assert provider().refunds() == []


def test_an_annual_upgrade_with_a_move_to_monthly_charges_the_annual_rest_and_schedules_monthly() -> None:
    account = subscribe("ticket", "annual")
    clock.set_now(period_end(account) - timedelta(days=182, hours=12))

    reply = change(account, plan="ticket-chat", billing_period="monthly", confirm_downgrade=True)

    assert reply.status == 200, reply.body
    assert reply.body["invoice"]["total"]["amount"] == 5000
    subscription = reply.body["subscription"]
    assert (subscription["plan"], subscription["billing_period"]) == ("ticket-chat", "annual")
    assert subscription["pending"]["billing_period"] == "monthly"


# ---------------------------------------------------------------- nothing to change, trials, refusals


def test_a_change_that_changes_nothing_answers_without_proration() -> None:
    account = subscribe("ticket", "annual")

    reply = change(account, plan="ticket", seats=1, billing_period="annual")

    assert reply.status == 200, reply.body
    assert (reply.body["proration"], reply.body["invoice"]) == (None, None)
    assert "subscription_changed" not in [event.type for event in AuditEvent.query(account["id"])]


def test_r_pay_4_a_trial_changes_at_once_and_its_first_charge_uses_the_new_values() -> None:
    created = call("POST", "/signups", body={**TRIAL, "billing_period": "annual"})
    account = dict(created.body)

    reply = change(account, plan="ticket-chat", seats=2, billing_period="monthly")

    assert reply.status == 200, reply.body
    assert (reply.body["proration"], reply.body["invoice"]) == (None, None)
    subscription = reply.body["subscription"]
    assert (subscription["plan"], subscription["seats"], subscription["billing_period"]) == (
        "ticket-chat",
        2,
        "monthly",
    )
    assert (subscription["period_start"], subscription["pending"]) == (None, None)
    assert charged() == []
    paid = pay(account)
    assert paid.status == 200, paid.body
    (line,) = paid.body["invoice"]["lines"]
    assert (line["quantity"], line["unit_price"]["amount"], line["amount"]["amount"]) == (2, 2900, 5800)
    assert charged() == [5800]


def test_a_trial_downgrade_is_listed_too_and_applies_at_once_when_confirmed() -> None:
    account = dict(call("POST", "/signups", body={**TRIAL, "plan": "all-inclusive"}).body)

    refused = change(account, plan="ticket")
    reply = change(account, plan="ticket", confirm_downgrade=True)

    assert refused.code == "downgrade_needs_confirmation"
    assert reply.body["subscription"]["plan"] == "ticket"
    assert Account.get(account["id"]).price_key == "ticket#monthly"


def test_a_lifetime_voucher_account_has_no_subscription_to_change() -> None:
    add_voucher("LIFE-0000-AAAA")
    account = dict(call("POST", "/redemptions", body=person(code="LIFE-0000-AAAA")).body)

    reply = change(account, seats=3)

    assert (reply.status, reply.code) == (409, "conflict")
    assert preview(account, seats=3).code == "conflict"


def test_an_account_whose_payment_is_required_is_not_a_subscription_to_change() -> None:
    account = subscribe("ticket", "annual")
    Account(account["id"]).update(actions=[Account.status.set(AccountStatus.PAYMENT_REQUIRED)])

    assert change(account, plan="all-inclusive").code == "conflict"


def test_only_the_owner_changes_the_subscription() -> None:
    account = subscribe("ticket", "annual")
    path = f"/accounts/{account['id']}/subscription"

    admin = call("PUT", path, body={"seats": 2}, claims=member(account["id"], "admin", sub="usr_admin"))
    staff = call("PUT", path, body={"seats": 2}, claims=STAFF)
    other = call("PUT", path, body={"seats": 2}, claims=member("acc_other", "owner"))
    anonymous = call("POST", path + "/preview", body={"seats": 2})

    assert (admin.status, staff.status, other.status, anonymous.status) == (403, 403, 404, 401)
    assert Account.get(account["id"]).seats == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"seats": 0}, "seats"),
        ({"seats": "2"}, "seats"),
        ({"seats": 2.0}, "seats"),
        ({"plan": "gold"}, "plan"),
        ({"billing_period": "weekly"}, "billing_period"),
        ({"confirm_downgrade": "yes"}, "confirm_downgrade"),
        ({"price": 1}, "price"),
        ({"seats": 11}, "seats"),  # the ticket plan allows 10 users
    ],
)
def test_invalid_bodies_are_validation_errors(body: dict[str, Any], field: str) -> None:
    account = subscribe("ticket", "annual")

    reply = change(account, **body)

    assert (reply.status, reply.code) == (422, "validation_error")
    assert field in [error["field"] for error in reply.body["errors"]]


# ---------------------------------------------------------------- the arithmetic, as used here (R-PAY-5)

DAY = 24 * 3600
ANCHORS = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2032, 12, 31)).map(
    lambda instant: instant.replace(tzinfo=UTC)
)
PRICES = st.integers(min_value=0, max_value=10_000_000)


@given(anchor=ANCHORS, old=PRICES, new=PRICES, share=st.floats(min_value=0, max_value=1))
def test_r_pay_5_the_charge_is_never_negative_nor_more_than_the_difference(
    anchor: datetime, old: int, new: int, share: float
) -> None:
    low, high = sorted((old, new))
    period = annual_period(anchor, anchor)
    now = period.starts_at + timedelta(seconds=int(period.seconds * share))
    charge = subscription_changes.upgrade_charge(low, high, period, now, "USD")
    assert 0 <= charge.amount.amount <= high - low
    assert charge.amount.amount == div_round_half_up((high - low) * charge.seconds_remaining, period.seconds)


@given(anchor=ANCHORS, difference=PRICES)
def test_r_pay_5_exact_to_the_cent_with_the_whole_period_or_none_left(anchor: datetime, difference: int) -> None:
    period = annual_period(anchor, anchor)
    whole = subscription_changes.upgrade_charge(0, difference, period, period.starts_at, "USD")
    none = subscription_changes.upgrade_charge(0, difference, period, period.ends_at, "USD")
    after = subscription_changes.upgrade_charge(0, difference, period, period.ends_at + timedelta(days=3), "USD")
    assert (whole.amount.amount, whole.seconds_remaining) == (difference, period.seconds)
    assert none.amount.amount == after.amount.amount == 0


@given(anchor=ANCHORS, difference=PRICES, earlier=st.integers(0, 400 * DAY), later=st.integers(0, 400 * DAY))
def test_r_pay_5_an_upgrade_later_in_the_period_never_costs_more(
    anchor: datetime, difference: int, earlier: int, later: int
) -> None:
    period = annual_period(anchor, anchor)
    first, second = sorted((earlier, later))
    at = [period.starts_at + timedelta(seconds=offset) for offset in (first, second)]
    amounts = [subscription_changes.upgrade_charge(0, difference, period, now, "USD").amount.amount for now in at]
    assert amounts[0] >= amounts[1]


@pytest.mark.parametrize(
    ("anchor", "end", "days"),
    [
        (datetime(2027, 3, 1, 16, tzinfo=UTC), datetime(2028, 3, 1, 16, tzinfo=UTC), 366),  # holds 29 Feb 2028
        (datetime(2028, 2, 29, 16, tzinfo=UTC), datetime(2029, 2, 28, 16, tzinfo=UTC), 365),  # a leap-day anchor
        (datetime(2027, 2, 28, tzinfo=UTC), datetime(2028, 2, 28, tzinfo=UTC), 365),
    ],
)
def test_r_pay_5_leap_years_are_prorated_over_their_own_seconds(anchor: datetime, end: datetime, days: int) -> None:
    period = annual_period(anchor, anchor)
    assert (period.starts_at, period.ends_at, period.seconds) == (anchor, end, days * DAY)
    halfway = period.starts_at + timedelta(seconds=period.seconds // 2)
    charge = subscription_changes.upgrade_charge(19_000, 29_000, period, halfway, "USD")
    assert charge.amount.amount == 5000
    assert charge.period_seconds == days * DAY


@given(difference=PRICES, seconds=st.integers(0, 28 * DAY))
def test_r_pay_5_month_ends_use_the_months_own_length(difference: int, seconds: int) -> None:
    anchor = datetime(2027, 1, 31, 16, tzinfo=UTC)
    february = monthly_period(anchor, datetime(2027, 2, 28, 16, tzinfo=UTC))
    assert (february.starts_at, february.ends_at, february.seconds) == (
        datetime(2027, 2, 28, 16, tzinfo=UTC),
        datetime(2027, 3, 31, 16, tzinfo=UTC),
        31 * DAY,
    )
    january = Period(datetime(2027, 1, 31, 16, tzinfo=UTC), datetime(2027, 2, 28, 16, tzinfo=UTC))
    assert january.seconds == 28 * DAY
    now = january.ends_at - timedelta(seconds=seconds)
    charge = subscription_changes.upgrade_charge(0, difference, january, now, "USD")
    assert charge.amount.amount == div_round_half_up(difference * seconds, 28 * DAY)
