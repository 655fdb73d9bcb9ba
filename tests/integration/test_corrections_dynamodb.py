"""Corrections on DynamoDB Local (R-PAY-13): the credit note and the reissue are each one
real transaction, a correction asked twice at once happens once, and a correction that
failed half-way is finished by its retry; numbers stay without gaps."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifecycle.billing import corrections
from lifecycle.core import clock
from lifecycle.core.settings import Settings
from lifecycle.storage import Account, Invoice, InvoiceSeries
from tests.support import billing_details_body, call, owner_of, pay
from tests.unit.test_signup import TRIAL

pytestmark = [pytest.mark.integration]

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _frozen_clock() -> Iterator[None]:
    clock.set_now(NOW)
    yield
    clock.set_now(None)


@pytest.fixture
def paid(local_tables: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    signed_up = call("POST", "/signups", body=TRIAL)
    assert signed_up.status == 201, signed_up.body
    reply = pay(signed_up.body)
    assert reply.status == 200, reply.body
    return dict(signed_up.body), dict(reply.body["invoice"])


def correct(account: dict[str, Any], invoice_id: str, company: str) -> Any:
    return call(
        "POST",
        f"/accounts/{account['id']}/invoices/{invoice_id}/corrections",
        body={"billing_details": billing_details_body(company=company)},
        claims=owner_of(account),
    )


def numbers(account_id: str) -> list[tuple[str, str]]:
    return sorted((item.kind, item.number) for item in Invoice.query(account_id, consistent_read=True))


def test_r_pay_13_a_correction_commits_the_credit_note_and_the_reissue(
    paid: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    account, original = paid
    clock.set_now(NOW + timedelta(days=14, hours=23, minutes=59, seconds=59))
    reply = correct(account, original["id"], "Renamed Ltd")
    assert reply.status == 201, reply.body
    assert reply.body["credit_note"]["total"]["amount"] == -original["total"]["amount"]
    assert numbers(account["id"]) == [
        ("credit_note", "CN-000001"),
        ("invoice", "INV-000001"),
        ("invoice", "INV-000002"),
    ]
    stored = Invoice.get(account["id"], original["id"], consistent_read=True)
    assert (stored.status, stored.corrected_by, stored.reissued_as) == (
        "credited",
        reply.body["credit_note"]["id"],
        reply.body["invoice"]["id"],
    )
    assert stored.billing_details == original["billing_details"]
    assert Account.get(account["id"], consistent_read=True).last_invoice_id == reply.body["invoice"]["id"]
    assert (InvoiceSeries.get("INV").last_number, InvoiceSeries.get("CN").last_number) == (2, 1)


def test_r_pay_13_two_corrections_at_once_correct_the_invoice_once(
    paid: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    account, original = paid
    with ThreadPoolExecutor(max_workers=2) as pool:
        replies = list(pool.map(lambda name: correct(account, original["id"], name), ["First Ltd", "Second Ltd"]))
    statuses = sorted(reply.status for reply in replies)
    assert statuses.count(201) == 1, [reply.body for reply in replies]
    assert {reply.code for reply in replies if reply.status != 201} <= {"already_corrected", "service_unavailable"}
    (won,) = [reply for reply in replies if reply.status == 201]
    assert numbers(account["id"]) == [
        ("credit_note", "CN-000001"),
        ("invoice", "INV-000001"),
        ("invoice", "INV-000002"),
    ]
    reissued = Invoice.get(account["id"], won.body["invoice"]["id"], consistent_read=True)
    assert reissued.billing_details["company"] == won.body["invoice"]["billing_details"]["company"]
    assert (InvoiceSeries.get("INV").last_number, InvoiceSeries.get("CN").last_number) == (2, 1)


def test_r_pay_13_a_retry_finishes_a_correction_that_failed_half_way(
    paid: tuple[dict[str, Any], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    account, original = paid
    reissue = corrections._reissue
    calls: list[int] = []

    def fails_first(*args: Any, **kwargs: Any) -> Invoice:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("lost between the two transactions")
        return reissue(*args, **kwargs)

    monkeypatch.setattr(corrections, "_reissue", fails_first)
    assert correct(account, original["id"], "Renamed Ltd").status == 500
    assert numbers(account["id"]) == [("credit_note", "CN-000001"), ("invoice", "INV-000001")]
    retried = correct(account, original["id"], "Renamed Ltd")
    assert retried.status == 201, retried.body
    assert numbers(account["id"]) == [
        ("credit_note", "CN-000001"),
        ("invoice", "INV-000001"),
        ("invoice", "INV-000002"),
    ]
    assert correct(account, original["id"], "Renamed Ltd").code == "already_corrected"
