"""Prepaid credit on DynamoDB Local: purchases racing seat changes and a cancellation never
lose an update (R-CREDIT-1, R-CREDIT-2). Every settlement is a conditional update on the
credit and seats it read; what the provider took, net of refunds, is what the account holds."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifecycle.billing import credit
from lifecycle.billing.credit import YEAR_SECONDS, CreditPurchase
from lifecycle.core import clock
from lifecycle.core.auth import Principal
from lifecycle.core.errors import DomainError
from lifecycle.core.money import Money, div_round_half_up
from lifecycle.core.settings import get_settings
from lifecycle.ending import cancellation
from lifecycle.storage import Account, AuditEvent, Invoice, User
from lifecycle.subscriptions import users
from tests.conftest import Ledger, ledger
from tests.support import call, pay
from tests.unit.test_signup import TRIAL

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("world")]

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
TICKET = 1900
PURCHASES = 8
# The first period, paid by card when the trial ends at NOW, runs a month from that instant
# (R-PAY-1): credit bought during it starts to run down there (R-CREDIT-1: never paid twice).
PAID_UNTIL = datetime(2026, 12, 25, 12, tzinfo=UTC)


def provider() -> Ledger:
    found = ledger()
    return found


def paying_account() -> tuple[dict[str, Any], Principal]:
    created = call("POST", "/signups", body=TRIAL)
    assert created.status == 201, created.body
    account = dict(created.body)
    assert pay(account).status == 200
    return account, Principal(user_id=account["owner_id"], account_id=account["id"], role="owner")


def outcome(action: Callable[[], Any]) -> int:
    """The HTTP status the action would answer: 2xx, or its domain error's."""
    try:
        action()
    except DomainError as error:
        return error.status
    return 200


def buying(account_id: str, owner: Principal, n: int) -> Callable[[], Any]:
    # Distinct instants (microseconds apart): each purchase is its own invoice purpose.
    at = NOW + timedelta(microseconds=n + 1)
    form = CreditPurchase(amount=Money(amount=1_000 + n, currency="USD"))
    return lambda: credit.buy(owner, account_id, form, at, get_settings())


def adding(account_id: str, owner: Principal, n: int) -> Callable[[], Any]:
    form = users.NewUser(full_name="Petar Georgiev", email=f"agent{n}@example.com", role="agent")
    return lambda: users.add_user(Account.get(account_id, consistent_read=True), owner, form, NOW)


def removing(account_id: str, owner: Principal, user_id: str) -> Callable[[], Any]:
    return lambda: users.remove_user(Account.get(account_id, consistent_read=True), owner, user_id, NOW)


def credit_invoices(account_id: str) -> list[Invoice]:
    return [item for item in Invoice.query(account_id, consistent_read=True) if item.purpose.startswith(credit.PURPOSE)]


def net_taken() -> int:
    """What the provider holds: charges less refunds."""
    return sum(c.amount.amount for c in provider().charges()) - sum(r.amount.amount for r in provider().refunds())


def test_r_credit_1_purchases_racing_seat_changes_lose_no_update() -> None:
    account, owner = paying_account()
    for n in range(3):
        adding(account["id"], owner, 100 + n)()
    existing = [u.user_id for u in User.query(account["id"], consistent_read=True) if u.role != "owner"]

    work = [buying(account["id"], owner, n) for n in range(PURCHASES)]
    work += [adding(account["id"], owner, n) for n in range(3)]
    work += [removing(account["id"], owner, user_id) for user_id in existing]
    with ThreadPoolExecutor(max_workers=len(work)) as pool:
        statuses = list(pool.map(outcome, work))

    bought = statuses[:PURCHASES]
    # A purchase whose account a seat change moved between its read and its commit is 409,
    # its charge refunded; purchases racing each other only retry (the series moved too).
    assert set(bought) <= {200, 409}, statuses
    assert statuses[PURCHASES:] == [200] * 6, statuses
    # After the race, the credit is whole and a purchase settles on it as on any other.
    assert outcome(buying(account["id"], owner, PURCHASES)) == 200
    stored = Account.get(account["id"], consistent_read=True)
    invoices = credit_invoices(account["id"])
    assert len(invoices) == bought.count(200) + 1
    # No lost update: the balance is every issued purchase (no time passed), and exactly what
    # the provider kept beyond the first month (a purchase that lost its race was refunded).
    assert int(stored.credit_balance) == sum(int(item.total) for item in invoices)
    assert int(stored.credit_balance) == net_taken() - TICKET
    assert [e.type for e in AuditEvent.query(account["id"], consistent_read=True)].count("credit_bought") == len(
        invoices
    )
    # R-CREDIT-1: the validity is the one of the seats the account ended with (the owner and 3).
    assert int(stored.seats_used) == 4
    assert stored.credit_updated_at == stored.credit_since == PAID_UNTIL
    seconds = div_round_half_up(int(stored.credit_balance) * YEAR_SECONDS, 12 * 4 * TICKET)
    assert stored.credit_valid_until == PAID_UNTIL + timedelta(seconds=seconds)


def test_r_credit_2_a_purchase_racing_the_cancellation_is_refunded_or_counted() -> None:
    account, owner = paying_account()
    credit.buy(owner, account["id"], CreditPurchase(amount=Money(amount=12 * TICKET)), NOW, get_settings())
    later = PAID_UNTIL + timedelta(days=73)
    clock.set_now(later)
    racing = CreditPurchase(amount=Money(amount=10_000))

    def buy_more() -> int:
        return outcome(lambda: credit.buy(owner, account["id"], racing, later, get_settings()))

    def cancel() -> cancellation.CancelView:
        return cancellation.stop(owner, account["id"], later)

    with ThreadPoolExecutor(max_workers=2) as pool:
        purchase, cancelled = pool.submit(buy_more), pool.submit(cancel)
        status, view = purchase.result(), cancelled.result()

    stored = Account.get(account["id"], consistent_read=True)
    assert (stored.status, int(stored.credit_balance)) == ("cancelled", 0)
    left = 12 * TICKET * 4 // 5 + (10_000 if status == 200 else 0)
    assert status in {200, 409}
    assert view.refund == Money(amount=left // 2)
    assert view.cancellation_fee == Money(amount=left - left // 2)
    # Money and records agree: the provider kept the first month and the fee.
    assert net_taken() == TICKET + 12 * TICKET + (10_000 if status == 200 else 0) - left // 2


def test_r_credit_1_concurrent_purchases_all_count() -> None:
    account, owner = paying_account()
    with ThreadPoolExecutor(max_workers=PURCHASES) as pool:
        statuses = list(pool.map(outcome, [buying(account["id"], owner, n) for n in range(PURCHASES)]))
    assert statuses == [200] * PURCHASES
    stored = Account.get(account["id"], consistent_read=True)
    assert int(stored.credit_balance) == sum(1_000 + n for n in range(PURCHASES)) == net_taken() - TICKET
    numbers = sorted(item.number for item in credit_invoices(account["id"]))
    assert len(set(numbers)) == PURCHASES
