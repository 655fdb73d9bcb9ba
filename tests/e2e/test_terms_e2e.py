"""Terms versions over HTTP through the local runtime (R-TERMS-1, R-TERMS-3).

The runtime is shared by the session, so every version string here is unique to this run.
"""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.conftest import Runtime
from tests.route_examples import registrant

pytestmark = pytest.mark.e2e


def test_r_terms_3_a_fresh_trial_accepts_a_version_published_after_its_signup_by_its_next_activity(
    runtime: Runtime,
) -> None:
    tag = uuid.uuid4().hex[:10]
    signup = runtime.post(
        "/signups",
        json=registrant(f"terms-{tag}", company_name=f"Terms {tag}", subdomain=f"terms-{tag}", plan="ticket"),
    )
    assert signup.status_code == 201, signup.text
    account = signup.json()

    staff = runtime.token("staff-1", None, "staff")
    version = f"e2e-{tag}"
    published = runtime.post("/admin/terms", json={"version": version}, token=staff)
    assert published.status_code == 201, published.text
    assert (published.json()["version"], published.json()["published_by"]) == (version, "staff-1")
    again = runtime.post("/admin/terms", json={"version": version}, token=staff)
    assert (again.status_code, again.json()["code"]) == (409, "terms_version_exists")

    owner = runtime.token(account["owner_id"], account["id"], "owner")
    session = runtime.post(f"/accounts/{account['id']}/sessions", json={"device_id": f"laptop-{tag}"}, token=owner)
    assert session.status_code == 201, session.text
    assert (session.json()["user_id"], session.json()["terms_version"]) == (account["owner_id"], version)

    listed = runtime.get("/admin/terms", token=staff)
    assert listed.status_code == 200, listed.text
    assert published.json() in listed.json()["items"]
    refused = runtime.get("/admin/terms", token=owner)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
