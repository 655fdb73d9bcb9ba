"""Prepaid credit in the billing run and in subscription changes, over moto (R-CREDIT-1):
time the credit pays for is not billed again — a renewal it covers is neither charged nor
invoiced, one it covers in part bills only the uncovered seconds, a voucher account's extra
seats are billed only for the time the credit did not pay — while shared-login fees are
never paid by it (R-USE-2); a change of seats (an upgrade now, pending seats at a renewal)
settles the credit at the new seat cost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifecycle.billing.credit import YEAR_SECONDS
from lifecycle.core import clock
from lifecycle.core.money import div_round_half_up
from lifecycle.storage import Account, AuditEvent, Invoice
from tests.support import call, owner_of, pay
from tests.unit.test_billing_run import (
    FEE_MONTH,
    FIRST_END,
    MONTH_30,
    MONTH_31,
    SECOND_END,
    add_user,
    at,
    charges,
    invoices,
    lifetime,
    pending_fee,
    run,
    stored,
    subscription,
)
from tests.unit.test_credit import EXTRA_SEAT, TICKET, YEAR, buy, iso, read, usd
from tests.unit.test_signup import NOW, TRIAL

HOUR = timedelta(hours=1)
ANNUAL = 19_000  # the ticket plan's standing annual seat price
# One seat-month of credit lasts a twelfth of a 365-day year: 30 days 10 hours. Bought at
# NOW (25 November 2026, 12:00) by a voucher account it runs out on 25 December at 22:00; a
# subscription's runs from the end of its period paid by card, FIRST_END (25 December, 12:00:
# periods start at the instant paid, R-PAY-1), to 24 January 22:00.
MONTH_OF_CREDIT = timedelta(seconds=YEAR_SECONDS // 12)
RUNS_OUT = NOW + MONTH_OF_CREDIT


pytestmark = pytest.mark.usefixtures("world", "provider_ledger", "outbox")


def paying_subscription() -> dict[str, Any]:
    """A ticket subscription, monthly, one seat; its first period [25 Nov, 25 Dec) paid by card."""
    account = subscription()
    assert pay(account).status == 200
    assert charges() == [TICKET]
    return account


def voucher_with_an_extra_user() -> dict[str, Any]:
    """A voucher account with its two included seats used and one extra user from NOW."""
    account = lifetime()
    add_user(account, 1)
    assert pay(account).status == 200
    add_user(account, 2)
    return account


def events(account: dict[str, Any], type_: str) -> list[AuditEvent]:
    return [event for event in AuditEvent.query(account["id"], consistent_read=True) if event.type == type_]


def billed(account: dict[str, Any]) -> list[dict[str, Any]]:
    """The account's invoices other than its credit purchases."""
    purchases = {
        invoice.invoice_id
        for invoice in Invoice.query(account["id"], consistent_read=True)
        if invoice.purpose.startswith("prepaid-credit#")
    }
    return [invoice for invoice in invoices(account) if invoice["id"] not in purchases]


def change(account: dict[str, Any], **body: Any) -> Any:
    return call("PUT", f"/accounts/{account['id']}/subscription", body=body, claims=owner_of(account))


# ---------------------------------------------------------------- subscription renewals


def test_r_credit_1_a_renewal_the_credit_covers_is_neither_charged_nor_invoiced() -> None:
    account = paying_subscription()
    assert buy(account, 12 * TICKET).status == 201  # from 25 December 2026 until 25 December 2027
    assert charges() == [TICKET, 12 * TICKET]

    at(FIRST_END + HOUR)
    assert run()["changed"] == 1
    assert charges() == [TICKET, 12 * TICKET]
    assert len(billed(account)) == 1  # the first period's only
    after = stored(account)
    assert (after.period_start, after.period_end, after.bill_due_at) == (FIRST_END, SECOND_END, SECOND_END)
    (event,) = events(account, "period_covered_by_credit")
    assert (event.actor, event.at) == ("billing-run", FIRST_END + HOUR)
    assert event.details.as_dict() == {  # type: ignore[no-untyped-call]
        "rule": "R-CREDIT-1",
        "period_start": "2026-12-25T12:00:00Z",
        "period_end": "2027-01-25T12:00:00Z",
        "covered_until": "2027-01-25T12:00:00Z",
    }
    # The credit was not touched: it keeps running down at the seat cost.
    assert read(account).body["valid_until"] == iso(FIRST_END + YEAR)


def renewal(k: int) -> datetime:
    """The k-th renewal of the monthly subscriptions here: 25 December 2026, 12:00 is the first."""
    month = 11 + k
    return datetime(2026 + (month - 1) // 12, (month - 1) % 12 + 1, 25, 12, tzinfo=UTC)


def test_r_credit_1_twelve_months_bought_mid_period_pay_the_next_12_renewals_month_by_month() -> None:
    """Gap 1: the period paid by card is not paid again by the credit."""
    account = paying_subscription()
    at(datetime(2026, 12, 10, 9, 30, tzinfo=UTC))  # mid-period: paid by card until 25 December
    bought = buy(account, 12 * TICKET)
    assert bought.status == 201, bought.body
    assert (bought.body["balance"], bought.body["valid_until"]) == (usd(12 * TICKET), iso(FIRST_END + YEAR))
    assert iso(FIRST_END + YEAR) == "2027-12-25T12:00:00Z"
    at(FIRST_END - timedelta(seconds=1))
    assert read(account).body["balance"] == usd(12 * TICKET)  # nothing used during the paid period

    for k in range(1, 13):  # 25 December 2026 … 25 November 2027
        at(renewal(k) + HOUR)
        assert run()["changed"] == 1
        assert charges() == [TICKET, 12 * TICKET], k
        assert stored(account).period_start == renewal(k)
    assert len(billed(account)) == 1  # the first period's only
    assert len(events(account, "period_covered_by_credit")) == 12

    at(renewal(13) + HOUR)  # 25 December 2027: the credit has run out, the full price
    run()
    (line,) = billed(account)[-1]["lines"]
    assert (line["rule"], line["amount"]) == ("R-PAY-1", usd(TICKET))
    assert charges() == [TICKET, 12 * TICKET, TICKET]
    assert read(account).body["balance"] == usd(0)


def test_r_credit_1_twelve_months_of_credit_cover_every_renewal_until_it_runs_out_then_the_rest_is_billed() -> None:
    account = paying_subscription()
    assert buy(account, 12 * TICKET).status == 201

    at(renewal(14) + HOUR)  # a catch-up: fourteen periods are due
    run()
    # The renewals of 25 December 2026 … 25 November 2027 end when the credit runs out.
    assert len(events(account, "period_covered_by_credit")) == 12
    assert [invoice["lines"][0]["rule"] for invoice in billed(account)[1:]] == ["R-PAY-1", "R-PAY-1"]
    assert [invoice["period_start"] for invoice in billed(account)[1:]] == [iso(renewal(13)), iso(renewal(14))]
    assert charges() == [TICKET, 12 * TICKET, TICKET, TICKET]


def test_r_credit_1_an_annual_subscription_s_credit_starts_when_its_paid_year_ends() -> None:
    body = {**TRIAL, "billing_period": "annual", "email": "annual@example.com", "company_name": "Annual"}
    signed_up = call("POST", "/signups", body=body)
    assert signed_up.status == 201, signed_up.body
    account = dict(signed_up.body)
    assert pay(account).status == 200  # the trial ends: 25 November 2026 to 2027, by card
    assert charges() == [ANNUAL]
    year_end = datetime(2027, 11, 25, 12, tzinfo=UTC)
    assert stored(account).period_end == year_end
    at(datetime(2027, 5, 3, 8, 0, tzinfo=UTC))
    bought = buy(account, 12 * TICKET)
    assert bought.status == 201, bought.body
    assert bought.body["valid_until"] == iso(year_end + YEAR) == "2028-11-24T12:00:00Z"  # 2028 is a leap year

    at(year_end + HOUR)
    run()
    # The credit pays 365 of the 366 days: only 29 February's worth is charged.
    (line,) = billed(account)[-1]["lines"]
    leap_year = 366 * 86_400
    assert (line["rule"], line["seconds"], line["period_seconds"]) == ("R-CREDIT-1", 86_400, leap_year)
    assert line["amount"] == usd(div_round_half_up(ANNUAL * 86_400, leap_year))
    assert charges() == [ANNUAL, 12 * TICKET, div_round_half_up(ANNUAL * 86_400, leap_year)]


def test_r_credit_1_credit_running_out_mid_period_leaves_only_the_uncovered_seconds_to_charge() -> None:
    account = paying_subscription()
    assert buy(account, TICKET).status == 201  # one seat-month from 25 December 12:00: until 24 January, 22:00
    assert read(account).body["valid_until"] == iso(FIRST_END + MONTH_OF_CREDIT) == "2027-01-24T22:00:00Z"

    at(FIRST_END + HOUR)
    run()
    (renewal,) = billed(account)[1:]
    (line,) = renewal["lines"]
    uncovered = 14 * 3600
    assert div_round_half_up(TICKET * uncovered, MONTH_31) == 36
    assert (line["amount"], line["seconds"], line["period_seconds"]) == (usd(36), uncovered, MONTH_31)
    assert "covered by prepaid credit until 2027-01-24T22:00:00Z" in line["description"]
    assert (line["period_start"], line["period_end"]) == ("2027-01-24T22:00:00Z", "2027-01-25T12:00:00Z")
    assert renewal["total"] == usd(36)
    assert charges() == [TICKET, TICKET, 36]
    assert events(account, "period_covered_by_credit") == []

    # The next period: the credit has run out, the full price again.
    at(SECOND_END + HOUR)
    run()
    assert billed(account)[-1]["lines"][0]["rule"] == "R-PAY-1"
    assert charges()[-1] == TICKET


def test_r_credit_1_running_the_billing_run_again_changes_nothing_more() -> None:
    covered = paying_subscription()
    assert buy(covered, 12 * TICKET).status == 201
    partly = subscription(n=1)
    assert pay(partly).status == 200
    assert buy(partly, TICKET).status == 201
    at(FIRST_END + HOUR)
    run()
    before = (charges(), invoices(covered), invoices(partly), stored(covered).period_end, stored(partly).period_end)

    assert run()["changed"] == 0
    at(FIRST_END + 2 * HOUR)
    assert run()["changed"] == 0
    assert (charges(), invoices(covered), invoices(partly), stored(covered).period_end, stored(partly).period_end) == (
        before
    )
    assert len(events(covered, "period_covered_by_credit")) == 1


def test_r_use_2_a_shared_login_fee_is_never_paid_by_the_credit() -> None:
    account = paying_subscription()
    assert buy(account, 12 * TICKET).status == 201
    pending_fee(account, *FEE_MONTH)

    at(FIRST_END + HOUR)
    run()
    (renewal,) = billed(account)[1:]
    assert [line["rule"] for line in renewal["lines"]] == ["R-USE-2"]
    assert renewal["total"] == usd(3900)
    assert charges() == [TICKET, 12 * TICKET, 3900]
    assert len(events(account, "period_covered_by_credit")) == 1
    assert stored(account).period_end == SECOND_END


# ---------------------------------------------------------------- voucher accounts' extra seats


def test_r_credit_1_r_vouch_6_an_extra_seat_is_not_billed_while_the_credit_covers_it() -> None:
    account = voucher_with_an_extra_user()
    assert buy(account, EXTRA_SEAT).status == 201  # one seat-month: until 25 December, 22:00
    assert read(account).body["valid_until"] == iso(RUNS_OUT)
    assert charges() == [EXTRA_SEAT]

    at(FIRST_END + HOUR)
    assert run()["changed"] == 1
    assert billed(account) == []  # the month was paid by the credit: no invoice, no charge
    assert charges() == [EXTRA_SEAT]
    assert stored(account).billed_through == FIRST_END
    assert len(events(account, "period_covered_by_credit")) == 1

    at(SECOND_END + HOUR)
    run()
    (invoice,) = billed(account)
    (line,) = invoice["lines"]
    uncovered = MONTH_31 - 10 * 3600  # the month starts at 12:00, the credit ran until 22:00
    assert div_round_half_up(uncovered * EXTRA_SEAT, MONTH_31) == 3848
    assert (line["rule"], line["amount"], line["seconds"], line["period_seconds"]) == (
        "R-VOUCH-6",
        usd(3848),
        uncovered,
        MONTH_31,
    )
    assert (line["period_start"], line["period_end"]) == ("2026-12-25T22:00:00Z", "2027-01-25T12:00:00Z")
    assert line["description"].endswith(
        f"{uncovered:,} of {MONTH_31:,} seconds (before it, covered by prepaid credit until 2026-12-25T22:00:00Z)"
    )
    assert charges() == [EXTRA_SEAT, 3848]

    before = (charges(), invoices(account), stored(account).billed_through)
    assert run()["changed"] == 0
    assert (charges(), invoices(account), stored(account).billed_through) == before


@pytest.mark.parametrize("recorded", [True, False], ids=["credit_since", "older-account-without-credit_since"])
def test_r_credit_1_r_vouch_6_credit_bought_mid_month_does_not_pay_for_the_time_before_it(recorded: bool) -> None:
    account = voucher_with_an_extra_user()
    at(datetime(2026, 12, 10, tzinfo=UTC))
    assert buy(account, 12 * EXTRA_SEAT).status == 201
    assert stored(account).credit_since == datetime(2026, 12, 10, tzinfo=UTC)  # a voucher account's runs now
    if not recorded:  # bought before ``credit_since`` existed: the first purchase's invoice says it
        Account(account["id"]).update(actions=[Account.credit_since.remove()])

    at(FIRST_END + HOUR)
    run()
    (invoice,) = billed(account)
    (line,) = invoice["lines"]
    seconds = 14 * 86_400 + 12 * 3600  # 25 November 12:00 to 10 December 00:00
    assert (line["seconds"], line["amount"]) == (seconds, usd(div_round_half_up(seconds * EXTRA_SEAT, MONTH_30)))
    assert (line["period_start"], line["period_end"]) == ("2026-11-25T12:00:00Z", "2026-12-10T00:00:00Z")
    assert line["description"].endswith("(after it, covered by prepaid credit from 2026-12-10T00:00:00Z)")


# ---------------------------------------------------------------- seat changes settle the credit


def test_r_credit_1_more_seats_through_put_subscription_shorten_the_credit() -> None:
    account = paying_subscription()
    assert buy(account, 12 * TICKET).status == 201
    assert read(account).body["valid_until"] == iso(FIRST_END + YEAR)

    at(FIRST_END + timedelta(days=73))  # a fifth of the year used at one seat
    reply = change(account, seats=2)
    assert reply.status == 200, reply.body
    assert reply.body["subscription"]["seats"] == 2
    # The four fifths left (18 240) last half as long at two seats: 146 days.
    after = read(account).body
    assert (after["balance"], after["seats"], after["valid_until"]) == (
        usd(18_240),
        2,
        iso(FIRST_END + timedelta(days=73 + 146)),
    )


def test_r_credit_1_pending_seats_applied_at_a_renewal_settle_the_credit_at_the_new_seats() -> None:
    account = paying_subscription()
    assert change(account, seats=2).status == 200  # monthly: applies now, charged from the next invoice
    assert buy(account, 12 * 2 * TICKET).status == 201
    assert read(account).body["valid_until"] == iso(FIRST_END + YEAR)
    scheduled = change(account, seats=1, confirm_downgrade=True)
    assert scheduled.status == 200, scheduled.body
    assert scheduled.body["subscription"]["pending"]["seats"] == 1

    at(FIRST_END + HOUR)
    run()
    assert billed(account) == billed(account)[:1]  # covered at one seat: no renewal invoice
    assert stored(account).seats == 1
    after = read(account).body
    balance = after["balance"]["amount"]
    assert balance == 12 * 2 * TICKET - div_round_half_up(12 * 2 * TICKET * 3600, YEAR_SECONDS)  # an hour at two
    lasts = div_round_half_up(balance * YEAR_SECONDS, 12 * TICKET)
    assert (after["seats"], after["valid_until"]) == (1, iso(FIRST_END + HOUR + timedelta(seconds=lasts)))


# ---------------------------------------------------------------- a lapse: run out, bought again later


def test_r_credit_1_r_vouch_6_a_lapse_within_a_month_is_billed_to_the_second() -> None:
    """Gap 2: the seat's time between the credit running out and the next purchase is
    billed, the time either run paid for is not."""
    account = voucher_with_an_extra_user()
    assert buy(account, EXTRA_SEAT).status == 201  # runs out on 25 December, 22:00
    at(FIRST_END + HOUR)
    run()
    assert billed(account) == []  # the first month: paid by the credit
    again = datetime(2027, 1, 10, tzinfo=UTC)
    at(again)
    assert read(account).body["balance"] == usd(0)
    assert buy(account, 12 * EXTRA_SEAT).status == 201
    assert stored(account).credit_since == again

    at(SECOND_END + HOUR)
    run()
    (invoice,) = billed(account)
    (line,) = invoice["lines"]
    gap = (again - RUNS_OUT) // timedelta(seconds=1)
    assert gap == 15 * 86_400 + 2 * 3600  # 25 December 22:00 to 10 January 00:00
    amount = div_round_half_up(gap * EXTRA_SEAT, MONTH_31)
    assert (line["rule"], line["seconds"], line["period_seconds"], line["amount"]) == (
        "R-VOUCH-6",
        gap,
        MONTH_31,
        usd(amount),
    )
    assert (line["period_start"], line["period_end"]) == (iso(RUNS_OUT), iso(again))
    assert line["description"].endswith(
        "(before it, covered by prepaid credit until 2026-12-25T22:00:00Z; after it, from 2027-01-10T00:00:00Z)"
    )
    assert charges() == [EXTRA_SEAT, 12 * EXTRA_SEAT, amount]
    # The purchase that began the new run recorded the run before it.
    restarted = [event.details.as_dict() for event in events(account, "credit_bought")]  # type: ignore[no-untyped-call]
    assert [(d["runs_from"], d.get("previous_run_from"), d.get("previous_run_until")) for d in restarted] == [
        (iso(NOW), None, None),
        (iso(again), iso(NOW), iso(RUNS_OUT)),
    ]


def test_r_credit_1_r_vouch_6_a_lapse_across_months_is_billed_exactly_once() -> None:
    account = voucher_with_an_extra_user()
    assert buy(account, EXTRA_SEAT).status == 201  # runs out on 25 December, 22:00
    at(FIRST_END + HOUR)
    run()
    at(SECOND_END + HOUR)
    run()  # 25 December to 25 January: billed from 22:00 on
    again = datetime(2027, 2, 10, tzinfo=UTC)
    at(again)
    assert buy(account, 12 * EXTRA_SEAT).status == 201
    at(datetime(2027, 2, 25, 13, 0, tzinfo=UTC))  # the month from 25 January 12:00 has ended
    run()

    lines = [line for invoice in billed(account) for line in invoice["lines"]]
    assert [(line["period_start"], line["period_end"]) for line in lines] == [
        (iso(RUNS_OUT), iso(SECOND_END)),
        (iso(SECOND_END), iso(again)),  # not covered: the new credit runs from 10 February
    ]
    assert sum(line["seconds"] for line in lines) == (again - RUNS_OUT) // timedelta(seconds=1)
    assert lines[1]["amount"] == usd(div_round_half_up((15 * 86_400 + 12 * 3600) * EXTRA_SEAT, MONTH_31))


def test_r_credit_1_a_renewal_falling_in_a_lapse_is_charged_for_the_time_before_the_new_credit() -> None:
    """The billing run is late: the renewal of 25 January, when no credit was left, is
    billed after credit was bought again on 10 February; it pays from 10 February only."""
    account = paying_subscription()
    assert buy(account, TICKET).status == 201  # 25 December 12:00 to 24 January, 22:00
    at(FIRST_END + HOUR)
    run()
    assert charges() == [TICKET, TICKET, 36]  # the 14 hours after it
    again = datetime(2027, 2, 10, tzinfo=UTC)
    at(again)  # the period paid until 25 January 12:00 has ended: the new credit runs now
    bought = buy(account, 12 * TICKET)
    assert bought.status == 201, bought.body
    assert bought.body["valid_until"] == iso(again + YEAR)

    at(again + HOUR)
    run()
    (line,) = billed(account)[-1]["lines"]
    seconds = 15 * 86_400 + 12 * 3600  # 25 January 12:00 to 10 February
    assert (line["rule"], line["seconds"], line["period_seconds"]) == ("R-CREDIT-1", seconds, MONTH_31)
    assert (line["period_start"], line["period_end"]) == (iso(SECOND_END), iso(again))
    assert line["amount"] == usd(div_round_half_up(TICKET * seconds, MONTH_31))
    assert "covered by prepaid credit from 2027-02-10T00:00:00Z" in line["description"]
    assert charges() == [TICKET, TICKET, 36, 12 * TICKET, div_round_half_up(TICKET * seconds, MONTH_31)]


def test_r_credit_1_credit_bought_again_during_a_period_paid_by_card_starts_when_it_ends() -> None:
    account = paying_subscription()
    assert buy(account, TICKET).status == 201  # 25 December 12:00 to 24 January, 22:00
    at(FIRST_END + HOUR)
    run()
    at(SECOND_END + HOUR)
    run()  # 25 January to 25 February, 12:00: the full price, by card
    assert charges() == [TICKET, TICKET, 36, TICKET]
    at(datetime(2027, 2, 10, tzinfo=UTC))
    bought = buy(account, 12 * TICKET)
    assert bought.status == 201, bought.body
    third_end = datetime(2027, 2, 25, 12, tzinfo=UTC)
    assert bought.body["valid_until"] == iso(third_end + YEAR)
    assert stored(account).credit_since == third_end

    at(third_end + HOUR)
    run()
    assert charges() == [TICKET, TICKET, 36, TICKET, 12 * TICKET]
    assert len(events(account, "period_covered_by_credit")) == 1


def test_r_credit_1_r_pay_5_an_upgrade_while_credit_pays_the_period_is_not_charged_to_the_card_too() -> None:
    body = {**TRIAL, "billing_period": "annual", "email": "annual-up@example.com", "company_name": "Annual Up"}
    signed_up = call("POST", "/signups", body=body)
    assert signed_up.status == 201, signed_up.body
    account = dict(signed_up.body)
    assert pay(account).status == 200  # 25 November 2026 to 2027, by card
    year_end = datetime(2027, 11, 25, 12, tzinfo=UTC)
    at(datetime(2027, 5, 3, 8, 0, tzinfo=UTC))
    assert buy(account, 24 * TICKET).status == 201  # two years of one seat, from the paid year's end
    at(year_end + HOUR)
    run()  # the renewal is paid by the credit
    before = read(account).body["valid_until"]
    paid = charges()

    at(datetime(2028, 3, 1, 12, 0, tzinfo=UTC))
    reply = change(account, seats=2)

    assert reply.status == 200, reply.body
    assert (reply.body["proration"], reply.body["invoice"]) == (None, None)
    assert charges() == paid  # no card charge for time the credit pays
    assert reply.body["subscription"]["seats"] == 2
    assert read(account).body["valid_until"] < before  # the credit runs out sooner at two seats


# ---------------------------------------------------------------- the split of a period between card and credit


def test_r_credit_1_r_pay_1_credit_topped_up_mid_period_never_pays_the_part_the_card_paid() -> None:
    """The renewal charged the card for the 14 hours after the credit ran out; credit bought
    before then runs until those 14 hours, stands still during them and goes on after."""
    account = paying_subscription()
    assert buy(account, TICKET).status == 201  # 25 December 12:00 to 24 January 22:00
    at(FIRST_END + HOUR)
    run()
    runs_out = FIRST_END + MONTH_OF_CREDIT
    after = stored(account)
    assert (after.credit_pays_from, after.credit_pays_until) == (FIRST_END, runs_out)
    assert charges() == [TICKET, TICKET, 36]  # the card paid [24 January 22:00, 25 January 12:00)

    topped = datetime(2027, 1, 10, tzinfo=UTC)
    at(topped)
    left = read(account).body["balance"]["amount"]
    bought = buy(account, 12 * TICKET)
    assert bought.status == 201, bought.body
    lasts = div_round_half_up((left + 12 * TICKET) * YEAR_SECONDS, 12 * TICKET)
    card_paid = SECOND_END - runs_out  # 14 hours stepped over
    assert bought.body["valid_until"] == iso(topped + timedelta(seconds=lasts) + card_paid)
    at(runs_out)
    at_pause = read(account).body["balance"]
    at(SECOND_END - timedelta(seconds=1))
    assert read(account).body["balance"] == at_pause  # nothing used while the card pays

    at(SECOND_END + HOUR)
    run()
    assert charges() == [TICKET, TICKET, 36, 12 * TICKET]  # the next month: the credit's, whole
    assert len(events(account, "period_covered_by_credit")) == 1


def test_r_credit_1_seats_added_after_a_renewal_the_credit_covered_bill_what_it_then_did_not_pay() -> None:
    """Two seat-months covered the renewal of 25 December; three seats from 10 January make
    the rest run out before 25 January 12:00: that part is billed with the next renewal."""
    account = paying_subscription()
    assert buy(account, 2 * TICKET).status == 201  # one seat: 25 December 12:00 to 24 February
    at(FIRST_END + HOUR)
    run()
    assert stored(account).credit_pays_until == SECOND_END  # all the credit's
    assert charges() == [TICKET, 2 * TICKET]

    more = datetime(2027, 1, 10, tzinfo=UTC)
    at(more)
    assert change(account, seats=3).status == 200  # monthly: applied now, nothing charged (R-PAY-6)
    # 15.5 of the 60.8 days at one seat used; the rest lasts a third as long at three seats.
    runs_out = clock.parse_iso(read(account).body["valid_until"])
    third = (FIRST_END + timedelta(seconds=YEAR_SECONDS // 6) - more) / 3
    assert abs(runs_out - (more + third)) < timedelta(minutes=10)
    assert runs_out < SECOND_END

    at(SECOND_END + HOUR)
    run()
    owed, renewal = billed(account)[-1]["lines"]
    unpaid = (SECOND_END - runs_out) // timedelta(seconds=1)
    assert (owed["rule"], owed["seconds"], owed["period_seconds"]) == ("R-CREDIT-1", unpaid, MONTH_31)
    assert (owed["period_start"], owed["period_end"]) == (iso(runs_out), iso(SECOND_END))
    assert owed["amount"] == usd(div_round_half_up(3 * TICKET * unpaid, MONTH_31))
    assert "left to prepaid credit that did not pay it" in owed["description"]
    assert (renewal["rule"], renewal["amount"]) == ("R-PAY-1", usd(3 * TICKET))


def test_r_pay_5_r_credit_1_an_annual_upgrade_while_credit_runs_charges_the_card_s_part_only() -> None:
    """Half a year of credit pays the start of the year after the first; an upgrade while it
    runs is paid by it running out sooner, and by the card for the part the card paid."""
    body = {**TRIAL, "billing_period": "annual", "email": "annual-part@example.com", "company_name": "Part"}
    signed_up = call("POST", "/signups", body=body)
    assert signed_up.status == 201, signed_up.body
    account = dict(signed_up.body)
    assert pay(account).status == 200
    year_end = datetime(2027, 11, 25, 12, tzinfo=UTC)
    at(datetime(2027, 5, 3, 8, 0, tzinfo=UTC))
    assert buy(account, 6 * TICKET).status == 201  # half a year at one seat, from the paid year's end
    at(year_end + HOUR)
    run()
    card_from = year_end + timedelta(seconds=YEAR_SECONDS // 2)
    leap_year = 366 * 86_400
    assert stored(account).credit_pays_until == card_from

    at(year_end + timedelta(days=30))
    reply = change(account, seats=2)

    assert reply.status == 200, reply.body
    tail = (year_end + timedelta(seconds=leap_year) - card_from) // timedelta(seconds=1)
    assert reply.body["proration"] == {
        "amount": usd(div_round_half_up(ANNUAL * tail, leap_year)),
        "seconds_remaining": tail,
        "period_seconds": leap_year,
        "rule": "R-PAY-5",
    }
    (line,) = reply.body["invoice"]["lines"]
    assert line["period_start"] == iso(card_from)
