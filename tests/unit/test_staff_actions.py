"""Staff suspend, reinstate and terminate over moto (R-TERM-4, R-TERM-5, R-REG-4).

Requests go through the function the template routes to.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from lifecycle.core import clock
from lifecycle.core.settings import Settings
from lifecycle.storage import Account, AuditEvent, Notification
from lifecycle.storage.base import shard_of
from tests.support import STAFF, Reply, call, member, outbox_items, owner_of
from tests.unit.test_signup import NOW, TRIAL

DETAILS = "Ticket SUP-4411: bulk unsolicited email sent through the widget"
LATER = NOW + timedelta(hours=1)
EVIDENCE = [{"kind": "report", "description": "Three spam complaints from recipients", "reference": "SUP-4411"}]


pytestmark = pytest.mark.usefixtures("world")


@pytest.fixture
def account(outbox: Path) -> dict[str, Any]:
    reply = call("POST", "/signups", body=TRIAL)
    assert reply.status == 201, reply.body
    clock.set_now(LATER)  # staff act later than the signup, so the audit reads in order
    return dict(reply.body)


def act(account_id: str, verb: str, claims: dict[str, Any] | None = None, **body: Any) -> Reply:
    return call("POST", f"/admin/accounts/{account_id}/{verb}", body=body, claims=claims or STAFF)


def suspend(account_id: str, reason: str = "terms_violation", **body: Any) -> Reply:
    return act(account_id, "suspend", reason=reason, details=DETAILS, **body)


def terminate(account_id: str, reason: str = "terms_violation", **body: Any) -> Reply:
    return act(account_id, "terminate", reason=reason, details=DETAILS, **body)


def reinstate(account_id: str) -> Reply:
    return act(account_id, "reinstate", reason="resolved", details="The owner removed the mailing rule")


def notices_of(account_id: str, type_: str) -> list[Notification]:
    return [n for n in Notification.query(account_id) if n.type == type_]


def events_of(account_id: str) -> list[AuditEvent]:
    return list(AuditEvent.query(account_id))  # oldest first (sort key starts with the instant)


def sent(outbox: Path, type_: str) -> list[dict[str, Any]]:
    return [item for item in outbox_items(outbox) if item["type"] == type_]


# ---------------------------------------------------------------- suspend (R-TERM-4)


def test_r_term_4_a_suspension_warns_the_owner_first_and_blocks_access(account: dict[str, Any], outbox: Path) -> None:
    reply = suspend(account["id"])

    assert reply.status == 200, reply.body
    assert (reply.body["action"], reply.body["account"]["status"], reply.body["account"]["access"]) == (
        "suspended",
        "suspended",
        "suspended",
    )
    stored = Account.get(account["id"], consistent_read=True)
    assert (stored.status, stored.access_blocked_reason) == ("suspended", "suspended")
    assert (stored.status_before_suspension, stored.status_reason) == ("trialing", "terms_violation")
    (warning,) = notices_of(account["id"], "suspension_warning")
    assert reply.body["notice"]["id"] == warning.id
    # The warning is recorded first: before the change, in the same transaction.
    assert stored.suspended_at is not None
    assert warning.created_at < stored.suspended_at
    types = [event.type for event in events_of(account["id"])]
    assert types.index("suspension_warning_sent") == types.index("account_suspended") - 1
    (email,) = sent(outbox, "suspension_warning")
    assert email["to"] == TRIAL["email"]
    assert "used in a way the Terms of Service do not allow" in email["body"]
    assert DETAILS not in email["body"]
    assert "SUP-4411" not in email["body"]
    # Blocked: members still read it, but cannot use it.
    owner = owner_of(account)
    assert call("GET", f"/accounts/{account['id']}", claims=owner).body["access"] == "suspended"
    used = call("POST", f"/accounts/{account['id']}/sessions", body={"device_id": "d1"}, claims=owner)
    assert (used.status, used.code) == (403, "account_blocked")


def test_r_term_4_suspending_twice_or_an_ended_account_is_a_conflict(account: dict[str, Any], outbox: Path) -> None:
    assert suspend(account["id"]).status == 200
    again = suspend(account["id"])
    assert (again.status, again.code) == (409, "conflict")
    assert "already suspended" in again.body["detail"]
    assert len(notices_of(account["id"], "suspension_warning")) == 1

    cancelled = call("POST", "/signups", body={**TRIAL, "email": "other@example.com", "company_name": "Other"})
    assert call("POST", f"/accounts/{cancelled.body['id']}/cancel", claims=owner_of(cancelled.body)).status == 200
    refused = suspend(cancelled.body["id"])
    assert (refused.status, refused.code) == (409, "conflict")
    assert Account.get(cancelled.body["id"]).status == "cancelled"


# ---------------------------------------------------------------- reinstate


def test_r_term_4_reinstating_returns_the_status_and_access_before_and_tells_the_owner(
    account: dict[str, Any], outbox: Path
) -> None:
    Account(account["id"]).update(
        actions=[Account.status.set("trial_expired"), Account.access_blocked_reason.set("trial_expired")]
    )
    assert suspend(account["id"], reason="non_payment").status == 200
    clock.set_now(LATER + timedelta(days=3))

    reply = reinstate(account["id"])

    assert reply.status == 200, reply.body
    assert (reply.body["account"]["status"], reply.body["account"]["access"]) == ("trial_expired", "trial_expired")
    stored = Account.get(account["id"], consistent_read=True)
    assert (stored.suspended_at, stored.status_before_suspension, stored.status_reason) == (None, None, None)
    # Nobody could use it while suspended: the inactivity clock starts again (R-TERM-6).
    assert stored.inactivity_due_at == LATER + timedelta(days=3 + 28)
    (email,) = sent(outbox, "account_reinstated")
    assert email["to"] == TRIAL["email"]
    assert reply.body["notice"]["type"] == "account_reinstated"
    assert "account_reinstated" in [event.type for event in events_of(account["id"])]


def test_r_term_4_a_reinstated_trial_has_full_access_again(account: dict[str, Any], outbox: Path) -> None:
    assert suspend(account["id"]).status == 200
    assert reinstate(account["id"]).body["account"]["access"] == "full"
    used = call("POST", f"/accounts/{account['id']}/sessions", body={"device_id": "d1"}, claims=owner_of(account))
    assert used.status == 201
    again = reinstate(account["id"])
    assert (again.status, again.code) == (409, "conflict")
    assert len(sent(outbox, "account_reinstated")) == 1


def test_only_a_staff_suspension_is_reinstated(account: dict[str, Any]) -> None:
    # R-VOUCH-11's revocation suspends without a status to return to.
    Account(account["id"]).update(
        actions=[Account.status.set("suspended"), Account.access_blocked_reason.set("voucher_revoked")]
    )
    refused = reinstate(account["id"])
    assert (refused.status, refused.code) == (409, "conflict")
    assert Account.get(account["id"]).access_blocked_reason == "voucher_revoked"


# ---------------------------------------------------------------- terminate


def test_r_term_4_a_termination_warns_first_ends_access_stops_charges_and_queues_the_purge(
    account: dict[str, Any], outbox: Path, tables: Settings
) -> None:
    Account(account["id"]).update(
        actions=[Account.billing_shard.set("1"), Account.bill_due_at.set(LATER + timedelta(days=20))]
    )
    assert suspend(account["id"]).status == 200  # any status that has not ended
    clock.set_now(LATER + timedelta(minutes=5))

    reply = terminate(account["id"])

    assert reply.status == 200, reply.body
    assert (reply.body["account"]["status"], reply.body["account"]["access"]) == ("terminated", "terminated")
    stored = Account.get(account["id"], consistent_read=True)
    assert stored.status_reason == "terms_violation"
    # Ended, and queued for the purge, just after the warning was recorded.
    assert stored.ended_at == stored.purge_after == LATER + timedelta(minutes=5, microseconds=1)
    assert stored.purge_shard == shard_of(account["id"], tables.sweep_shards)
    # R-TERM-1: out of every index a charging sweep or a price change reads, and the inactivity sweep's.
    assert (stored.trial_sweep, stored.billing_shard, stored.bill_due_at, stored.price_key) == (None,) * 4
    assert stored.inactivity_shard is None
    (warning,) = notices_of(account["id"], "termination_warning")
    assert stored.ended_at is not None
    assert warning.created_at < stored.ended_at
    types = [event.type for event in events_of(account["id"])]
    assert types.index("termination_warning_sent") == types.index("account_terminated") - 1
    (email,) = sent(outbox, "termination_warning")
    assert "no further charges" in email["body"]
    assert DETAILS not in email["body"]


def test_r_term_4_terminating_twice_or_a_cancelled_account_is_a_conflict(account: dict[str, Any], outbox: Path) -> None:
    assert terminate(account["id"]).status == 200
    again = terminate(account["id"])
    assert (again.status, again.code) == (409, "conflict")
    assert len(notices_of(account["id"], "termination_warning")) == 1
    assert (suspend(account["id"]).status, reinstate(account["id"]).status) == (409, 409)

    other = call("POST", "/signups", body={**TRIAL, "email": "other@example.com", "company_name": "Other"}).body
    assert call("POST", f"/accounts/{other['id']}/cancel", claims=owner_of(other)).status == 200
    refused = terminate(other["id"])
    assert (refused.status, refused.code) == (409, "conflict")
    assert Account.get(other["id"]).status == "cancelled"


def test_r_term_4_suspected_fraud_is_acted_on_without_a_warning(account: dict[str, Any], outbox: Path) -> None:
    reply = terminate(account["id"], reason="fraud", evidence=EVIDENCE)

    assert reply.status == 200, reply.body
    assert reply.body["notice"] is None
    assert not [notice for notice in Notification.query(account["id"]) if notice.type.endswith("_warning")]
    assert not [item for item in outbox_items(outbox) if item["type"].endswith("_warning")]
    (event,) = [event for event in events_of(account["id"]) if event.type == "account_terminated"]
    assert event.details.as_dict()["warning_skipped"] == "fraud"  # type: ignore[no-untyped-call]
    assert Account.get(account["id"]).status == "terminated"


def test_r_reg_4_false_information_is_a_reason_to_terminate(account: dict[str, Any], outbox: Path) -> None:
    reply = terminate(account["id"], reason="false_information")
    assert reply.status == 200, reply.body
    assert Account.get(account["id"]).status_reason == "false_information"
    (email,) = sent(outbox, "termination_warning")
    assert "false information was given at registration, or someone was impersonated" in email["body"]


# ---------------------------------------------------------------- evidence (R-TERM-5)


@pytest.mark.parametrize("reason", ["fraud", "abuse"])
@pytest.mark.parametrize("verb", ["suspend", "terminate"])
def test_r_term_5_fraud_and_abuse_need_evidence(account: dict[str, Any], reason: str, verb: str) -> None:
    for evidence in ({}, {"evidence": []}):
        reply = act(account["id"], verb, reason=reason, details=DETAILS, **evidence)
        assert (reply.status, reply.code) == (422, "validation_error")
        assert [error["field"] for error in reply.body["errors"]] == ["evidence"]
    assert Account.get(account["id"]).status == "trialing"


def test_r_term_5_evidence_is_kept_for_staff_and_never_shown_to_the_owner(
    account: dict[str, Any], outbox: Path
) -> None:
    reply = suspend(account["id"], reason="abuse", evidence=EVIDENCE)
    assert reply.status == 200, reply.body
    assert (reply.body["evidence"], reply.body["details"]) == (EVIDENCE, DETAILS)

    path = f"/accounts/{account['id']}/audit"
    staff_view = {item["type"]: item for item in call("GET", path, claims=STAFF).body["items"]}
    assert staff_view["account_suspended"]["details"]["evidence"] == {"details": DETAILS, "items": EVIDENCE}
    owner_view = {item["type"]: item for item in call("GET", path, claims=owner_of(account)).body["items"]}
    assert owner_view["account_suspended"]["details"]["reason"] == "abuse"
    assert "evidence" not in owner_view["account_suspended"]["details"]
    assert DETAILS not in str(owner_view)
    assert "SUP-4411" not in str(owner_view)
    assert "SUP-4411" not in str(outbox_items(outbox))


# ---------------------------------------------------------------- who may act


def test_only_staff_act_and_unknown_accounts_are_not_found(account: dict[str, Any]) -> None:
    for claims in (owner_of(account), member(account["id"], "admin")):
        refused = act(account["id"], "suspend", claims=claims, reason="other", details="x")
        assert (refused.status, refused.code) == (403, "forbidden")
    missing = suspend("acc_missing")
    assert (missing.status, missing.code) == (404, "not_found")
    assert Account.get(account["id"]).status == "trialing"


def test_the_same_idempotency_key_acts_once(account: dict[str, Any], outbox: Path) -> None:
    body = {"reason": "terms_violation", "details": DETAILS}
    headers = {"Idempotency-Key": "suspend-once"}
    path = f"/admin/accounts/{account['id']}/suspend"
    first = call("POST", path, body=body, claims=STAFF, headers=headers)
    again = call("POST", path, body=body, claims=STAFF, headers=headers)
    assert (first.status, again.status, again.body) == (200, 200, first.body)
    assert len(notices_of(account["id"], "suspension_warning")) == 1


def test_r_term_4_each_answer_shows_the_account_as_stored_after_the_action(account: dict[str, Any]) -> None:
    """The answer's account is the read the action was computed from with what it wrote (not
    read again): the same as reading the account afterwards."""
    for action in (suspend, lambda account_id: reinstate(account_id), terminate):
        reply = action(account["id"])
        assert reply.status == 200, reply.body
        assert reply.body["account"] == call("GET", f"/accounts/{account['id']}", claims=STAFF).body
