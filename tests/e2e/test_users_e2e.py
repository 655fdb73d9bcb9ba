"""Users and seats over HTTP through the local runtime: a voucher account's included seats
(R-VOUCH-5), an extra user's warning (R-VOUCH-7) and its removal, and the owner's audit
log (R-USE-4)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e.conftest import Owned, Runtime

pytestmark = pytest.mark.e2e


def _user(tag: str, n: int) -> dict[str, str]:
    return {"full_name": "Petar Georgiev", "email": f"{tag}-agent{n}@example.com", "role": "agent"}


def test_r_vouch_5_r_vouch_7_r_use_4_extra_user_warned_removed_and_audited(
    runtime: Runtime, voucher_account: Callable[..., Owned]
) -> None:
    staff = runtime.token("staff-1", None, "staff")
    made = voucher_account("seats")
    account, owner, tag = made.body, made.owner, made.tag
    users = f"/accounts/{account['id']}/users"

    included = runtime.post(users, json=_user(tag, 1), token=owner, headers={"Idempotency-Key": f"{tag}-1"})
    assert (included.status_code, included.json()["billable"]) == (201, False)
    extra = runtime.post(users, json=_user(tag, 2), token=owner, headers={"Idempotency-Key": f"{tag}-2"})
    assert (extra.status_code, extra.json()["billable"]) == (201, True)
    # The same Idempotency-Key and body: the first answer again, no fourth user.
    again = runtime.post(users, json=_user(tag, 2), token=owner, headers={"Idempotency-Key": f"{tag}-2"})
    assert again.json() == extra.json()
    seats = runtime.get(f"/accounts/{account['id']}", token=owner).json()["seats"]
    assert seats == {"included": 2, "used": 3, "extra": 1}

    outbox = runtime.get("/_local/outbox").json()["items"]
    # Each added user's invitation goes to that user (API.md "Sign-in"); the owner's notices here.
    welcome, warning = [
        item for item in outbox if item["account_id"] == account["id"] and item["type"] != "user_invited"
    ]
    assert (welcome["type"], welcome["to"]) == ("welcome", f"{tag}@example.com")
    assert (warning["type"], warning["to"]) == ("extra_seat_warning", f"{tag}@example.com")
    assert "seats are exceeded" in warning["body"]

    removed = runtime.delete(f"{users}/{extra.json()['user_id']}", token=owner)
    assert removed.status_code == 204, removed.text
    listed = runtime.get(users, token=owner).json()["items"]
    assert [(user["role"], user["billable"]) for user in listed] == [("owner", False), ("agent", False)]
    owner_removal = runtime.delete(f"{users}/{account['owner_id']}", token=owner)
    assert (owner_removal.status_code, owner_removal.json()["code"]) == (409, "cannot_remove_owner")

    assert runtime.get(f"/accounts/{account['id']}", token=staff).status_code == 200
    log = runtime.get(f"/accounts/{account['id']}/audit", token=owner)
    assert log.status_code == 200, log.text
    types = [item["type"] for item in log.json()["items"]]
    assert types[:4] == ["staff_access", "user_removed", "user_added", "user_added"]
    assert types[-1] == "account_created"
    assert log.json()["items"][0]["details"] == {"resource": "account"}
