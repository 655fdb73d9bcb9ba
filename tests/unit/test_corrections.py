"""``POST /accounts/{id}/invoices/{invoice_id}/corrections`` over moto (R-PAY-13): within 15
days of the latest invoice (to the second) a credit note cancels it and a reissued invoice
carries the new billing details; the money does not move and keeps the original's tax
(R-PAY-14); a correction happens once, survives a failure half-way, and numbers stay
without gaps.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from pynamodb.transactions import TransactWrite

from lifecycle.billing import corrections, payments
from lifecycle.billing.invoicing import AccountChange, Draft, Line, charge_and_issue
from lifecycle.core import clock
from lifecycle.core.money import Money
from lifecycle.core.settings import get_settings
from lifecycle.storage import Account, AuditEvent, Invoice
from lifecycle.storage.transactions import Outcome
from tests.conftest import ledger
from tests.support import STAFF, billing_details_body, call, member, owner_of, pay
from tests.unit.test_signup import NOW, TRIAL

WINDOW = timedelta(days=15)


pytestmark = pytest.mark.usefixtures("world", "provider_ledger", "outbox")


def paid_account(**details: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A ticket-plan trial whose owner gave details and a card: its first invoice (R-PAY-4)."""
    signed_up = call("POST", "/signups", body=TRIAL)
    assert signed_up.status == 201, signed_up.body
    paid = pay(signed_up.body, **details)
    assert paid.status == 200, paid.body
    return dict(signed_up.body), dict(paid.body["invoice"])


@pytest.fixture
def account_and_invoice() -> tuple[dict[str, Any], dict[str, Any]]:
    return paid_account()


def correct(account: dict[str, Any], invoice_id: str, claims: dict[str, str] | None = None, **changes: Any) -> Any:
    body = {"billing_details": billing_details_body(**changes)}
    return call(
        "POST",
        f"/accounts/{account['id']}/invoices/{invoice_id}/corrections",
        body=body,
        claims=claims or owner_of(account),
    )


def at(instant: datetime) -> None:
    clock.set_now(instant)


def invoices(account: dict[str, Any]) -> list[dict[str, Any]]:
    reply = call("GET", f"/accounts/{account['id']}/invoices", claims=owner_of(account))
    assert reply.status == 200, reply.body
    return list(reply.body["items"])


def read_invoice(account: dict[str, Any], invoice_id: str) -> dict[str, Any]:
    reply = call("GET", f"/accounts/{account['id']}/invoices/{invoice_id}", claims=owner_of(account))
    assert reply.status == 200, reply.body
    return dict(reply.body)


def charges() -> list[payments.Charge]:
    provider = ledger()
    return provider.charges()


def newer_invoice(account_id: str, now: datetime) -> Invoice:
    """Another invoice after the first (as a renewal would issue), now the account's latest."""
    account = Account.get(account_id, consistent_read=True)
    price = Money(amount=500, currency="USD")
    line = Line(description="Another charge", quantity=1, unit_price=price, amount=price, rule="R-PAY-1")

    def build(tx: TransactWrite, outcome: Outcome, invoice: Invoice) -> None:
        tx.update(
            Account(account_id),
            actions=[Account.last_invoice_id.set(invoice.invoice_id), Account.last_invoice_at.set(invoice.issued_at)],
        )
        outcome.labels.append("update:account")

    draft = Draft(account_id=account_id, purpose="test#newer", lines=[line])
    return charge_and_issue(account, draft, now, AccountChange(build), get_settings())


# ---------------------------------------------------------------- the correction


def test_r_pay_13_a_correction_credits_the_invoice_and_reissues_it_with_the_new_details(
    account_and_invoice: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    account, original = account_and_invoice
    at(NOW + timedelta(days=3))
    reply = correct(account, original["id"], company="Renamed Ltd", street="2 Vitosha Blvd")
    assert reply.status == 201, reply.body
    credit_note, reissued = reply.body["credit_note"], reply.body["invoice"]

    # The credit note: series CN, the original mirrored line by line, to the cent.
    assert (credit_note["kind"], credit_note["number"], credit_note["corrects"]) == (
        "credit_note",
        "CN-000001",
        original["id"],
    )
    (line,) = credit_note["lines"]
    (original_line,) = original["lines"]
    assert line["description"] == f"Credit for invoice {original['number']}: {original_line['description']}"
    assert line["rule"] == "R-PAY-13"
    assert line["quantity"] == original_line["quantity"]
    assert line["unit_price"]["amount"] == -original_line["unit_price"]["amount"]
    assert line["amount"]["amount"] == -original_line["amount"]["amount"]
    for money in ("subtotal", "tax", "total"):
        assert credit_note[money] == {"amount": -original[money]["amount"], "currency": "USD"}
    assert credit_note["tax_rate_basis_points"] == original["tax_rate_basis_points"]
    assert credit_note["tax_note"] == original["tax_note"]
    assert credit_note["billing_details"] == original["billing_details"]
    assert (credit_note["period_start"], credit_note["period_end"]) == (
        original["period_start"],
        original["period_end"],
    )

    # The reissue: the next INV number, the same lines, period and money, the new details.
    assert (reissued["kind"], reissued["number"], reissued["status"], reissued["corrects"]) == (
        "invoice",
        "INV-000002",
        "paid",
        original["id"],
    )
    assert reissued["lines"] == original["lines"]
    for same in ("subtotal", "tax", "total", "period_start", "period_end", "paid_at", "tax_note"):
        assert reissued[same] == original[same]
    assert reissued["billing_details"]["company"] == "Renamed Ltd"
    assert reissued["billing_details"]["address"]["street"] == "2 Vitosha Blvd"
    assert reissued["issued_at"] == clock.to_iso(NOW + timedelta(days=3))

    # Money does not move: one charge (the first period's), no refund.
    assert [charge.amount.amount for charge in charges()] == [original["total"]["amount"]]
    provider = ledger()
    assert provider.refunds() == []

    # The original says only that it was credited; what it said is unchanged.
    stored = read_invoice(account, original["id"])
    assert (stored["status"], stored["corrected_by"]) == ("credited", credit_note["id"])
    unchanged = {key: value for key, value in stored.items() if key not in ("status", "corrected_by")}
    assert unchanged == {key: value for key, value in original.items() if key not in ("status", "corrected_by")}
    assert Invoice.get(account["id"], original["id"]).reissued_as == reissued["id"]

    # The new details are the account's from now; the reissue is the latest invoice.
    details = call("GET", f"/accounts/{account['id']}/billing-details", claims=owner_of(account))
    assert details.body["company"] == "Renamed Ltd"
    assert details.body["applies_from"] == clock.to_iso(NOW + timedelta(days=3))
    stored_account = Account.get(account["id"])
    assert stored_account.last_invoice_id == reissued["id"]
    assert stored_account.last_invoice_at == Invoice.get(account["id"], original["id"]).issued_at
    assert {item["number"] for item in invoices(account)} == {"INV-000001", "CN-000001", "INV-000002"}
    events = [event.type for event in AuditEvent.query(account["id"])]
    assert "invoice_corrected" in events
    assert "Renamed" not in str([event.details for event in AuditEvent.query(account["id"])])


def test_r_pay_12_r_pay_13_the_reissue_keeps_the_method_that_paid_the_original_and_the_credit_note_has_none(
    account_and_invoice: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    account, original = account_and_invoice
    assert original["paid_with"]["type"] == "card"
    # The owner pays with PayPal from now; the reissue is of a charge the card made.
    replaced = call(
        "PUT",
        f"/accounts/{account['id']}/payment-method",
        body={"type": "paypal", "token": "tok_paypal_buyer"},
        claims=owner_of(account),
    )
    assert replaced.status == 200, replaced.body
    at(NOW + timedelta(days=3))

    reply = correct(account, original["id"], company="Renamed Ltd")

    assert reply.status == 201, reply.body
    assert reply.body["invoice"]["paid_with"] == original["paid_with"]
    assert reply.body["credit_note"]["paid_with"] is None


def test_r_pay_13_r_pay_14_the_reissue_keeps_the_originals_tax_whatever_the_new_details() -> None:
    # A customer in the vendor's country pays its VAT; with a VAT ID in another member state
    # a new invoice would be reverse charged, but an issued one is never refunded for it.
    account, original = paid_account(country="SK", vat_id=None, company_registration="31322832")
    assert original["tax_rate_basis_points"] == 2300
    assert original["tax"]["amount"] == 437  # 23 % of 19.00
    at(NOW + timedelta(days=1))
    reply = correct(
        account,
        original["id"],
        country="DE",
        vat_id="DE136695976",
        company_registration=None,
        city="Berlin",
        postal_code="10115",
    )
    assert reply.status == 201, reply.body
    credit_note, reissued = reply.body["credit_note"], reply.body["invoice"]
    assert (reissued["tax"], reissued["total"], reissued["tax_rate_basis_points"]) == (
        original["tax"],
        original["total"],
        2300,
    )
    assert reissued["billing_details"]["vat_id"] == "DE136695976"
    assert credit_note["tax"]["amount"] == -437
    assert credit_note["total"]["amount"] == -original["total"]["amount"]
    assert credit_note["billing_details"]["address"]["country"] == "SK"


# ---------------------------------------------------------------- the window


@pytest.mark.parametrize(("after", "status"), [(WINDOW - timedelta(seconds=1), 201), (WINDOW, 409)])
def test_r_pay_13_the_window_is_15_days_to_the_second(
    account_and_invoice: tuple[dict[str, Any], dict[str, Any]], after: timedelta, status: int
) -> None:
    account, original = account_and_invoice
    issued_at = Invoice.get(account["id"], original["id"]).issued_at
    at(issued_at + after)
    reply = correct(account, original["id"], company="Renamed Ltd")
    assert reply.status == status, reply.body
    if status == 409:
        assert reply.code == "correction_window_closed"
        assert [item["number"] for item in invoices(account)] == ["INV-000001"]
        assert read_invoice(account, original["id"])["status"] == "paid"


def test_r_pay_13_the_reissued_invoice_keeps_the_originals_window(
    account_and_invoice: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    account, original = account_and_invoice
    at(NOW + timedelta(days=10))
    first = correct(account, original["id"], company="First Rename Ltd")
    assert first.status == 201, first.body
    reissued = first.body["invoice"]

    at(NOW + WINDOW)  # 5 days after the reissue, 15 after the original
    late = correct(account, reissued["id"], company="Second Rename Ltd")
    assert (late.status, late.code) == (409, "correction_window_closed")

    at(NOW + WINDOW - timedelta(seconds=1))
    second = correct(account, reissued["id"], company="Second Rename Ltd")
    assert second.status == 201, second.body
    assert (second.body["credit_note"]["number"], second.body["invoice"]["number"]) == ("CN-000002", "INV-000003")
    assert second.body["credit_note"]["billing_details"]["company"] == "First Rename Ltd"
    assert second.body["invoice"]["billing_details"]["company"] == "Second Rename Ltd"
    assert second.body["credit_note"]["corrects"] == reissued["id"]


def test_r_pay_13_only_the_latest_invoice_can_be_corrected(
    account_and_invoice: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    account, original = account_and_invoice
    at(NOW + timedelta(days=2))
    newer = newer_invoice(account["id"], NOW + timedelta(days=2))
    older = correct(account, original["id"], company="Renamed Ltd")
    assert (older.status, older.code) == (409, "correction_window_closed")
    assert correct(account, newer.invoice_id, company="Renamed Ltd").status == 201


def test_r_pay_13_a_credit_note_is_not_corrected(account_and_invoice: tuple[dict[str, Any], dict[str, Any]]) -> None:
    account, original = account_and_invoice
    credit_note = correct(account, original["id"]).body["credit_note"]
    reply = correct(account, credit_note["id"])
    assert (reply.status, reply.code) == (409, "correction_window_closed")


def test_r_pay_13_an_invoice_is_corrected_once(account_and_invoice: tuple[dict[str, Any], dict[str, Any]]) -> None:
    account, original = account_and_invoice
    assert correct(account, original["id"], company="Renamed Ltd").status == 201
    again = correct(account, original["id"], company="Renamed Again Ltd")
    assert (again.status, again.code) == (409, "already_corrected")
    assert sorted(item["number"] for item in invoices(account)) == ["CN-000001", "INV-000001", "INV-000002"]


# ---------------------------------------------------------------- failures


def test_r_pay_13_a_correction_failing_half_way_is_finished_by_its_retry(
    account_and_invoice: tuple[dict[str, Any], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    account, original = account_and_invoice
    reissue = corrections._reissue
    failures = []

    def fails_once(*args: Any, **kwargs: Any) -> Invoice:
        if not failures:
            failures.append("reissue")
            raise RuntimeError("the reissue's transaction was lost")
        return reissue(*args, **kwargs)

    monkeypatch.setattr(corrections, "_reissue", fails_once)
    at(NOW + timedelta(days=1))
    failed = correct(account, original["id"], company="Renamed Ltd")
    assert failed.status == 500
    # Half-way: the credit note stands, the reissue is missing.
    assert sorted(item["number"] for item in invoices(account)) == ["CN-000001", "INV-000001"]

    retried = correct(account, original["id"], company="Renamed Ltd")
    assert retried.status == 201, retried.body
    assert retried.body["credit_note"]["number"] == "CN-000001"
    assert retried.body["invoice"]["number"] == "INV-000002"
    kinds = sorted((item["kind"], item["number"]) for item in invoices(account))
    assert kinds == [("credit_note", "CN-000001"), ("invoice", "INV-000001"), ("invoice", "INV-000002")]
    assert Account.get(account["id"]).last_invoice_id == retried.body["invoice"]["id"]

    third = correct(account, original["id"], company="Renamed Ltd")
    assert (third.status, third.code) == (409, "already_corrected")


def test_r_pay_13_the_new_details_are_validated_like_billing_details(
    account_and_invoice: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    account, original = account_and_invoice
    wrong_vat = correct(account, original["id"], vat_id="DE136695976")  # a BG address
    assert (wrong_vat.status, wrong_vat.code) == (422, "invalid_vat_id")
    assert [error["field"] for error in wrong_vat.body["errors"]] == ["billing_details.vat_id"]
    no_registration = correct(account, original["id"], company_registration=None)  # required in BG
    assert (no_registration.status, no_registration.code) == (422, "validation_error")
    assert [error["field"] for error in no_registration.body["errors"]] == ["billing_details.company_registration"]
    no_company = correct(account, original["id"], company="")
    assert (no_company.status, no_company.code) == (422, "validation_error")
    assert [item["number"] for item in invoices(account)] == ["INV-000001"]


# ---------------------------------------------------------------- who


def test_r_pay_13_only_the_owner_corrects(account_and_invoice: tuple[dict[str, Any], dict[str, Any]]) -> None:
    account, original = account_and_invoice
    staff = correct(account, original["id"], claims=STAFF)
    assert (staff.status, staff.code) == (403, "forbidden")
    admin = correct(account, original["id"], claims=member(account["id"], "admin", sub="admin-1"))
    assert (admin.status, admin.code) == (403, "forbidden")
    stranger = correct(account, original["id"], claims=member("acc_someone_else"))
    assert (stranger.status, stranger.code) == (404, "not_found")
    unknown = correct(account, "inv_unknown")
    assert (unknown.status, unknown.code) == (404, "not_found")
    assert [item["number"] for item in invoices(account)] == ["INV-000001"]
