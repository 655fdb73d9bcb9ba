"""The purge and the retention sweep over HTTP through the local runtime (R-TERM-3, R-GDPR-2):
a cancelled account is deleted by the purge-sweep (404 afterwards, its customer record gone at the
payment provider, the owner told, its names free again), and ten years later the retention-sweep
masks the invoices kept by law."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from lifecycle.core import clock
from lifecycle.privacy.retention import add_years
from tests.e2e.conftest import Owned, Runtime
from tests.route_examples import registrant

pytestmark = pytest.mark.e2e

DETAILS = {
    "first_name": "Petar",
    "last_name": "Petrov",
    "email": "billing@example.com",
    "company": "Example Ltd",
    "address": {"street": "1 Vitosha Blvd", "city": "Sofia", "postal_code": "1000", "country": "BG"},
    "company_registration": "175074752",
}


@pytest.mark.usefixtures("real_time")
def test_r_term_3_r_gdpr_2_cancel_purge_404_customer_deleted_then_the_kept_invoices_are_masked_years_later(
    runtime: Runtime, paying_account: Callable[..., Owned]
) -> None:
    made = paying_account("purge", details=DETAILS)
    account, owner, path, tag = made.body, made.owner, made.path(), made.tag
    (invoice,) = runtime.get(f"{path}/invoices", token=owner).json()["items"]
    customer = runtime.provider_customer_of(account["id"])
    assert customer["email"] == f"{tag}@example.com"  # the owner's address
    cancelled = runtime.post(f"{path}/cancel", token=owner)
    assert cancelled.status_code == 200, cancelled.text

    purged = runtime.post("/_local/schedules/purge-sweep", json={})

    assert purged.status_code == 200, purged.text
    assert purged.json()["changed"] >= 1
    assert purged.json()["errors"] == 0
    # The payment provider's customer record (the owner's email) is deleted too.
    assert runtime.provider_object("customers", customer["id"]) == {
        "id": customer["id"],
        "object": "customer",
        "deleted": True,
    }
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
