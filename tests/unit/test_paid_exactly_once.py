"""Every second of a subscription's service is paid exactly once (R-PAY-1, R-CREDIT-1), over moto.

Random sequences of what happens to one account — the clock moving on with the billing run
renewing what is due, prepaid credit bought, seats added (applied now) or removed (at the next
period, R-PAY-8), users added or removed (a subscription bills at least a seat per user, so
these change the seats at once) — are driven through the service's own handlers. Then the time from the first payment
to the end of the last period renewed is checked: every second of it is covered exactly once,
either by an invoice line that paid for time (the periods' lines and R-CREDIT-1's lines, by
their ``period_start``/``period_end`` and ``seconds``) or by the credit running down. When the
credit runs is read from what the account stores after each step (docs/ARCHITECTURE.md
"Prepaid credit"): from ``credit_updated_at`` until ``credit_valid_until`` while a balance is
left, never in ``[credit_pays_until, period_end)``, the part of the period the card paid for.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from moto import mock_aws

from lifecycle import storage
from lifecycle.accounts import terms
from lifecycle.core import clock
from lifecycle.core.settings import get_settings
from lifecycle.entry import http
from lifecycle.storage import Account, Invoice
from local_runtime import template
from tests import figures
from tests.support import call, owner_of, pay, run_schedule
from tests.unit.conftest import create_tables
from tests.unit.test_signup import NOW, TRIAL

Window = tuple[datetime, datetime]
SECOND = timedelta(seconds=1)
# Lines that pay for time; R-PAY-5's pay a price difference over time already paid, R-USE-2's a fee.
TIME_RULES = {"R-PAY-1", "R-PAY-3", "R-PAY-4", "R-CREDIT-1"}
PAID_AT = NOW + timedelta(hours=4, seconds=17)  # 25 November 2026, 16:00:17: periods start there


@contextmanager
def fresh_world() -> Iterator[None]:
    """Moto tables of its own for one example (the ``world`` fixture is per test, not per example)."""
    with mock_aws():
        create_tables(boto3.client("dynamodb", region_name="eu-central-1"), template.Resolver(template.load()))
        get_settings.cache_clear()
        http._persistence.cache_clear()
        storage.configure(get_settings())
        terms._cache_clear()
        clock.set_now(NOW)
        try:
            yield
        finally:
            clock.set_now(None)
            terms._cache_clear()
            get_settings.cache_clear()
            http._persistence.cache_clear()


# ---------------------------------------------------------------- what happens to the account


@dataclass(frozen=True)
class Advance:
    seconds: int


@dataclass(frozen=True)
class Renewal:
    """To the end of the paid period and a little after it: the renewal is due."""

    late_seconds: int


@dataclass(frozen=True)
class TopUp:
    cents: int


@dataclass(frozen=True)
class Seats:
    change: int  # +1: applied now; -1: a confirmed downgrade, at the next period


@dataclass(frozen=True)
class Users:
    change: int  # +1: an agent added; -1: the last one added removed


Step = Advance | Renewal | TopUp | Seats | Users
steps = st.lists(
    st.one_of(
        st.builds(Advance, st.integers(min_value=60, max_value=40 * 86_400)),
        st.builds(Renewal, st.integers(min_value=0, max_value=3_600)),
        st.builds(TopUp, st.integers(min_value=50, max_value=6_000)),
        st.builds(Seats, st.sampled_from([1, -1])),
        st.builds(Users, st.sampled_from([1, -1])),
    ),
    min_size=1,
    max_size=14,
)
# The two ways the split between card and credit used to break, kept as examples: credit
# topped up before it ran out in a period the card paid the rest of (paid twice), and seats
# added after a renewal the credit covered, then credit bought again (left unpaid).
TOPPED_UP_MID_PERIOD = [TopUp(950), Renewal(3_600), TopUp(950), Advance(40 * 86_400)]
SEATS_AFTER_A_COVERED_RENEWAL = [TopUp(4_000), Renewal(3_600), Seats(1), Seats(1), Seats(1), TopUp(500), Renewal(0)]
USER_REMOVED_AFTER_A_PARTLY_COVERED_RENEWAL = [Users(1), TopUp(2_000), Renewal(3_600), Users(-1), Advance(40 * 86_400)]


def stored(account: dict[str, Any]) -> Account:
    return Account.get(account["id"], consistent_read=True)


def renew(until: datetime) -> None:
    clock.set_now(until)
    summary = run_schedule("billing-run")
    assert summary["errors"] == 0, summary


def apply(account: dict[str, Any], step: Step, agents: list[str]) -> None:
    claims = owner_of(account)
    if isinstance(step, Advance):
        renew(clock.now() + timedelta(seconds=step.seconds))
    elif isinstance(step, Renewal):
        end = stored(account).period_end
        assert end is not None
        renew(max(clock.now(), end + timedelta(seconds=step.late_seconds)))
    elif isinstance(step, Users):
        users = f"/accounts/{account['id']}/users"
        if step.change > 0:
            agent = {"full_name": "Petar Georgiev", "email": f"agent{len(agents)}@example.com", "role": "agent"}
            added = call("POST", users, body=agent, claims=claims)
            assert added.status == 201, added.body
            agents.append(str(added.body["user_id"]))
        elif agents:
            removed = call("DELETE", f"{users}/{agents.pop()}", claims=claims)
            assert removed.status == 204, removed.body
    elif isinstance(step, TopUp):
        body = {"amount": {"amount": step.cents, "currency": "USD"}}
        bought = call("POST", f"/accounts/{account['id']}/credit", body=body, claims=claims)
        assert bought.status == 201, bought.body
    else:
        current = stored(account)
        seats = int(current.pending_seats or current.seats) + step.change
        if not int(current.seats_used or 1) <= seats <= get_settings().seat_limits["ticket"]:
            return  # fewer seats than users, or more than the plan allows: refused, nothing to see
        wanted = {"seats": seats, "confirm_downgrade": True}
        changed = call("PUT", f"/accounts/{account['id']}/subscription", body=wanted, claims=claims)
        assert changed.status == 200, changed.body


# ---------------------------------------------------------------- what paid for which second


def credit_runs(account: Account, since: datetime, until: datetime) -> list[Window]:
    """Where the stored credit runs down within ``[since, until)`` (module doc)."""
    balance, started, ends = int(account.credit_balance or 0), account.credit_updated_at, account.credit_valid_until
    if balance <= 0 or started is None or ends is None:
        return []
    window = (max(since, started), min(until, ends))
    pause_from, pause_until = account.credit_pays_until, account.period_end
    if pause_from is None or pause_until is None or pause_from >= pause_until:
        pieces = [window]
    else:
        pieces = [(window[0], min(window[1], pause_from)), (max(window[0], pause_until), window[1])]
    return [(start, end) for start, end in pieces if start < end]


def minus(window: Window, others: list[Window]) -> list[Window]:
    pieces = [window]
    for cut_from, cut_until in others:
        pieces = [
            piece
            for start, end in pieces
            for piece in ((start, min(end, cut_from)), (max(start, cut_until), end))
            if piece[0] < piece[1]
        ]
    return pieces


def time_lines(account: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for invoice in Invoice.query(account["id"], consistent_read=True):
        for line in invoice.lines or []:
            if line["rule"] in TIME_RULES and line.get("seconds") is not None:
                found.append(line)
    return found


def check_paid_exactly_once(account: dict[str, Any], credit: list[Window]) -> int:
    """Every second from the first payment to the end of the period renewed last is paid
    once: the seconds add up, and no instant is paid by two payers or by none."""
    end = stored(account).period_end
    assert end is not None
    lines = time_lines(account)
    start = min(clock.parse_iso(line["period_start"]) for line in lines)
    credit = [(max(since, start), min(until, end)) for since, until in credit if since < end and until > start]
    paid: list[tuple[Window, str]] = [(window, "credit") for window in credit]
    for line in lines:
        span = (clock.parse_iso(line["period_start"]), clock.parse_iso(line["period_end"]))
        card = [span] if line["seconds"] == (span[1] - span[0]) // SECOND else minus(span, credit)
        paid += [(window, f"{line['rule']} {line['description']}") for window in card]
    total = sum(int(line["seconds"]) for line in lines) + sum((until - since) // SECOND for since, until in credit)
    assert total == (end - start) // SECOND, f"{total} seconds paid of {(end - start) // SECOND}: {paid}"
    edges = sorted({start, end, *(instant for window, _ in paid for instant in window)})
    for since, until in pairwise(edges):
        payers = [who for (paid_from, paid_until), who in paid if paid_from <= since and until <= paid_until]
        assert len(payers) == 1, f"[{since}, {until}) paid by {payers or 'nobody'}"
    return (end - start) // SECOND


@pytest.mark.hardening
@pytest.mark.timeout(figures.scale(600, 7200))
def test_r_pay_1_r_credit_1_every_second_from_the_first_payment_is_paid_exactly_once() -> None:
    checked: list[int] = []

    @settings(
        max_examples=figures.scale(12, 300),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(billing_period=st.sampled_from(["monthly", "annual"]), script=steps)
    @example(billing_period="monthly", script=TOPPED_UP_MID_PERIOD)
    @example(billing_period="monthly", script=SEATS_AFTER_A_COVERED_RENEWAL)
    @example(billing_period="monthly", script=USER_REMOVED_AFTER_A_PARTLY_COVERED_RENEWAL)
    def paid_exactly_once(billing_period: str, script: list[Step]) -> None:
        note(f"{billing_period}: {script}")
        with fresh_world():
            created = call("POST", "/signups", body={**TRIAL, "billing_period": billing_period})
            assert created.status == 201, created.body
            account = dict(created.body)
            clock.set_now(PAID_AT)
            assert pay(account).status == 200
            credit: list[Window] = []
            agents: list[str] = []
            for step in script:
                before, state = clock.now(), stored(account)
                apply(account, step, agents)
                credit += credit_runs(state, before, clock.now())
            # The period after the last step is renewed, so what the credit owed of it is billed.
            before, state = clock.now(), stored(account)
            assert state.period_end is not None
            renew(state.period_end + timedelta(minutes=15))
            credit += credit_runs(state, before, clock.now())
            final = stored(account)
            assert final.period_end is not None
            credit += credit_runs(final, clock.now(), final.period_end)
            checked.append(check_paid_exactly_once(account, credit))

    paid_exactly_once()
    figures.record(
        f"paid exactly once (R-PAY-1, R-CREDIT-1): {len(checked)} random sequences of renewals, top-ups and "
        f"seat changes, {sum(checked) // 86_400:,} days of service, every second paid once"
    )
