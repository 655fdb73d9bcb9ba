"""R-PAY-14 over HTTP through the local runtime: billing details with another member state's VAT ID
are confirmed by the VIES stand-in on saving and the first invoice is reverse-charged with that
confirmation (``vat_check``); with the stand-in unavailable (``PUT /_local/vies``) saving still
succeeds and the invoice charges the customer's country's VAT."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Owned, Runtime
from tests.route_examples import billing_details, registrant

pytestmark = pytest.mark.e2e

REVERSE_CHARGE = "Reverse charge"


@pytest.fixture
def vies_unavailable(runtime: Runtime) -> Iterator[None]:
    """The stand-in off for this test; on again whatever the test did (the runtime is shared)."""
    switched = runtime.put("/_local/vies", json={"available": False})
    assert (switched.status_code, switched.json()) == (200, {"available": False})
    yield
    runtime.put("/_local/vies", json={"available": True}).raise_for_status()


def trial(runtime: Runtime, prefix: str) -> Owned:
    tag = f"{prefix}-{uuid.uuid4().hex[:10]}"
    signed_up = runtime.post("/signups", json=registrant(tag, plan="ticket", billing_period="monthly"))
    assert signed_up.status_code == 201, signed_up.text
    body = signed_up.json()
    return Owned(body["id"], runtime.token(body["owner_id"], body["id"], "owner"), tag, body)


def details_then_card(runtime: Runtime, account: Owned) -> tuple[dict[str, Any], dict[str, Any]]:
    """Bulgarian details with a VAT ID (a Slovak vendor's customer abroad), then a card: both answers."""
    saved = runtime.put(account.path("/billing-details"), json=billing_details(account.tag), token=account.owner)
    assert saved.status_code == 200, saved.text
    paid = runtime.put(account.path("/payment-method"), json={"type": "card", "token": "tok_visa"}, token=account.owner)
    assert paid.status_code == 200, paid.text
    return saved.json(), paid.json()["invoice"]


@pytest.mark.usefixtures("real_time")
def test_r_pay_14_a_foreign_eu_vat_id_vies_confirmed_reverse_charges_the_first_invoice_with_its_vat_check(
    runtime: Runtime,
) -> None:
    account = trial(runtime, "vies-ok")

    saved, invoice = details_then_card(runtime, account)

    assert saved["vat_id"] == "BG175074752"
    assert (invoice["subtotal"]["amount"], invoice["tax"]["amount"], invoice["total"]["amount"]) == (1900, 0, 1900)
    assert REVERSE_CHARGE in invoice["tax_note"]
    check = invoice["vat_check"]
    # Confirmed when the details were saved: that instant, the same VAT ID, a consultation reference.
    assert (check["vat_id"], check["checked_at"]) == ("BG175074752", saved["applies_from"])
    assert check["reference"].startswith("LOCAL")
    listed = runtime.get(account.path("/invoices"), token=account.owner).json()["items"]
    assert [item["vat_check"] for item in listed] == [check]


@pytest.mark.usefixtures("real_time", "vies_unavailable")
def test_r_pay_14_vies_unavailable_still_saves_the_details_and_invoices_the_customers_countrys_vat(
    runtime: Runtime,
) -> None:
    account = trial(runtime, "vies-down")

    saved, invoice = details_then_card(runtime, account)  # saving answered 200

    assert saved["vat_id"] == "BG175074752"
    # Unconfirmed: a Bulgarian consumer's 20 % on 19.00, no reverse-charge note, no vat_check.
    assert (invoice["subtotal"]["amount"], invoice["tax"]["amount"], invoice["total"]["amount"]) == (1900, 380, 2280)
    assert invoice["tax_note"] is None
    assert invoice["vat_check"] is None
    read = runtime.get(account.path(f"/invoices/{invoice['id']}"), token=account.owner)
    assert (read.status_code, read.json()["vat_check"]) == (200, None)


def test_the_local_vies_switch_takes_true_or_false_only(runtime: Runtime) -> None:
    for body in ({}, {"available": "no"}, {"available": None}):
        refused = runtime.put("/_local/vies", json=body)
        assert (refused.status_code, refused.json()["code"]) == (422, "validation_error")
    assert runtime.put("/_local/vies", json={"available": True}).json() == {"available": True}
