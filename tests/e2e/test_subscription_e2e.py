"""A subscription change over HTTP through the local runtime: an annual ticket subscription
upgraded to ticket-chat half-way through its year is previewed, then charged the prorated
difference at once (R-PAY-5); the invoice is listed with its explained line and the owner
gets its receipt (R-PAY-11)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import Owned, Runtime

pytestmark = pytest.mark.e2e

SIGNED_UP = datetime(2033, 4, 10, 9, 30, tzinfo=UTC)
PERIOD_END = datetime(2034, 4, 10, 9, 30, tzinfo=UTC)  # the annual period from the card (R-PAY-1), 365 days


def _at(runtime: Runtime, instant: datetime) -> None:
    runtime.put("/_local/clock", json={"now": instant.strftime("%Y-%m-%dT%H:%M:%SZ")}).raise_for_status()


@pytest.mark.usefixtures("real_time")
def test_r_pay_5_an_annual_upgrade_is_previewed_then_charged_with_its_invoice(
    runtime: Runtime, paying_account: Callable[..., Owned]
) -> None:
    made = paying_account("sub", at=SIGNED_UP, billing_period="annual")
    account, owner, base, tag = made.body, made.owner, made.path(), made.tag
    assert made.invoice is not None
    assert made.invoice["total"]["amount"] == 19_000

    _at(runtime, PERIOD_END - timedelta(days=182, hours=12))
    shown = runtime.post(f"{base}/subscription/preview", json={"plan": "ticket-chat"}, token=owner)
    assert shown.status_code == 200, shown.text
    assert shown.json()["amount_due_now"] == {"amount": 5000, "currency": "USD"}

    changed = runtime.put(
        f"{base}/subscription",
        json={"plan": "ticket-chat"},
        token=owner,
        headers={"Idempotency-Key": f"{tag}-upgrade"},
    )

    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["proration"] == {
        "amount": {"amount": 5000, "currency": "USD"},
        "seconds_remaining": 15_768_000,
        "period_seconds": 31_536_000,
        "rule": "R-PAY-5",
    }
    assert body["subscription"]["plan"] == "ticket-chat"
    invoice = body["invoice"]
    (line,) = invoice["lines"]
    assert (line["rule"], line["amount"]["amount"], line["period_end"]) == ("R-PAY-5", 5000, "2034-04-10T09:30:00Z")
    listed = runtime.get(f"{base}/invoices", token=owner)
    assert listed.status_code == 200, listed.text
    assert listed.json()["items"][0] == invoice
    again = runtime.put(
        f"{base}/subscription",
        json={"plan": "ticket-chat"},
        token=owner,
        headers={"Idempotency-Key": f"{tag}-upgrade"},
    )
    assert again.json() == body  # the same key and body: the first response, no second charge
    receipts = [
        notice
        for notice in runtime.get("/_local/outbox").json()["items"]
        if notice["account_id"] == account["id"] and notice["type"] == "receipt"
    ]
    assert len(receipts) == 2
    assert invoice["number"] in receipts[-1]["body"]
