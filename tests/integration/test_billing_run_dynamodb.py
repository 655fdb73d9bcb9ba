"""The billing-run on DynamoDB Local (R-PAY-1, R-VOUCH-6): two runs at once, a run killed
half-way and a run out of time each leave every due account billed exactly once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import pytest

from lifecycle.billing import billing_run
from lifecycle.core import clock
from lifecycle.core.settings import Settings, get_settings
from lifecycle.entry.sweeps import SweepRequest
from lifecycle.storage import Account
from tests.conftest import Ledger, ledger
from tests.support import pay, run_schedule
from tests.unit.test_billing_run import FIRST_END, Killed, add_user, invoices, lifetime, subscription

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("world")]

WHEN = FIRST_END + timedelta(hours=1)
EXTRA_SEAT = 3900  # an extra user from the redemption (12:00): the whole month, which starts then (R-PAY-1)
SUBSCRIPTION = 1900  # the ticket plan, monthly, one seat


def provider() -> Ledger:
    found = ledger()
    return found


def due_accounts(vouchers: int, subscriptions: int) -> list[dict[str, Any]]:
    """Voucher accounts with one extra user and monthly subscriptions, all paying by card."""
    made = []
    for n in range(vouchers):
        account = lifetime(n)
        add_user(account, 10 * n + 1)
        add_user(account, 10 * n + 2)
        made.append(account)
    made += [subscription(n=n) for n in range(subscriptions)]
    for account in made:
        assert pay(account).status == 200
    return made


def assert_billed_once(made: list[dict[str, Any]], vouchers: int, subscriptions: int) -> None:
    counts = [len(invoices(account)) for account in made]
    assert counts == [1] * vouchers + [2] * subscriptions  # a subscription's first period, then its renewal
    amounts = sorted(charge.amount.amount for charge in provider().charges())
    assert amounts == sorted([EXTRA_SEAT] * vouchers + [SUBSCRIPTION] * (2 * subscriptions))
    assert provider().refunds() == []


def test_r_pay_1_two_runs_at_once_bill_each_due_account_exactly_once() -> None:
    made = due_accounts(vouchers=8, subscriptions=4)
    clock.set_now(WHEN)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: run_schedule("billing-run"), range(2)))
    assert all(result["next"] is None for result in results)
    assert_billed_once(made, vouchers=8, subscriptions=4)
    assert run_schedule("billing-run")["examined"] == 0
    for account in made:
        assert Account.get(account["id"]).bill_due_at > WHEN


def test_a_run_killed_half_way_is_finished_by_the_next_run(monkeypatch: pytest.MonkeyPatch) -> None:
    made = due_accounts(vouchers=5, subscriptions=3)
    collect, done = billing_run._collect, []

    def dies_after_four(account: Account, now: datetime, settings: Settings) -> bool:
        if len(done) == 4:
            raise Killed
        done.append(account.id)
        return collect(account, now, settings)

    monkeypatch.setattr(billing_run, "_collect", dies_after_four)
    clock.set_now(WHEN)
    with pytest.raises(Killed):
        run_schedule("billing-run")
    monkeypatch.setattr(billing_run, "_collect", collect)
    summary = run_schedule("billing-run")
    assert (summary["examined"], summary["changed"], summary["errors"]) == (4, 4, 0)
    assert_billed_once(made, vouchers=5, subscriptions=3)


def test_a_run_out_of_time_hands_the_rest_on_with_next() -> None:
    made = due_accounts(vouchers=3, subscriptions=3)
    clock.set_now(WHEN)
    budget = iter([60_000])

    def remaining_ms() -> int:
        return next(budget, 0)  # time enough for the first shard, then none

    settings = get_settings()
    first = billing_run.run(SweepRequest(), WHEN, remaining_ms, settings)
    assert first.next is not None
    rest = billing_run.run(SweepRequest(next=first.next), WHEN, lambda: 60_000, settings)
    assert rest.next is None
    assert first.changed + rest.changed == 6
    assert_billed_once(made, vouchers=3, subscriptions=3)
