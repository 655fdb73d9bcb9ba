"""Notices over HTTP through the local runtime: a revoked code's owner is notified (R-VOUCH-11),
the email lands in the local outbox and the owner finds it in the account's notices."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.e2e.conftest import Owned, Runtime

pytestmark = pytest.mark.e2e


def test_r_vouch_11_revoking_a_redeemed_code_notifies_its_owner_by_email_and_in_the_list(
    runtime: Runtime, voucher_account: Callable[..., Owned]
) -> None:
    staff = runtime.token("staff-1", None, "staff")
    made = voucher_account("notice")
    account, code, tag = made.body, made.code, made.tag

    revoked = runtime.post(
        f"/admin/vouchers/{code}/revoke", json={"reason": "abuse", "evidence": "redeemed twice"}, token=staff
    )
    assert revoked.status_code == 200, revoked.text

    outbox = runtime.get("/_local/outbox").json()["items"]
    welcome, notice = [item for item in outbox if item["account_id"] == account["id"]]
    assert (welcome["type"], welcome["to"]) == ("welcome", f"{tag}@example.com")  # API.md: on redemption
    assert (notice["type"], notice["to"]) == ("voucher_revoked", f"{tag}@example.com")
    assert account["subdomain"] in notice["body"]
    assert notice["sent_at"] is not None

    owner = runtime.token(account["owner_id"], account["id"], "owner")
    listed = runtime.get(f"/accounts/{account['id']}/notifications", token=owner)
    assert listed.status_code == 200, listed.text
    assert listed.json()["items"] == [notice, welcome]  # newest first
    agent = runtime.token("usr_agent", account["id"], "agent")
    assert runtime.get(f"/accounts/{account['id']}/notifications", token=agent).status_code == 403
