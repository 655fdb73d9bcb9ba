"""The purge and the retention sweep over HTTP through the local runtime (R-TERM-3, R-GDPR-2):
a cancelled account is deleted by the purge-sweep (404 afterwards, the owner told, its names
free again), and ten years later the retention-sweep masks the invoices kept by law."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from lifecycle.core import clock
from lifecycle.privacy.retention import add_years
from tests.e2e.conftest import Runtime, registrant

pytestmark = pytest.mark.e2e

DETAILS = {
    "first_name": "Petar",
    "last_name": "Petrov",
    "email": "billing@example.com",
    "company": "Example Ltd",
    "address": {"street": "1 Vitosha Blvd", "city": "Sofia", "postal_code": "1000", "country": "BG"},
    "company_registration": "123456789",
}


@pytest.fixture
def real_time(runtime: Runtime) -> Iterator[None]:
    """The runtime is shared: the next test starts on real time whatever this one did."""
    yield
    runtime.put("/_local/clock", json={"now": None}).raise_for_status()


@pytest.mark.usefixtures("real_time")
def test_r_term_3_r_gdpr_2_cancel_purge_404_then_the_kept_invoices_are_masked_years_later(runtime: Runtime) -> None:
    tag = uuid.uuid4().hex[:10]
    signed_up = runtime.post("/signups", json=registrant(tag, plan="ticket", billing_period="monthly"))
    assert signed_up.status_code == 201, signed_up.text
    account = signed_up.json()
    owner = runtime.token(account["owner_id"], account["id"], "owner")
    path = f"/accounts/{account['id']}"
    assert runtime.put(f"{path}/billing-details", json=DETAILS, token=owner).status_code == 200
    paid = runtime.put(f"{path}/payment-method", json={"type": "card", "token": "tok_visa"}, token=owner)
    assert paid.status_code == 200, paid.text
    (invoice,) = runtime.get(f"{path}/invoices", token=owner).json()["items"]
    cancelled = runtime.post(f"{path}/cancel", token=owner)
    assert cancelled.status_code == 200, cancelled.text

    purged = runtime.post("/_local/schedules/purge-sweep", json={})

    assert purged.status_code == 200, purged.text
    assert purged.json()["changed"] >= 1
    assert purged.json()["errors"] == 0
    gone = runtime.get(path, token=owner)
    assert (gone.status_code, gone.json()["code"]) == (404, "not_found")
    outbox = runtime.get("/_local/outbox").json()["items"]
    assert "account_deleted" in [item["type"] for item in outbox if item["account_id"] == account["id"]]
    again = runtime.post("/signups", json=registrant(tag, plan="ticket", billing_period="monthly"))
    assert again.status_code == 201, again.text  # the subdomain and the owner email are free again
    assert again.json()["subdomain"] == account["subdomain"]

    # Accounting law keeps the invoice 10 years after its issue; then its billing details go.
    issued = clock.parse_iso(invoice["issued_at"])
    later = add_years(issued, 10) + timedelta(seconds=2)
    runtime.put("/_local/clock", json={"now": clock.to_iso(later)}).raise_for_status()
    erased = runtime.post("/_local/schedules/retention-sweep", json={})

    assert erased.status_code == 200, erased.text
    assert erased.json()["changed"] >= 1
    assert erased.json()["errors"] == 0
    assert erased.json()["items"]["invoices"] >= 1
    assert runtime.post("/_local/schedules/retention-sweep", json={}).json()["changed"] == 0
