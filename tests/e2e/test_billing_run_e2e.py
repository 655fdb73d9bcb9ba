"""The billing-run over HTTP through the local runtime (R-VOUCH-6, R-VOUCH-8, R-VOUCH-10,
R-PAY-11): a voucher account's extra user comes due without billing details, the account
loses access with a notice, and the owner's details and card bring it back with the
invoice of the extra seat, billed by the second."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from lifecycle.core.money import div_round_half_up
from tests.e2e.conftest import Owned, Runtime

pytestmark = pytest.mark.e2e


def _at(runtime: Runtime, instant: datetime) -> None:
    runtime.put("/_local/clock", json={"now": instant.strftime("%Y-%m-%dT%H:%M:%SZ")}).raise_for_status()


def _details(tag: str) -> dict[str, object]:
    return {
        "first_name": "Petar",
        "last_name": "Petrov",
        "email": f"{tag}-billing@example.com",
        "company": f"Company {tag}",
        "address": {"street": "1 Vitosha Blvd", "city": "Sofia", "postal_code": "1000", "country": "BG"},
        "company_registration": "175074752",
    }


@pytest.mark.usefixtures("real_time")
def test_r_vouch_10_r_vouch_6_an_extra_user_due_without_details_blocks_until_the_owner_pays(
    runtime: Runtime, voucher_account: Callable[..., Owned]
) -> None:
    # Near real time, so the run has little else in the shared runtime to bill.
    start = datetime.now(UTC).replace(microsecond=0)
    _at(runtime, start)
    made = voucher_account("billing-run")
    account, owner, tag = made.body, made.owner, made.tag
    users = f"/accounts/{account['id']}/users"
    for n, billable in ((1, False), (2, True)):
        added = runtime.post(
            users, json={"full_name": "Ana Petrova", "email": f"{tag}-{n}@example.com", "role": "agent"}, token=owner
        )
        assert (added.status_code, added.json()["billable"]) == (201, billable), added.text

    # The first month has ended: its extra seat is due and nobody gave billing details.
    _at(runtime, start + timedelta(days=32))
    summary = runtime.post("/_local/schedules/billing-run", json={})
    assert summary.status_code == 200, summary.text
    assert summary.json()["next"] is None
    seen = runtime.get(f"/accounts/{account['id']}", token=owner).json()
    assert (seen["status"], seen["access"]) == ("payment_required", "payment_required")
    outbox = runtime.get("/_local/outbox").json()["items"]
    assert [item["type"] for item in outbox if item["account_id"] == account["id"]].count("payment_required") == 1

    given = runtime.put(f"/accounts/{account['id']}/billing-details", json=_details(tag), token=owner)
    assert given.status_code == 200, given.text
    card = {"type": "card", "token": "tok_visa"}
    paid = runtime.put(f"/accounts/{account['id']}/payment-method", json=card, token=owner)
    assert paid.status_code == 200, paid.text
    assert (paid.json()["account"]["status"], paid.json()["account"]["access"]) == ("active", "full")
    invoice = paid.json()["invoice"]
    (line,) = invoice["lines"]
    assert (line["rule"], line["quantity"], line["unit_price"]["amount"]) == ("R-VOUCH-6", 1, 3900)
    assert 0 < line["seconds"] <= line["period_seconds"]
    assert line["amount"]["amount"] == div_round_half_up(line["seconds"] * 3900, line["period_seconds"])
    assert invoice["status"] == "paid"

    listed = runtime.get(f"/accounts/{account['id']}/invoices", token=owner).json()["items"]
    assert [item["id"] for item in listed] == [invoice["id"]]
    outbox = runtime.get("/_local/outbox").json()["items"]
    receipts = [item for item in outbox if item["account_id"] == account["id"] and item["type"] == "receipt"]
    assert len(receipts) == 1
    assert invoice["number"] in receipts[0]["body"]
