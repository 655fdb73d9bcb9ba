"""Corrections over HTTP through the local runtime (R-PAY-13): an owner corrects the billing
details of the latest invoice within 15 days of its issue and gets a credit note and a
reissued invoice; the reissue keeps the original's window, and an invoice is corrected once."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import Owned, Runtime

pytestmark = pytest.mark.e2e

SIGNED_UP = datetime(2032, 4, 10, 9, 0, tzinfo=UTC)


def _at(runtime: Runtime, instant: datetime) -> None:
    runtime.put("/_local/clock", json={"now": instant.strftime("%Y-%m-%dT%H:%M:%SZ")}).raise_for_status()


def _details(tag: str, company: str) -> dict[str, Any]:
    return {
        "first_name": "Petar",
        "last_name": "Petrov",
        "email": f"{tag}-billing@example.com",
        "company": company,
        "address": {"street": "1 Vitosha Blvd", "city": "Sofia", "postal_code": "1000", "country": "BG"},
        "vat_id": "BG175074752",
        "company_registration": "175074752",
    }


@pytest.mark.usefixtures("real_time")
def test_r_pay_13_an_owner_corrects_the_latest_invoice_within_its_window(
    runtime: Runtime, paying_account: Callable[..., Owned]
) -> None:
    tag = uuid.uuid4().hex[:10]
    made = paying_account("fix", at=SIGNED_UP, details=_details(tag, f"Typo {tag}"))
    owner, base, original = made.owner, made.path(), made.invoice
    assert original is not None

    _at(runtime, SIGNED_UP + timedelta(days=14))
    fixed = runtime.post(
        f"{base}/invoices/{original['id']}/corrections",
        json={"billing_details": _details(tag, f"Company {tag}")},
        token=owner,
        headers={"Idempotency-Key": f"{tag}-correction"},
    )
    assert fixed.status_code == 201, fixed.text
    credit_note, reissued = fixed.json()["credit_note"], fixed.json()["invoice"]
    assert credit_note["number"].startswith("CN-")
    assert credit_note["total"]["amount"] == -original["total"]["amount"]
    assert credit_note["billing_details"]["company"] == f"Typo {tag}"
    assert (reissued["number"].startswith("INV-"), reissued["total"]) == (True, original["total"])
    assert reissued["billing_details"]["company"] == f"Company {tag}"
    assert runtime.get(f"{base}/billing-details", token=owner).json()["company"] == f"Company {tag}"

    listed = runtime.get(f"{base}/invoices", token=owner).json()["items"]
    assert {item["id"] for item in listed} == {original["id"], credit_note["id"], reissued["id"]}
    assert runtime.get(f"{base}/invoices/{original['id']}", token=owner).json()["status"] == "credited"

    again = runtime.post(
        f"{base}/invoices/{original['id']}/corrections",
        json={"billing_details": _details(tag, "Other Ltd")},
        token=owner,
    )
    assert (again.status_code, again.json()["code"]) == (409, "already_corrected")

    # The reissue keeps the original's window: 15 days after the first invoice it has closed.
    _at(runtime, SIGNED_UP + timedelta(days=15))
    late = runtime.post(
        f"{base}/invoices/{reissued['id']}/corrections",
        json={"billing_details": _details(tag, "Other Ltd")},
        token=owner,
    )
    assert (late.status_code, late.json()["code"]) == (409, "correction_window_closed")
