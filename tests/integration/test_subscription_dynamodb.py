"""Subscription changes on DynamoDB Local: two upgrades of one account that read it at the
same moment keep exactly one charge (R-PAY-5). The loser's account condition fails in the
invoice's transaction: its charge is refunded and it answers 409, or, when it asked for the
very same change, the provider's idempotency key makes it the same charge and invoice.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifecycle.accounts import accounts
from lifecycle.core import clock
from lifecycle.storage import Account, Invoice
from local_runtime import events, template
from local_runtime.functions import Functions
from tests.conftest import Ledger, ledger
from tests.support import STACK, call, owner_of, pay
from tests.unit.test_signup import TRIAL

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("world")]

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ROUTE_KEY = "PUT /accounts/{id}/subscription"


def _provider() -> Ledger:
    provider = ledger()
    return provider


def _subscription() -> dict[str, Any]:
    created = call("POST", "/signups", body={**TRIAL, "billing_period": "annual"})
    assert created.status == 201, created.body
    account = dict(created.body)
    paid = pay(account)
    assert paid.status == 200, paid.body
    return account


def _event(account: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    (route,) = [route for route in template.routes(template.load()) if route.route_key == ROUTE_KEY]
    request = events.HttpRequest(
        method="PUT",
        path=f"/accounts/{account['id']}/subscription",
        headers=[("content-type", "application/json")],
        body=json.dumps(body).encode(),
    )
    return events.http_event(request, route, {"id": account["id"]}, owner_of(account))


def _race(account: dict[str, Any], bodies: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Both requests read the account before either writes: the lost-update race itself."""
    functions = Functions(template.load(), STACK, max_concurrency=len(bodies))
    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        # Cold starts first (a refused body changes nothing), so the requests themselves overlap.
        list(pool.map(lambda _: functions.invoke("SubscriptionFunction", _event(account, {"seats": 0})), bodies))
        both_read = threading.Barrier(len(bodies), timeout=30)
        load = accounts.load

        def load_then_wait(account_id: str) -> Account:
            read = load(account_id)
            both_read.wait()
            return read

        monkeypatch.setattr(accounts, "load", load_then_wait)
        replies = list(pool.map(lambda body: functions.invoke("SubscriptionFunction", _event(account, body)), bodies))
    monkeypatch.setattr(accounts, "load", load)
    return [(reply["statusCode"], json.loads(reply["body"])) for reply in replies]


def test_r_pay_5_two_concurrent_different_upgrades_keep_exactly_one_charge(monkeypatch: pytest.MonkeyPatch) -> None:
    account = _subscription()
    clock.set_now(NOW + timedelta(days=100))

    replies = _race(account, [{"plan": "ticket-chat"}, {"plan": "all-inclusive"}], monkeypatch)

    statuses = sorted(status for status, _ in replies)
    assert statuses == [200, 409], replies
    (won,) = [body for status, body in replies if status == 200]
    (lost,) = [body for status, body in replies if status == 409]
    assert lost["code"] == "conflict"
    charges = [charge.amount.amount for charge in _provider().charges()]
    refunds = [refund.amount.amount for refund in _provider().refunds()]
    assert len(charges) == 3
    assert len(refunds) == 1
    assert sum(charges) - sum(refunds) == 19_000 + won["invoice"]["total"]["amount"]
    stored = Account.get(account["id"], consistent_read=True)
    assert stored.plan == won["subscription"]["plan"]
    assert stored.last_invoice_id == won["invoice"]["id"]
    invoices = list(Invoice.query(account["id"], consistent_read=True))
    assert sorted(invoice.number for invoice in invoices) == ["INV-000001", "INV-000002"]  # no gap


def test_r_pay_5_two_concurrent_identical_upgrades_are_one_charge_and_one_invoice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = _subscription()
    clock.set_now(NOW + timedelta(days=100))

    replies = _race(account, [{"plan": "ticket-chat"}, {"plan": "ticket-chat"}], monkeypatch)

    assert [status for status, _ in replies] == [200, 200], replies
    assert replies[0][1]["invoice"]["id"] == replies[1][1]["invoice"]["id"]
    charges = [charge.amount.amount for charge in _provider().charges()]
    assert len(charges) == 2
    assert _provider().refunds() == []
    assert charges[1] == replies[0][1]["invoice"]["total"]["amount"]
    assert len(list(Invoice.query(account["id"], consistent_read=True))) == 2
    assert Account.get(account["id"], consistent_read=True).plan == "ticket-chat"
