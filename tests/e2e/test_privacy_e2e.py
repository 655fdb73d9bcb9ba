"""Data subject requests over HTTP through the local runtime (R-GDPR-3, R-GDPR-5, R-GDPR-7,
R-GDPR-10): a person asks, proves the address by the emailed link, staff complete, and the
person downloads their export once; an erasure leaves the service with nothing of them."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.e2e.conftest import Owned, Runtime, give_details_and_card
from tests.route_examples import registrant

pytestmark = pytest.mark.e2e

LINK = re.compile(r"https?://[^\s/]+(/privacy/[^\s?]+)\?token=([A-Za-z0-9_\-.]+)")


def _mail_to(runtime: Runtime, address: str, notice_type: str) -> dict[str, Any]:
    items = runtime.get("/_local/outbox").json()["items"]
    found = [item for item in items if item["to"] == address and item["type"] == notice_type]
    assert found, f"no {notice_type} to {address} in the outbox"
    return dict(found[-1])


def _link_in(notice: dict[str, Any], runtime: Runtime) -> str:
    match = LINK.search(notice["body"])
    assert match, f"no link in: {notice['body']}"
    assert match.group(0).startswith(runtime.url), "links in emails point at this runtime"
    return f"{match.group(1)}?token={match.group(2)}"


def _verified_request(runtime: Runtime, kind: str, address: str) -> str:
    asked = runtime.post("/privacy/requests", json={"type": kind, "email": address, "details": "Please."})
    assert asked.status_code == 202, asked.text
    assert asked.json()["status"] == "received"
    request_id = str(asked.json()["id"])
    verification = _link_in(_mail_to(runtime, address, "privacy_request_verification"), runtime)
    verified = runtime.post(verification)
    assert verified.status_code == 200, verified.text
    assert verified.json()["status"] == "verified"
    return request_id


def test_r_gdpr_3_r_gdpr_7_r_gdpr_10_access_request_verified_completed_and_downloaded_once(
    runtime: Runtime,
) -> None:
    tag = uuid.uuid4().hex[:10]
    signed_up = runtime.post("/signups", json=registrant(tag, plan="ticket", consents=["marketing"]))
    assert signed_up.status_code == 201, signed_up.text
    address = f"{tag}@example.com"
    staff = runtime.token("staff-1", None, "staff")

    request_id = _verified_request(runtime, "access", address)
    listed = runtime.get("/admin/privacy/requests?status=verified", token=staff)
    assert request_id in [item["id"] for item in listed.json()["items"]]
    completed = runtime.post(f"/admin/privacy/requests/{request_id}/complete", json={}, token=staff)
    assert completed.status_code == 200, completed.text
    assert completed.json()["status"] == "completed"
    steps = [entry["step"] for entry in completed.json()["history"]]
    assert steps[0] == "received"
    assert "verified" in steps
    assert steps[-1] == "completed"

    download = _link_in(_mail_to(runtime, address, "privacy_request_completed"), runtime)
    export = runtime.get(download)
    assert export.status_code == 200, export.text
    assert export.headers["content-type"].startswith("application/json")
    document = export.json()
    assert address in export.text
    assert {"accounts", "users", "consents"} <= set(document["tables"])
    again = runtime.get(download)
    assert (again.status_code, again.json()["code"]) == (410, "export_unavailable")


def test_r_gdpr_5_r_gdpr_10_erasure_request_purges_the_ended_account_deletes_its_customer_and_erases_the_person(
    runtime: Runtime,
) -> None:
    tag = uuid.uuid4().hex[:10]
    address = f"{tag}@example.com"
    signed_up = runtime.post("/signups", json=registrant(tag, plan="ticket", consents=["marketing", "profiling"]))
    assert signed_up.status_code == 201, signed_up.text
    account = signed_up.json()
    owner = runtime.token(account["owner_id"], account["id"], "owner")
    staff = runtime.token("staff-1", None, "staff")

    refused_id = _verified_request(runtime, "erasure", address)
    refused = runtime.post(f"/admin/privacy/requests/{refused_id}/complete", json={}, token=staff)
    assert (refused.status_code, refused.json()["code"]) == (409, "owns_live_account")
    rejected = runtime.post(
        f"/admin/privacy/requests/{refused_id}/reject", json={"reason": "The account is in use."}, token=staff
    )
    assert rejected.status_code == 200, rejected.text

    give_details_and_card(runtime, Owned(account["id"], owner, tag, account))
    customer = runtime.provider_customer_of(account["id"])
    assert customer["email"] == address
    assert runtime.post(f"/accounts/{account['id']}/cancel", token=owner).status_code == 200
    request_id = _verified_request(runtime, "erasure", address)
    completed = runtime.post(f"/admin/privacy/requests/{request_id}/complete", json={}, token=staff)

    assert completed.status_code == 200, completed.text
    assert completed.json()["status"] == "completed"
    assert completed.json()["email"] != address
    assert completed.json()["result"]["certificate_id"].startswith("del_")
    # The processors' records of her are deleted and the result lists them: her sign-in at the
    # identity provider and the payment provider's customer record (her address).
    assert runtime.provider_object("customers", customer["id"])["deleted"] is True
    assert completed.json()["result"]["processors"] == [
        {
            "processor": "identity provider (Cognito)",
            "record": "users",
            "outcome": "deleted",
            "account_id": account["id"],
        },
        {
            "processor": "payment provider (Stripe)",
            "record": "customer",
            "outcome": "deleted",
            "account_id": account["id"],
        },
    ]
    gone = runtime.get(f"/accounts/{account['id']}", token=owner)
    assert (gone.status_code, gone.json()["code"]) == (404, "not_found")
    _mail_to(runtime, address, "privacy_request_completed")  # told, through the email provider
    again = runtime.post("/signups", json=registrant(tag, plan="ticket"))
    assert again.status_code == 201, again.text  # the address and the subdomain are free again
