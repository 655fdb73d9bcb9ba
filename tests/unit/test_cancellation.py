"""Cancellation over moto: the owner's "Stop account" (R-TERM-1), a cancellation asked by
email, staff's confirmation and the SLA sweep's escalation (R-TERM-2). Requests go through
the function the template routes to."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pynamodb.connection import Connection

from lifecycle.accounts import accounts
from lifecycle.core import clock
from lifecycle.core.settings import Settings, get_settings
from lifecycle.ending.cancellation import due_by, escalate_overdue
from lifecycle.entry.sweeps import SweepRequest
from lifecycle.storage import Account, AuditEvent, CancellationRequest, Notification
from tests.conftest import Ledger
from tests.support import STAFF, Reply, call, member, outbox_items, owner_of, pay
from tests.unit.test_signup import NOW, TRIAL

pytestmark = pytest.mark.usefixtures("world")


@pytest.fixture
def account(outbox: Path) -> dict[str, Any]:
    reply = call("POST", "/signups", body=TRIAL)
    assert reply.status == 201, reply.body
    return dict(reply.body)


def cancel(account: dict[str, Any], claims: dict[str, Any] | None = None) -> Reply:
    return call("POST", f"/accounts/{account['id']}/cancel", claims=claims or owner_of(account))


def ask(account: dict[str, Any]) -> Reply:
    return call("POST", f"/accounts/{account['id']}/cancellation-requests", claims=owner_of(account))


def confirm(request_id: str) -> Reply:
    return call("POST", f"/admin/cancellation-requests/{request_id}/confirm", claims=STAFF)


def sent(outbox: Path, type_: str) -> list[dict[str, Any]]:
    return [notice for notice in outbox_items(outbox) if notice["type"] == type_]


def audit_types(account_id: str) -> list[str]:
    return [event.type for event in AuditEvent.query(account_id)]


def an_agent(account: dict[str, Any]) -> dict[str, str]:
    body = {"full_name": "Petar Georgiev", "email": "agent1@example.com", "role": "agent"}
    added = call("POST", f"/accounts/{account['id']}/users", body=body, claims=owner_of(account))
    assert added.status == 201, added.body
    return member(account["id"], "agent", sub=added.body["user_id"])


def _forever() -> int:
    return 10**9


# ---------------------------------------------------------------- R-TERM-1


def test_r_term_1_stop_account_cancels_at_once_and_ends_access(account: dict[str, Any], outbox: Path) -> None:
    agent = an_agent(account)
    assert call("POST", f"/accounts/{account['id']}/sessions", body={"device_id": "d1"}, claims=agent).status == 201

    reply = cancel(account)

    assert (reply.status, reply.body) == (200, {"status": "cancelled", "refund": None, "cancellation_fee": None})
    stored = Account.get(account["id"], consistent_read=True)
    assert (stored.status, stored.access_blocked_reason) == ("cancelled", "cancelled")
    assert stored.trial_sweep is None  # out of every index a charging sweep reads
    assert stored.purge_after == NOW  # queued for the purge procedure (R-TERM-3)
    refused = call("POST", f"/accounts/{account['id']}/sessions", body={"device_id": "d1"}, claims=agent)
    assert (refused.status, refused.code) == (403, "account_blocked")
    (notice,) = sent(outbox, "cancellation_confirmed")
    assert notice["to"] == TRIAL["email"]
    assert "account_cancelled" in audit_types(account["id"])
    # Members still see the account, now cancelled, per API.md.
    seen = call("GET", f"/accounts/{account['id']}", claims=agent)
    assert (seen.status, seen.body["status"], seen.body["access"]) == (200, "cancelled", "cancelled")


def test_r_term_1_stopping_twice_answers_the_same_and_notifies_once(account: dict[str, Any], outbox: Path) -> None:
    first = cancel(account)
    again = cancel(account)
    assert (again.status, again.body) == (first.status, first.body)
    assert len(sent(outbox, "cancellation_confirmed")) == 1
    assert audit_types(account["id"]).count("account_cancelled") == 1
    notices = list(Notification.query(account["id"]))
    assert [n.type for n in notices].count("cancellation_confirmed") == 1


def test_r_term_1_only_the_owner_stops_the_account(account: dict[str, Any]) -> None:
    agent = an_agent(account)
    assert (cancel(account, agent).status, cancel(account, agent).code) == (403, "forbidden")
    other = cancel(account, member("acc_other", "owner", sub="someone"))
    assert (other.status, other.code) == (404, "not_found")
    assert cancel(account, STAFF).status == 403
    assert Account.get(account["id"]).status == "trialing"


# ---------------------------------------------------------------- R-TERM-2


def test_r_term_2_due_by_is_the_end_of_the_next_business_day_in_the_vendors_time_zone() -> None:
    """Bratislava is UTC+1 in November: a day ends at 23:00 UTC. tests/unit/test_business_days.py
    holds the calendar itself."""
    calendar = Settings(business_holidays="2026-11-30")  # type: ignore[arg-type]  # parsed from env text
    wednesday = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    friday_night = datetime(2026, 11, 27, 22, 59, tzinfo=UTC)
    assert due_by(wednesday, Settings()) == datetime(2026, 11, 26, 22, 59, 59, 999999, tzinfo=UTC)
    assert due_by(friday_night, Settings()) == datetime(2026, 11, 30, 22, 59, 59, 999999, tzinfo=UTC)  # weekend
    assert due_by(friday_night, calendar).date() == date(2026, 12, 1)  # Monday is a company holiday


def test_r_term_2_an_emailed_request_is_pending_until_staff_confirm_it(account: dict[str, Any], outbox: Path) -> None:
    asked = ask(account)
    assert asked.status == 202, asked.body
    assert (asked.body["status"], asked.body["due_by"]) == ("pending", "2026-11-26T22:59:59Z")
    assert Account.get(account["id"]).status == "trialing"

    confirmed = confirm(asked.body["request_id"])

    assert (confirmed.status, confirmed.body["status"]) == (200, "confirmed")
    stored = Account.get(account["id"], consistent_read=True)
    assert (stored.status, stored.access_blocked_reason, stored.purge_after) == ("cancelled", "cancelled", NOW)
    assert len(sent(outbox, "cancellation_confirmed")) == 1
    assert CancellationRequest.get(asked.body["request_id"]).sla_sweep is None


def test_r_term_2_confirming_twice_is_409(account: dict[str, Any]) -> None:
    request_id = ask(account).body["request_id"]
    assert confirm(request_id).status == 200
    again = confirm(request_id)
    assert (again.status, again.code) == (409, "already_confirmed")
    assert (confirm("ccr_missing").status, confirm("ccr_missing").code) == (404, "not_found")


def test_r_term_2_confirming_after_stop_account_only_confirms(account: dict[str, Any], outbox: Path) -> None:
    request_id = ask(account).body["request_id"]
    cancel(account)
    assert confirm(request_id).body["status"] == "confirmed"
    assert len(sent(outbox, "cancellation_confirmed")) == 1


def test_r_term_2_only_the_owner_asks_and_only_staff_confirm(account: dict[str, Any]) -> None:
    agent = an_agent(account)
    refused = call("POST", f"/accounts/{account['id']}/cancellation-requests", claims=agent)
    assert (refused.status, refused.code) == (403, "forbidden")
    request_id = ask(account).body["request_id"]
    by_owner = call("POST", f"/admin/cancellation-requests/{request_id}/confirm", claims=owner_of(account))
    assert by_owner.status == 403


def test_r_term_2_the_sla_sweep_escalates_an_overdue_request_once(
    account: dict[str, Any], outbox: Path, tables: Settings
) -> None:
    overdue = ask(account).body
    clock.set_now(NOW + timedelta(days=1))  # Thursday: due Friday night
    not_yet = ask(account).body
    later = datetime(2026, 11, 27, 0, 0, 1, tzinfo=UTC)  # after the first's deadline only

    preview = escalate_overdue(SweepRequest(dry_run=True), later, _forever, get_settings())
    assert (preview.examined, preview.changed) == (1, 0)
    assert CancellationRequest.get(overdue["request_id"]).escalated_at is None
    assert sent(outbox, "cancellation_overdue") == []

    summary = escalate_overdue(SweepRequest(), later, _forever, get_settings())
    assert (summary.examined, summary.changed, summary.errors) == (1, 1, 0)
    assert CancellationRequest.get(overdue["request_id"]).escalated_at == later
    assert CancellationRequest.get(not_yet["request_id"]).escalated_at is None
    (notice,) = sent(outbox, "cancellation_overdue")
    assert notice["to"] == get_settings().staff_email
    assert overdue["request_id"] in notice["subject"]
    assert "cancellation_escalated" in audit_types(account["id"])

    again = escalate_overdue(SweepRequest(), later, _forever, get_settings())
    assert (again.examined, again.changed) == (0, 0)
    assert len(sent(outbox, "cancellation_overdue")) == 1
    # Escalated, still pending: staff can still confirm it.
    assert confirm(overdue["request_id"]).status == 200


def test_r_term_2_the_sla_sweep_escalates_from_the_local_midnight_after_due_by_through_its_index(
    account: dict[str, Any], outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Emailed on a Friday evening in Bratislava: due by Monday's end there (23:00 UTC in winter);
    not overdue at its last microsecond, overdue from Tuesday 00:00 local. Queries, never a Scan."""
    clock.set_now(datetime(2026, 11, 27, 19, 30, tzinfo=UTC))
    asked = ask(account).body
    assert asked["due_by"] == "2026-11-30T22:59:59Z"
    monkeypatch.setattr(Connection, "scan", _no_scan)

    last_moment = datetime(2026, 11, 30, 22, 59, 59, 999999, tzinfo=UTC)
    assert escalate_overdue(SweepRequest(), last_moment, _forever, get_settings()).changed == 0
    assert CancellationRequest.get(asked["request_id"]).escalated_at is None

    local_midnight = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    summary = escalate_overdue(SweepRequest(), local_midnight, _forever, get_settings())
    assert (summary.examined, summary.changed, summary.errors) == (1, 1, 0)
    assert CancellationRequest.get(asked["request_id"]).escalated_at == local_midnight
    (notice,) = sent(outbox, "cancellation_overdue")
    assert asked["request_id"] in notice["subject"]


def _no_scan(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the SLA sweep reads through its index, never a Scan")


def test_r_term_1_a_terminated_account_is_not_cancelled_again(account: dict[str, Any], outbox: Path) -> None:
    Account(account["id"]).update(actions=[Account.status.set("terminated")])
    reply = cancel(account)
    assert (reply.status, reply.code) == (409, "conflict")
    assert sent(outbox, "cancellation_confirmed") == []


# ---------------------------------------------------------------- no further charges, no refunds


def _billing_due(account_id: str) -> list[str]:
    """The account in the billing run's index, across its shards (what the billing run queries)."""
    shards = get_settings().sweep_shards
    return [
        item.id for shard in range(shards) for item in Account.billing_due.query(str(shard)) if item.id == account_id
    ]


def test_r_term_1_a_cancelled_subscription_leaves_the_billing_run_and_price_indexes(
    account: dict[str, Any], provider_ledger: Ledger
) -> None:
    assert pay(account).status == 200
    paid = Account.get(account["id"], consistent_read=True)
    assert paid.billing_shard is not None
    assert _billing_due(account["id"]) == [account["id"]]
    assert [item.id for item in Account.by_price.query("ticket#monthly")] == [account["id"]]

    assert cancel(account).status == 200

    stored = Account.get(account["id"], consistent_read=True)
    assert (stored.billing_shard, stored.bill_due_at, stored.price_key, stored.trial_sweep) == (None, None, None, None)
    assert _billing_due(account["id"]) == []
    assert list(Account.by_price.query("ticket#monthly")) == []


def test_r_pay_7_cancelling_a_paid_month_refunds_nothing(account: dict[str, Any], provider_ledger: Ledger) -> None:
    assert pay(account).status == 200
    clock.set_now(NOW + timedelta(days=3))  # most of the paid month is left
    reply = cancel(account)
    assert (reply.status, reply.body) == (200, {"status": "cancelled", "refund": None, "cancellation_fee": None})
    assert provider_ledger.refunds() == []
    (event,) = [event for event in AuditEvent.query(account["id"]) if event.type == "account_cancelled"]
    assert "refund" not in event.details.as_dict()  # type: ignore[no-untyped-call]


def test_r_term_2_a_request_escalated_while_staff_confirm_it_is_confirmed_with_its_escalation(
    account: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer is the request as the confirmation wrote it, not read again: an escalation
    between the read and the write fails the write's condition, and it is confirmed from a new read."""
    request_id = ask(account).body["request_id"]
    escalated_at = NOW + timedelta(days=2)
    real_load = accounts.load

    def load_while_the_sweep_escalates(account_id: str) -> Account:
        CancellationRequest(request_id).update(
            actions=[CancellationRequest.escalated_at.set(escalated_at), CancellationRequest.sla_sweep.remove()]
        )
        monkeypatch.setattr(accounts, "load", real_load)
        return real_load(account_id)

    monkeypatch.setattr(accounts, "load", load_while_the_sweep_escalates)
    confirmed = confirm(request_id)
    assert confirmed.status == 200, confirmed.body
    assert (confirmed.body["status"], confirmed.body["escalated_at"]) == ("confirmed", clock.to_iso(escalated_at))
    assert confirmed.body["confirmed_at"] == clock.to_iso(NOW)
    assert Account.get(account["id"]).status == "cancelled"
    assert audit_types(account["id"]).count("account_cancelled") == 1
