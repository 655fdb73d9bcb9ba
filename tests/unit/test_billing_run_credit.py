"""Prepaid credit in the billing run and in subscription changes, over moto (R-CREDIT-1):
time the credit pays for is not billed again — a renewal it covers is neither charged nor
invoiced, one it covers in part bills only the uncovered seconds, a voucher account's extra
seats are billed only for the time the credit did not pay — while shared-login fees are
never paid by it (R-USE-2); a change of seats (an upgrade now, pending seats at a renewal)
settles the credit at the new seat cost."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lifecycle import clock
from lifecycle.credit import YEAR_SECONDS
from lifecycle.money import div_round_half_up
from lifecycle.settings import Settings
from lifecycle.storage import AuditEvent, Invoice
from tests.support import call, owner_of, pay
from tests.unit.test_billing_run import (
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
from tests.unit.test_signup import NOW

HOUR = timedelta(hours=1)
# One seat-month of credit lasts a twelfth of a 365-day year: 30 days 10 hours. Bought at
# NOW (25 November 2026, 12:00) it runs out on 25 December at 22:00.
MONTH_OF_CREDIT = timedelta(seconds=YEAR_SECONDS // 12)
RUNS_OUT = NOW + MONTH_OF_CREDIT


@pytest.fixture(autouse=True)
def _world(tables: Settings, payments_journal: Path, outbox: Path) -> Iterator[None]:
    clock.set_now(NOW)
    yield
    clock.set_now(None)


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
    assert buy(account, 12 * TICKET).status == 201  # valid until 25 November 2027, 12:00
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
        "period_start": "2026-12-25T00:00:00Z",
        "period_end": "2027-01-25T00:00:00Z",
        "covered_until": "2027-01-25T00:00:00Z",
    }
    # The credit was not touched: it keeps running down at the seat cost.
    assert read(account).body["valid_until"] == iso(NOW + YEAR)


def test_r_credit_1_twelve_months_of_credit_cover_every_renewal_until_it_runs_out_then_the_rest_is_billed() -> None:
    account = paying_subscription()
    assert buy(account, 12 * TICKET).status == 201

    at(datetime(2027, 11, 25, 1, 0, tzinfo=UTC))  # a catch-up: twelve periods are due
    run()
    # The renewals of 25 December 2026 … 25 October 2027 end before the credit runs out.
    assert len(events(account, "period_covered_by_credit")) == 11
    (renewal,) = billed(account)[1:]
    (line,) = renewal["lines"]
    uncovered = MONTH_30 - 12 * 3600  # the credit pays until 12:00 of the period's first day
    assert div_round_half_up(TICKET * uncovered, MONTH_30) == 1868
    assert (line["rule"], line["amount"], line["seconds"], line["period_seconds"]) == (
        "R-CREDIT-1",
        usd(1868),
        uncovered,
        MONTH_30,
    )
    assert (line["quantity"], line["unit_price"]) == (1, usd(TICKET))
    assert line["description"] == (
        "Ticket plan, monthly subscription, 1 seat, 2027-11-25 to 2027-12-25, covered by prepaid credit "
        "until 2027-11-25T12:00:00Z: 2,548,800 of 2,592,000 seconds billed"
    )
    assert (line["period_start"], line["period_end"]) == ("2027-11-25T12:00:00Z", "2027-12-25T00:00:00Z")
    assert (renewal["period_start"], renewal["period_end"]) == ("2027-11-25T00:00:00Z", "2027-12-25T00:00:00Z")
    assert charges() == [TICKET, 12 * TICKET, 1868]


def test_r_credit_1_credit_running_out_mid_period_leaves_only_the_uncovered_seconds_to_charge() -> None:
    account = paying_subscription()
    assert buy(account, TICKET).status == 201  # one seat-month: until 25 December, 22:00
    assert read(account).body["valid_until"] == iso(RUNS_OUT) == "2026-12-25T22:00:00Z"

    at(FIRST_END + HOUR)
    run()
    (renewal,) = billed(account)[1:]
    (line,) = renewal["lines"]
    uncovered = MONTH_31 - 22 * 3600
    assert div_round_half_up(TICKET * uncovered, MONTH_31) == 1844
    assert (line["amount"], line["seconds"], line["period_seconds"]) == (usd(1844), uncovered, MONTH_31)
    assert "covered by prepaid credit until 2026-12-25T22:00:00Z" in line["description"]
    assert renewal["total"] == usd(1844)
    assert charges() == [TICKET, TICKET, 1844]
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
    pending_fee(account, datetime(2026, 11, 25, tzinfo=UTC), FIRST_END)

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
    uncovered = MONTH_31 - 22 * 3600
    assert div_round_half_up(uncovered * EXTRA_SEAT, MONTH_31) == 3785
    assert (line["rule"], line["amount"], line["seconds"], line["period_seconds"]) == (
        "R-VOUCH-6",
        usd(3785),
        uncovered,
        MONTH_31,
    )
    assert (line["period_start"], line["period_end"]) == ("2026-12-25T22:00:00Z", "2027-01-25T00:00:00Z")
    assert line["description"].endswith(
        f"{uncovered:,} of {MONTH_31:,} seconds (before it, covered by prepaid credit until 2026-12-25T22:00:00Z)"
    )
    assert charges() == [EXTRA_SEAT, 3785]

    before = (charges(), invoices(account), stored(account).billed_through)
    assert run()["changed"] == 0
    assert (charges(), invoices(account), stored(account).billed_through) == before


def test_r_credit_1_r_vouch_6_credit_bought_mid_month_does_not_pay_for_the_time_before_it() -> None:
    account = voucher_with_an_extra_user()
    at(datetime(2026, 12, 10, tzinfo=UTC))
    assert buy(account, 12 * EXTRA_SEAT).status == 201

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
    assert read(account).body["valid_until"] == iso(NOW + YEAR)

    at(NOW + timedelta(days=73))  # a fifth of the year used at one seat
    reply = change(account, seats=2)
    assert reply.status == 200, reply.body
    assert reply.body["subscription"]["seats"] == 2
    # The four fifths left (18 240) last half as long at two seats: 146 days.
    after = read(account).body
    assert (after["balance"], after["seats"], after["valid_until"]) == (
        usd(18_240),
        2,
        iso(NOW + timedelta(days=73 + 146)),
    )


def test_r_credit_1_pending_seats_applied_at_a_renewal_settle_the_credit_at_the_new_seats() -> None:
    account = paying_subscription()
    assert change(account, seats=2).status == 200  # monthly: applies now, charged from the next invoice
    assert buy(account, 12 * 2 * TICKET).status == 201
    assert read(account).body["valid_until"] == iso(NOW + YEAR)
    scheduled = change(account, seats=1, confirm_downgrade=True)
    assert scheduled.status == 200, scheduled.body
    assert scheduled.body["subscription"]["pending"]["seats"] == 1

    at(FIRST_END + HOUR)
    run()
    assert billed(account) == billed(account)[:1]  # covered at one seat: no renewal invoice
    assert stored(account).seats == 1
    after = read(account).body
    balance = after["balance"]["amount"]
    assert balance == 12 * 2 * TICKET - div_round_half_up(
        12 * 2 * TICKET * ((FIRST_END + HOUR - NOW) // timedelta(seconds=1)), YEAR_SECONDS
    )
    lasts = div_round_half_up(balance * YEAR_SECONDS, 12 * TICKET)
    assert (after["seats"], after["valid_until"]) == (1, iso(FIRST_END + HOUR + timedelta(seconds=lasts)))
