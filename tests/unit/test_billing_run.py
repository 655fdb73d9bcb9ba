"""The ``billing-run`` schedule over moto: subscriptions renewed in advance at the price in
force (R-PAY-1, R-PAY-8, R-PAY-9), voucher accounts' extra seats in arrears by the second
(R-VOUCH-6), nobody asked without extra users (R-VOUCH-9), access blocked when a charge is
due without details and restored when they come (R-VOUCH-10), shared-login fees invoiced
once (R-USE-2), receipts (R-PAY-11), failed charges retried, ended accounts never charged
(R-TERM-1), and every period billed exactly once however often or however far the run gets.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from lifecycle.billing import billing_run, bills, invoicing
from lifecycle.core import clock
from lifecycle.core.money import div_round_half_up
from lifecycle.core.settings import Settings, get_settings
from lifecycle.storage import Account, AuditEvent, Invoice, PriceChange, SharedLoginDetection
from local_runtime.scheduler import trigger
from local_runtime.template import Resolver, load, resources, schedules
from tests.conftest import ledger
from tests.support import Reply, call, outbox_items, owner_of, pay, run_schedule
from tests.unit.test_signup import NOW, TRIAL, add_voucher, person

DAY = timedelta(days=1)
# A voucher account redeemed at NOW (25 November 2026, 12:00), and a subscription paid then, have
# monthly periods from that instant (R-PAY-1): the first is [25 November 12:00, 25 December 12:00),
# 30 days. Shared-login fee months go from midnight to midnight of the 25th (R-USE-2).
FIRST_END = datetime(2026, 12, 25, 12, tzinfo=UTC)
SECOND_END = datetime(2027, 1, 25, 12, tzinfo=UTC)
FEE_MONTH = (datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 12, 25, tzinfo=UTC))
MONTH_30 = 30 * 24 * 3600
MONTH_31 = 31 * 24 * 3600


pytestmark = pytest.mark.usefixtures("world", "provider_ledger", "outbox")


def at(instant: datetime) -> None:
    clock.set_now(instant)


def lifetime(n: int = 0) -> dict[str, Any]:
    code = f"RUN-DEAL-{n:04d}"
    add_voucher(code)
    reply = call(
        "POST",
        "/redemptions",
        body=person(code=code, email=f"owner{n}@example.com", company_name=f"Company {n}"),
    )
    assert reply.status == 201, reply.body
    return dict(reply.body)


def subscription(plan: str = "ticket", n: int = 0) -> dict[str, Any]:
    body = {**TRIAL, "plan": plan, "email": f"sub{n}@example.com", "company_name": f"Sub {n}"}
    reply = call("POST", "/signups", body=body)
    assert reply.status == 201, reply.body
    return dict(reply.body)


def add_user(account: dict[str, Any], n: int) -> str:
    body = {"full_name": "Petar Georgiev", "email": f"agent{n}@example.com", "role": "agent"}
    reply = call("POST", f"/accounts/{account['id']}/users", body=body, claims=owner_of(account))
    assert reply.status == 201, reply.body
    return str(reply.body["user_id"])


def remove_user(account: dict[str, Any], user_id: str) -> None:
    reply = call("DELETE", f"/accounts/{account['id']}/users/{user_id}", claims=owner_of(account))
    assert reply.status == 204, reply.body


def replace_card(account: dict[str, Any], token: str) -> Reply:
    body = {"type": "card", "token": token}
    return call("PUT", f"/accounts/{account['id']}/payment-method", body=body, claims=owner_of(account))


def seen(account: dict[str, Any]) -> dict[str, Any]:
    reply = call("GET", f"/accounts/{account['id']}", claims=owner_of(account))
    assert reply.status == 200, reply.body
    return dict(reply.body)


def invoices(account: dict[str, Any]) -> list[dict[str, Any]]:
    """In the order they were numbered (ids of one frozen instant do not sort by issue)."""
    reply = call("GET", f"/accounts/{account['id']}/invoices", claims=owner_of(account))
    assert reply.status == 200, reply.body
    return sorted(reply.body["items"], key=lambda invoice: str(invoice["number"]))


def charges() -> list[int]:
    provider = ledger()
    return [charge.amount.amount for charge in provider.charges()]


def notices(outbox: Path, account: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [item for item in outbox_items(outbox) if item["account_id"] == account["id"] and item["type"] == type_]


def run(**detail: Any) -> dict[str, Any]:
    return run_schedule("billing-run", detail or None)


def stored(account: dict[str, Any]) -> Account:
    return Account.get(account["id"], consistent_read=True)


# ---------------------------------------------------------------- voucher accounts (R-VOUCH-6)


def test_r_vouch_6_an_extra_user_for_the_last_10_days_of_a_30_day_month_costs_a_third(outbox: Path) -> None:
    account = lifetime()
    add_user(account, 1)  # the package's second seat: free (R-VOUCH-5)
    assert pay(account).status == 200
    at(FIRST_END - 10 * DAY)
    extra = add_user(account, 2)

    at(FIRST_END + timedelta(hours=1))
    assert run() == {"examined": 1, "changed": 1, "errors": 0, "next": None}

    (invoice,) = invoices(account)
    (line,) = invoice["lines"]
    assert div_round_half_up(864_000 * 3900, MONTH_30) == 1300
    assert line["amount"] == {"amount": 1300, "currency": "USD"}
    assert line["unit_price"] == {"amount": 3900, "currency": "USD"}
    assert (line["rule"], line["quantity"]) == ("R-VOUCH-6", 1)
    assert (
        line["description"] == f"Extra user {extra}, 2026-12-15 12:00 to 2026-12-25 12:00, 864,000 of 2,592,000 seconds"
    )
    assert (line["period_start"], line["period_end"]) == ("2026-12-15T12:00:00Z", "2026-12-25T12:00:00Z")
    # The month runs from the redemption's instant (R-PAY-1's periods), not from that day's midnight.
    assert (invoice["period_start"], invoice["period_end"]) == ("2026-11-25T12:00:00Z", "2026-12-25T12:00:00Z")
    assert (invoice["status"], invoice["total"]["amount"]) == ("paid", 1300)  # reverse charge: no VAT
    assert charges() == [1300]
    # R-PAY-11: the receipt names the invoice.
    (receipt,) = notices(outbox, account, "receipt")
    assert invoice["number"] in receipt["body"]
    after = stored(account)
    assert (after.billed_through, after.bill_due_at, after.last_invoice_id) == (FIRST_END, SECOND_END, invoice["id"])


def test_r_vouch_6_two_extra_users_one_removed_are_billed_for_the_seconds_each_existed() -> None:
    account = lifetime()
    add_user(account, 1)
    assert pay(account).status == 200
    stays, leaves = add_user(account, 2), add_user(account, 3)  # both extra, from 12:00 on the 25th
    at(datetime(2026, 12, 5, 0, 0, 1, tzinfo=UTC))
    remove_user(account, leaves)

    at(FIRST_END + timedelta(hours=1))
    run()
    (first,) = invoices(account)
    amounts = {line["description"].split(",")[0]: line for line in first["lines"]}
    whole = amounts[f"Extra user {stays}"]
    # Billing and the month both start at the redemption (12:00): a whole month.
    assert (whole["seconds"], whole["period_seconds"]) == (MONTH_30, MONTH_30)
    assert whole["amount"]["amount"] == 3900
    part = amounts[f"Extra user {leaves}"]
    assert part["seconds"] == 9 * 86_400 + 43_200 + 1
    assert part["amount"]["amount"] == div_round_half_up(820_801 * 3900, MONTH_30) == 1235
    assert first["total"]["amount"] == 3900 + 1235

    at(SECOND_END + timedelta(hours=1))
    run()
    _, second = invoices(account)
    (line,) = second["lines"]
    assert line["description"].startswith(f"Extra user {stays}, 2026-12-25 12:00 to 2027-01-25 12:00")
    assert (line["seconds"], line["period_seconds"], line["amount"]["amount"]) == (MONTH_31, MONTH_31, 3900)
    assert charges() == [5135, 3900]


def test_r_vouch_9_without_extra_users_there_is_no_invoice_and_nobody_is_asked(outbox: Path) -> None:
    account = lifetime()
    add_user(account, 1)  # the second included seat
    at(datetime(2027, 2, 26, 1, 0, tzinfo=UTC))  # three months have ended
    assert run()["changed"] == 1
    assert invoices(account) == []
    assert charges() == []
    assert (seen(account)["status"], seen(account)["access"]) == ("active", "full")
    assert notices(outbox, account, "payment_required") == []
    after = stored(account)
    assert (after.billed_through, after.bill_due_at) == (
        datetime(2027, 2, 25, 12, tzinfo=UTC),
        datetime(2027, 3, 25, 12, tzinfo=UTC),
    )


def test_r_vouch_6_months_missed_by_downtime_are_billed_one_by_one_oldest_first() -> None:
    account = lifetime()
    add_user(account, 1)
    assert pay(account).status == 200
    add_user(account, 2)
    at(SECOND_END + timedelta(days=3))
    run()
    first, second = invoices(account)
    assert (first["period_start"], second["period_start"]) == ("2026-11-25T12:00:00Z", "2026-12-25T12:00:00Z")
    assert int(first["number"].split("-")[1]) + 1 == int(second["number"].split("-")[1])
    assert charges() == [3900, 3900]


# ---------------------------------------------------------------- R-VOUCH-10


def test_r_vouch_10_a_charge_due_without_details_blocks_access_at_once_and_tells_the_owner_once(
    outbox: Path,
) -> None:
    account = lifetime()
    add_user(account, 1)
    add_user(account, 2)  # extra, from the redemption on
    at(FIRST_END + timedelta(hours=1))
    assert run()["changed"] == 1
    assert (seen(account)["status"], seen(account)["access"]) == ("payment_required", "payment_required")
    newcomer = {"full_name": "Ana Petrova", "email": "ana@example.com", "role": "agent"}
    blocked = call("POST", f"/accounts/{account['id']}/users", body=newcomer, claims=owner_of(account))
    assert (blocked.status, blocked.code) == (403, "account_blocked")
    assert run() == {"examined": 0, "changed": 0, "errors": 0, "next": None}
    # Further months accumulate; nothing billed is lost and the owner is told once.
    at(SECOND_END + timedelta(hours=1))
    run()
    assert len(notices(outbox, account, "payment_required")) == 1
    after = stored(account)
    assert (after.status, after.billed_through) == ("payment_required", NOW)
    assert after.bill_due_at == datetime(2027, 2, 25, 12, tzinfo=UTC)
    assert invoices(account) == []
    assert charges() == []
    assert "payment_required" in [event.type for event in AuditEvent.query(account["id"])]

    # The details and a card: everything due is billed to it, access returns at once.
    paid = pay(account)
    assert paid.status == 200, paid.body
    assert (paid.body["account"]["status"], paid.body["account"]["access"]) == ("active", "full")
    first, second = invoices(account)
    assert paid.body["invoice"]["id"] == second["id"]
    assert {first["status"], second["status"]} == {"paid"}
    assert {line["rule"] for line in first["lines"] + second["lines"]} == {"R-VOUCH-6"}
    assert charges() == [3900, 3900]
    after = stored(account)
    assert (after.billed_through, after.bill_due_at, after.has_payment_method) == (
        SECOND_END,
        datetime(2027, 2, 25, 12, tzinfo=UTC),
        True,
    )
    assert len(notices(outbox, account, "receipt")) == 2


def test_r_vouch_10_a_declined_card_does_not_restore_access_and_a_good_one_does() -> None:
    account = lifetime()
    add_user(account, 1)
    add_user(account, 2)
    at(FIRST_END + timedelta(hours=1))
    run()
    declined = pay(account, token="tok_chargeDeclined")
    assert (declined.status, declined.code) == (402, "payment_declined")
    after = stored(account)
    assert (after.status, after.has_payment_method, after.billed_through) == ("payment_required", False, NOW)
    assert invoices(account) == []
    good = pay(account, token="tok_mastercard")
    assert good.status == 200, good.body
    assert good.body["account"]["access"] == "full"
    assert charges() == [3900]


def test_r_vouch_10_a_card_without_extra_users_is_just_kept() -> None:
    account = lifetime()
    assert pay(account).status == 200
    assert stored(account).status == "active"
    assert invoices(account) == []


# ---------------------------------------------------------------- subscriptions (R-PAY-1)


def test_r_pay_1_a_monthly_subscription_renews_in_advance_at_the_price_in_force_when_the_period_starts(
    outbox: Path,
) -> None:
    account = subscription()
    assert pay(account).status == 200  # the first period, 25 November 12:00 to 25 December 12:00, 19.00
    # R-PAY-9: a change effective before the next period's start applies to it, a later one does not.
    for effective, amount in ((datetime(2026, 12, 20, tzinfo=UTC), 2400), (datetime(2026, 12, 26, tzinfo=UTC), 9900)):
        PriceChange(
            "ticket#monthly",
            effective,
            id=f"price-{amount}",
            plan="ticket",
            billing_period="monthly",
            amount=amount,
            currency="USD",
            previous_amount=1900,
            scheduled_at=NOW,
            scheduled_by="staff-1",
            notices_recorded_at=NOW,
        ).save()

    at(FIRST_END + timedelta(hours=1))
    assert run()["changed"] == 1
    _, renewal = invoices(account)
    assert (renewal["period_start"], renewal["period_end"]) == ("2026-12-25T12:00:00Z", "2027-01-25T12:00:00Z")
    (line,) = renewal["lines"]
    assert (line["rule"], line["quantity"], line["unit_price"]["amount"]) == ("R-PAY-1", 1, 2400)
    assert Invoice.get(account["id"], renewal["id"]).purpose == "renewal#2026-12-25T12:00:00Z"
    assert charges() == [1900, 2400]
    after = stored(account)
    assert (after.period_start, after.period_end, after.bill_due_at) == (FIRST_END, SECOND_END, SECOND_END)
    assert (after.charge_attempts, after.last_invoice_id) == (0, renewal["id"])
    assert len(notices(outbox, account, "receipt")) == 2

    at(SECOND_END + timedelta(hours=1))
    run()
    assert invoices(account)[-1]["lines"][0]["unit_price"]["amount"] == 9900


def test_r_pay_1_a_renewal_is_due_at_its_period_s_start_and_charged_within_an_hour() -> None:
    """The period paid at 12:00 is renewed from 12:00 a month later: due (``bill_due_at``) at
    that instant, not billed a second before it, and charged by the first run after it, which
    the template's schedule and the run's time budget put within the hour."""
    account = subscription()
    assert pay(account).status == 200
    assert stored(account).bill_due_at == stored(account).period_end == FIRST_END
    at(FIRST_END - timedelta(seconds=1))
    assert run()["examined"] == 0
    assert charges() == [1900]

    template = load()
    (schedule,) = [item for item in schedules(template, Resolver(template)) if item.name == "billing-run"]
    function = resources(template, "AWS::Serverless::Function")["BillingRunFunction"]["Properties"]
    firing = trigger(schedule.expression, FIRST_END - DAY)
    times = [firing.next_after(FIRST_END - DAY)]
    while times[-1] < FIRST_END + DAY:
        times.append(firing.next_after(times[-1]))
    # Due just after one run, a renewal waits for the next run, then at most the run's own time.
    slowest = max(later - earlier for earlier, later in pairwise(times)) + timedelta(seconds=function["Timeout"])
    assert slowest <= timedelta(hours=1), f"{schedule.expression}: a renewal may wait {slowest}"

    first_run_after = min(time for time in times if time >= FIRST_END)
    at(first_run_after)
    assert run()["changed"] == 1
    renewal = invoices(account)[-1]
    assert renewal["period_start"] == clock.to_iso(FIRST_END)
    assert clock.parse_iso(renewal["issued_at"]) - FIRST_END <= timedelta(hours=1)
    assert charges() == [1900, 1900]


def test_r_pay_1_a_subscription_stored_with_midnight_periods_continues_at_midnight() -> None:
    """Periods paid before they kept the anchor's time of day were stored at midnight (anchor,
    start, end): they go on at midnight, no second billed twice or skipped."""
    account = subscription()
    assert pay(account).status == 200
    midnight, end = datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 12, 25, tzinfo=UTC)
    Account(account["id"]).update(
        actions=[
            Account.billing_anchor.set(midnight),
            Account.period_start.set(midnight),
            Account.period_end.set(end),
            Account.bill_due_at.set(end),
        ]
    )
    at(end + timedelta(minutes=15))
    assert run()["changed"] == 1
    renewal = invoices(account)[-1]
    assert (renewal["period_start"], renewal["period_end"]) == ("2026-12-25T00:00:00Z", "2027-01-25T00:00:00Z")
    after = stored(account)
    next_end = datetime(2027, 1, 25, tzinfo=UTC)
    assert (after.billing_anchor, after.period_start, after.period_end, after.bill_due_at) == (
        midnight,
        end,
        next_end,
        next_end,
    )


def test_r_vouch_6_a_voucher_account_billed_through_a_midnight_continues_on_its_midnights() -> None:
    """A voucher account redeemed at 12:00 and billed before periods kept the anchor's time of
    day was billed through midnights: its months stay [midnight of the 25th, midnight of the
    25th), so the next bill starts where the last one ended."""
    account = lifetime()
    add_user(account, 1)
    assert pay(account).status == 200
    extra = add_user(account, 2)  # from 12:00 on 25 November
    billed_to, due = datetime(2026, 12, 25, tzinfo=UTC), datetime(2027, 1, 25, tzinfo=UTC)
    Account(account["id"]).update(actions=[Account.billed_through.set(billed_to), Account.bill_due_at.set(due)])
    at(due + timedelta(minutes=15))
    assert run()["changed"] == 1
    (invoice,) = invoices(account)
    (line,) = invoice["lines"]
    assert (invoice["period_start"], invoice["period_end"]) == ("2026-12-25T00:00:00Z", "2027-01-25T00:00:00Z")
    assert line["description"].startswith(f"Extra user {extra}, 2026-12-25 00:00 to 2027-01-25 00:00")
    assert (line["seconds"], line["amount"]["amount"]) == (MONTH_31, 3900)
    after = stored(account)
    assert (after.billed_through, after.bill_due_at) == (due, datetime(2027, 2, 25, tzinfo=UTC))


def test_r_pay_8_a_pending_downgrade_takes_effect_at_the_next_period() -> None:
    account = subscription(plan="ticket-chat")
    assert pay(account).status == 200
    Account(account["id"]).update(
        actions=[
            Account.pending_plan.set("ticket"),
            Account.pending_seats.set(1),
            Account.pending_billing_period.set("monthly"),
        ]
    )
    at(FIRST_END + timedelta(hours=1))
    run()
    renewal = invoices(account)[-1]
    assert renewal["lines"][0]["unit_price"]["amount"] == 1900
    assert renewal["lines"][0]["description"].startswith("Ticket plan, monthly subscription, 1 seat")
    after = stored(account)
    assert (after.plan, after.price_key, after.pending_plan, after.pending_seats) == (
        "ticket",
        "ticket#monthly",
        None,
        None,
    )
    assert charges() == [2900, 1900]


def test_r_pay_8_a_pending_move_to_annual_re_anchors_the_periods_where_it_starts() -> None:
    account = subscription()
    assert pay(account).status == 200
    Account(account["id"]).update(actions=[Account.pending_billing_period.set("annual")])
    at(FIRST_END + timedelta(hours=1))
    run()
    renewal = invoices(account)[-1]
    assert (renewal["period_start"], renewal["period_end"]) == ("2026-12-25T12:00:00Z", "2027-12-25T12:00:00Z")
    assert renewal["total"]["amount"] == 19_000
    after = stored(account)
    assert (after.billing_period, after.billing_anchor, after.bill_due_at) == (
        "annual",
        FIRST_END,
        datetime(2027, 12, 25, 12, tzinfo=UTC),
    )


# ---------------------------------------------------------------- shared-login fees (R-USE-2)


def pending_fee(account: dict[str, Any], start: datetime, end: datetime) -> None:
    SharedLoginDetection(
        account["id"],
        f"{start.date().isoformat()}#fee",
        kind="fee",
        period_start=start,
        period_end=end,
        status="pending",
        amount=3900,
        currency="USD",
        users={"user-x"},
        detection_days=3,
        marked_at=start + DAY,
    ).save()


def test_r_use_2_a_pending_fee_goes_on_the_next_invoice_once() -> None:
    account = lifetime()
    add_user(account, 1)
    assert pay(account).status == 200
    add_user(account, 2)
    pending_fee(account, *FEE_MONTH)
    at(FIRST_END + timedelta(hours=1))
    run()
    (invoice,) = invoices(account)
    fee_line = next(line for line in invoice["lines"] if line["rule"] == "R-USE-2")
    assert fee_line["amount"]["amount"] == 3900
    assert invoice["total"]["amount"] == 3900 + 3900
    fee = SharedLoginDetection.get(account["id"], "2026-11-25#fee")
    assert fee.status == "invoiced"
    raw = SharedLoginDetection._get_connection().get_item(account["id"], "2026-11-25#fee")["Item"]
    assert raw["invoice_id"]["S"] == invoice["id"]

    at(SECOND_END + timedelta(hours=1))
    run()
    assert [line["rule"] for line in invoices(account)[-1]["lines"]] == ["R-VOUCH-6"]


def test_r_vouch_9_a_fee_alone_never_asks_a_voucher_account_without_extra_users(outbox: Path) -> None:
    account = lifetime()
    pending_fee(account, *FEE_MONTH)
    at(FIRST_END + timedelta(hours=1))
    run()
    assert (stored(account).status, stored(account).billed_through) == ("active", FIRST_END)
    assert notices(outbox, account, "payment_required") == []
    assert invoices(account) == []
    assert SharedLoginDetection.get(account["id"], "2026-11-25#fee").status == "pending"  # left to staff


def test_r_use_2_a_subscription_renewal_carries_the_fee_of_the_month_that_ended() -> None:
    account = subscription()
    assert pay(account).status == 200
    pending_fee(account, *FEE_MONTH)
    at(FIRST_END + timedelta(hours=1))
    run()
    renewal = invoices(account)[-1]
    assert [line["rule"] for line in renewal["lines"]] == ["R-PAY-1", "R-USE-2"]
    assert renewal["total"]["amount"] == 1900 + 3900


def test_r_use_2_a_waived_fee_is_not_billed() -> None:
    account = subscription()
    assert pay(account).status == 200
    pending_fee(account, *FEE_MONTH)
    SharedLoginDetection(account["id"], "2026-11-25#fee").update(actions=[SharedLoginDetection.status.set("waived")])
    at(FIRST_END + timedelta(hours=1))
    run()
    assert [line["rule"] for line in invoices(account)[-1]["lines"]] == ["R-PAY-1"]


# ---------------------------------------------------------------- failed charges


def test_a_declined_renewal_is_retried_with_notices_then_blocks_access(outbox: Path) -> None:
    account = subscription()
    assert pay(account).status == 200
    assert replace_card(account, "tok_chargeDeclined").status == 200
    when = FIRST_END + timedelta(hours=1)
    for attempt, hours in enumerate(get_settings().payment_retry_hours, start=1):
        at(when)
        assert run()["changed"] == 1
        after = stored(account)
        assert (after.status, after.charge_attempts) == ("active", attempt)
        assert after.bill_due_at == when + timedelta(hours=hours)
        assert run()["examined"] == 0  # not due again before the retry
        when += timedelta(hours=hours)
    at(when)
    run()
    assert (seen(account)["status"], seen(account)["access"]) == ("payment_required", "payment_required")
    assert len(notices(outbox, account, "payment_failed")) == 3
    assert len(notices(outbox, account, "payment_required")) == 1
    assert len(invoices(account)) == 1  # nothing saved but the attempts
    assert charges() == [1900]

    # A good card: the subscription resumes with the period containing now, at once.
    at(SECOND_END + 5 * DAY)
    resumed = replace_card(account, "tok_visa")
    assert resumed.status == 200, resumed.body
    assert resumed.body["account"]["access"] == "full"
    assert (resumed.body["invoice"]["period_start"], resumed.body["invoice"]["period_end"]) == (
        "2027-01-25T12:00:00Z",
        "2027-02-25T12:00:00Z",
    )
    after = stored(account)
    assert (after.status, after.charge_attempts, after.bill_due_at) == (
        "active",
        0,
        datetime(2027, 2, 25, 12, tzinfo=UTC),
    )


def test_a_retry_after_the_owner_replaced_the_card_charges_it_and_resets_the_attempts() -> None:
    account = subscription()
    assert pay(account).status == 200
    assert replace_card(account, "tok_chargeDeclined").status == 200
    at(FIRST_END + timedelta(hours=1))
    run()
    assert stored(account).charge_attempts == 1
    assert replace_card(account, "tok_mastercard").status == 200
    at(FIRST_END + timedelta(hours=25))
    run()
    assert charges() == [1900, 1900]
    renewal = invoices(account)[-1]
    assert renewal["period_start"] == "2026-12-25T12:00:00Z"
    assert Invoice.get(account["id"], renewal["id"]).charge_attempts == 2
    assert (stored(account).charge_attempts, stored(account).bill_due_at) == (0, SECOND_END)


# ---------------------------------------------------------------- R-TERM-1


def test_r_term_1_a_cancelled_account_is_never_charged_again() -> None:
    account = subscription()
    assert pay(account).status == 200
    assert call("POST", f"/accounts/{account['id']}/cancel", claims=owner_of(account)).status == 200
    at(FIRST_END + timedelta(hours=1))
    run()
    assert charges() == [1900]
    assert len(invoices(account)) == 1


def test_r_term_1_an_ended_account_still_in_the_index_is_taken_out_without_a_charge() -> None:
    account = subscription()
    assert pay(account).status == 200
    Account(account["id"]).update(actions=[Account.status.set("terminated")])  # bill_due_at left behind
    at(FIRST_END + timedelta(hours=1))
    assert run() == {"examined": 1, "changed": 1, "errors": 0, "next": None}
    assert stored(account).bill_due_at is None
    assert charges() == [1900]
    assert run()["examined"] == 0


def test_a_suspended_account_is_not_charged_and_stays_due_until_reinstated() -> None:
    account = subscription()
    assert pay(account).status == 200
    Account(account["id"]).update(actions=[Account.status.set("suspended")])
    at(FIRST_END + timedelta(hours=1))
    assert run()["changed"] == 0
    assert charges() == [1900]
    Account(account["id"]).update(actions=[Account.status.set("active")])
    run()
    assert charges() == [1900, 1900]


# ---------------------------------------------------------------- once, whatever happens


def test_a_dry_run_only_counts_what_is_due() -> None:
    account = subscription()
    assert pay(account).status == 200
    at(FIRST_END + timedelta(hours=1))
    assert run(dry_run=True) == {"examined": 1, "changed": 0, "errors": 0, "next": None}
    assert charges() == [1900]
    assert stored(account).period_end == FIRST_END


def test_r_pay_1_running_twice_bills_once() -> None:
    account = subscription()
    assert pay(account).status == 200
    at(FIRST_END + timedelta(hours=1))
    assert run()["changed"] == 1
    assert run()["examined"] == 0
    assert len(invoices(account)) == 2
    assert charges() == [1900, 1900]


def test_r_pay_1_the_same_account_billed_by_two_runs_read_at_once_is_charged_once() -> None:
    """Two runs that read the account before either wrote: one purpose, one provider key."""
    account = subscription()
    assert pay(account).status == 200
    at(FIRST_END + timedelta(hours=1))
    first_read, second_read = stored(account), stored(account)
    assert billing_run._collect(first_read, clock.now(), get_settings())
    assert not billing_run._collect(second_read, clock.now(), get_settings())
    assert len(invoices(account)) == 2
    assert charges() == [1900, 1900]
    assert ledger().refunds() == []


class Killed(BaseException):
    """The Lambda stopped dead (a timeout or a crash), not an error the run can count."""


def test_a_run_killed_after_the_charge_and_before_the_invoice_charges_once_when_rerun(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = subscription()
    assert pay(account).status == 200
    issue = invoicing.issue

    def killed(*args: Any, **kwargs: Any) -> Any:
        raise Killed

    monkeypatch.setattr(invoicing, "issue", killed)
    at(FIRST_END + timedelta(hours=1))
    with pytest.raises(Killed):
        run()
    assert charges() == [1900, 1900]  # charged, not issued
    monkeypatch.setattr(invoicing, "issue", issue)
    run()
    assert charges() == [1900, 1900]  # the rerun replayed the same charge
    assert len(invoices(account)) == 2


def test_a_run_killed_half_way_is_finished_by_the_next_run_billing_each_account_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    accounts = []
    for n in range(6):
        account = lifetime(n)
        add_user(account, 10 * n + 1)
        add_user(account, 10 * n + 2)
        assert pay(account).status == 200
        accounts.append(account)
    collect, seen_ids = billing_run._collect, []

    def dies_after_three(account: Account, now: datetime, settings: Settings) -> bool:
        if len(seen_ids) == 3:
            raise Killed
        seen_ids.append(account.id)
        return collect(account, now, settings)

    monkeypatch.setattr(billing_run, "_collect", dies_after_three)
    at(FIRST_END + timedelta(hours=1))
    with pytest.raises(Killed):
        run()
    assert len(charges()) == 3
    monkeypatch.setattr(billing_run, "_collect", collect)
    summary = run()
    assert (summary["examined"], summary["changed"], summary["errors"]) == (3, 3, 0)
    assert [len(invoices(account)) for account in accounts] == [1] * 6
    assert charges() == [3900] * 6
    assert run()["examined"] == 0


def test_an_account_whose_bill_fails_is_counted_and_left_due_while_the_others_are_billed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken, fine = lifetime(1), lifetime(2)
    for n, account in enumerate((broken, fine)):
        add_user(account, 10 * n + 1)
        add_user(account, 10 * n + 2)
        assert pay(account).status == 200
    intervals = bills._intervals

    def flaky(account_id: str, *args: Any) -> Any:
        if account_id == broken["id"]:
            raise RuntimeError("the table is unreachable")
        return intervals(account_id, *args)

    monkeypatch.setattr(bills, "_intervals", flaky)
    at(FIRST_END + timedelta(hours=1))
    assert run() == {"examined": 2, "changed": 1, "errors": 1, "next": None}
    monkeypatch.setattr(bills, "_intervals", intervals)
    assert run() == {"examined": 1, "changed": 1, "errors": 0, "next": None}
    assert charges() == [3900, 3900]
