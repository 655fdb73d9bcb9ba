"""Inactivity (R-TERM-6) over moto: the clock every account carries, activity resetting it,
the inactivity sweep's warning to every user and termination, its policy, dry run, and runs
stopped half-way. Requests and schedules go through the functions the template names."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from lifecycle.core import clock
from lifecycle.core.settings import Settings
from lifecycle.ending import inactivity
from lifecycle.entry.sweeps import SweepRequest
from lifecycle.storage import Account, AuditEvent, Notification
from lifecycle.storage.base import shard_of
from tests.support import STAFF, call, deliver_notices, outbox_items, owner_of, run_schedule
from tests.unit.test_signup import NOW, PERSON, TRIAL, add_voucher

DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
WARN_AT = NOW + 28 * DAY + SECOND  # just past 4 weeks without activity
_ips = count(1)


class Killed(BaseException):
    """Lambda stopped mid-run (a timeout, a crash): nothing in the sweep catches it."""


pytestmark = pytest.mark.usefixtures("world")


def sign_up(tag: str, *, users: int = 0) -> dict[str, Any]:
    """A trial account created at NOW with ``users`` agents besides its owner."""
    clock.set_now(NOW)
    body = {**TRIAL, "email": f"{tag}@example.com", "company_name": f"Company {tag}", "subdomain": tag}
    reply = call("POST", "/signups", body=body, source_ip=f"198.51.100.{next(_ips)}")
    assert reply.status == 201, reply.body
    account = dict(reply.body)
    for index in range(users):
        agent = {"full_name": "Petar Georgiev", "email": f"{tag}-agent{index}@example.com", "role": "agent"}
        added = call("POST", f"/accounts/{account['id']}/users", body=agent, claims=owner_of(account))
        assert added.status == 201, added.body
    return account


def use(account: dict[str, Any], at: datetime) -> None:
    """A login of the owner at ``at`` (API.md "Activity")."""
    clock.set_now(at)
    used = call("POST", f"/accounts/{account['id']}/sessions", body={"device_id": "laptop"}, claims=owner_of(account))
    assert used.status == 201, used.body


def sweep(at: datetime, **detail: Any) -> dict[str, Any]:
    clock.set_now(at)
    return run_schedule("inactivity-sweep", detail)


def warnings_of(account_id: str) -> list[Notification]:
    return [notice for notice in Notification.query(account_id) if notice.type == "inactivity_warning"]


def stored(account: dict[str, Any]) -> Account:
    return Account.get(account["id"], consistent_read=True)


def events_of(account_id: str, type_: str) -> list[AuditEvent]:
    return [event for event in AuditEvent.query(account_id) if event.type == type_]


def forever() -> int:
    return 10**9


# ---------------------------------------------------------------- the clock


def test_r_term_6_new_accounts_carry_the_inactivity_clock(tables: Settings) -> None:
    trial = sign_up("trial")
    add_voucher("LIFETIME-1")
    redeemed = call("POST", "/redemptions", body={**PERSON, "email": "deal@example.com", "code": "LIFETIME-1"})
    assert redeemed.status == 201, redeemed.body

    for account in (trial, redeemed.body):
        item = Account.get(account["id"])
        assert item.inactivity_shard == shard_of(item.id, tables.sweep_shards)
        assert item.inactivity_due_at == NOW + 28 * DAY
        assert item.inactivity_warned_at is None


def test_r_term_6_activity_resets_the_clock_at_the_throttled_rate(tables: Settings) -> None:
    account = sign_up("busy")
    use(account, NOW + 10 * DAY)
    assert stored(account).inactivity_due_at == NOW + 38 * DAY
    # A second activity within activity_write_interval_seconds writes nothing (the rate is kept).
    use(account, NOW + 10 * DAY + SECOND)
    assert stored(account).last_active_at == NOW + 10 * DAY
    assert stored(account).inactivity_due_at == NOW + 38 * DAY


def test_r_term_6_an_account_older_than_the_index_enters_it_at_its_next_activity(tables: Settings) -> None:
    account = sign_up("old")
    Account(account["id"]).update(actions=[Account.inactivity_shard.remove(), Account.inactivity_due_at.remove()])
    use(account, NOW + DAY)
    item = stored(account)
    assert (item.inactivity_shard, item.inactivity_due_at) == (shard_of(item.id, tables.sweep_shards), NOW + 29 * DAY)


# ---------------------------------------------------------------- the warning


def test_r_term_6_after_4_weeks_every_user_is_warned_once(outbox: Path) -> None:
    account = sign_up("quiet", users=2)
    assert sweep(WARN_AT - 2 * SECOND)["examined"] == 0  # not 4 weeks yet

    summary = sweep(WARN_AT)

    assert (summary["examined"], summary["changed"], summary["errors"]) == (1, 1, 0)
    assert "would" not in summary
    emails = [item for item in outbox_items(outbox) if item["type"] == "inactivity_warning"]
    assert sorted(item["to"] for item in emails) == [
        "quiet-agent0@example.com",
        "quiet-agent1@example.com",
        "quiet@example.com",
    ]
    body = emails[0]["body"]
    assert "25 November 2026, 12:00 UTC" in body  # the last activity: the creation
    assert "20 January 2027, 12:00 UTC" in body  # deleted 8 weeks after it
    assert "sign in or use the help desk before then" in body
    item = stored(account)
    # Deleted 8 weeks after the last activity, and 4 weeks after the warning at the earliest.
    assert (item.inactivity_warned_at, item.inactivity_due_at) == (WARN_AT, WARN_AT + 28 * DAY)
    (event,) = events_of(account["id"], "inactivity_warning_sent")
    assert event.details.as_dict()["users"] == 3  # type: ignore[no-untyped-call]

    again = sweep(WARN_AT + DAY)
    assert (again["examined"], again["changed"]) == (0, 0)
    assert len(warnings_of(account["id"])) == 3


def test_r_term_6_an_account_used_lately_is_not_warned(outbox: Path) -> None:
    quiet, busy = sign_up("quiet"), sign_up("busy")
    use(busy, NOW + 20 * DAY)

    assert sweep(NOW + 29 * DAY)["changed"] == 1

    assert len(warnings_of(quiet["id"])) == 1
    assert warnings_of(busy["id"]) == []
    assert stored(busy).inactivity_due_at == NOW + 48 * DAY


def test_r_term_6_activity_after_the_warning_withdraws_it_and_a_later_spell_is_warned_again(outbox: Path) -> None:
    account = sign_up("back")
    sweep(WARN_AT)
    use(account, NOW + 30 * DAY)
    item = stored(account)
    assert (item.inactivity_warned_at, item.inactivity_due_at) == (None, NOW + 58 * DAY)

    assert sweep(NOW + 57 * DAY)["examined"] == 0  # neither warned again nor terminated
    assert stored(account).status == "trialing"
    assert sweep(NOW + 58 * DAY + SECOND)["changed"] == 1
    assert len(warnings_of(account["id"])) == 2


def test_r_term_6_an_activity_between_the_read_and_the_warning_wins(
    outbox: Path, tables: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = sign_up("racer")
    users = inactivity._users

    def users_then_activity(account_id: str) -> list[Any]:
        found = users(account_id)
        use(account, WARN_AT)  # the owner signs in while the sweep composes its notices
        return found

    monkeypatch.setattr(inactivity, "_users", users_then_activity)
    summary = inactivity.sweep(SweepRequest(), WARN_AT, forever, tables)

    assert (summary.examined, summary.changed) == (1, 0)
    assert warnings_of(account["id"]) == []
    item = stored(account)
    assert (item.inactivity_warned_at, item.inactivity_due_at) == (None, WARN_AT + 28 * DAY)


# ---------------------------------------------------------------- the termination


def test_r_term_6_after_8_weeks_without_activity_the_account_is_terminated(outbox: Path, tables: Settings) -> None:
    account = sign_up("gone", users=1)
    sweep(WARN_AT)
    deleted_at = WARN_AT + 28 * DAY  # 8 weeks after the creation, 4 weeks after the warning
    assert sweep(deleted_at - SECOND)["examined"] == 0
    notices_before = len(list(Notification.query(account["id"])))

    summary = sweep(deleted_at)

    assert (summary["examined"], summary["changed"]) == (1, 1)
    item = stored(account)
    assert (item.status, item.access_blocked_reason, item.status_reason) == ("terminated", "terminated", "inactivity")
    assert item.ended_at == item.purge_after == deleted_at
    assert item.purge_shard == shard_of(item.id, tables.sweep_shards)
    assert (item.trial_sweep, item.price_key, item.billing_shard, item.inactivity_shard) == (None,) * 4
    (event,) = events_of(account["id"], "account_terminated")
    assert event.details.as_dict()["reason"] == "inactivity"  # type: ignore[no-untyped-call]
    assert len(list(Notification.query(account["id"]))) == notices_before  # the warning said so
    seen = call("GET", f"/accounts/{account['id']}", claims=owner_of(account))
    assert (seen.body["status"], seen.body["access"]) == ("terminated", "terminated")
    assert sweep(NOW + 60 * DAY)["examined"] == 0


def test_r_term_6_a_warning_always_leaves_the_users_4_weeks(outbox: Path) -> None:
    account = sign_up("paid")
    Account(account["id"]).update(actions=[Account.status.set("active")])  # a paid subscription
    assert sweep(WARN_AT)["changed"] == 0  # exempt; looked at again 4 weeks later
    assert stored(account).inactivity_due_at == WARN_AT + 28 * DAY
    Account(account["id"]).update(actions=[Account.charge_attempts.set(1)])  # a charge failed

    warned_at = WARN_AT + 28 * DAY
    assert sweep(warned_at)["changed"] == 1

    # Inactive for 8 weeks already, but deleted only 4 weeks after the warning.
    assert stored(account).inactivity_due_at == warned_at + 28 * DAY
    assert sweep(warned_at + 27 * DAY)["examined"] == 0
    assert sweep(warned_at + 28 * DAY)["changed"] == 1
    assert stored(account).status == "terminated"


# ---------------------------------------------------------------- the policy


def _account(**fields: Any) -> Account:
    values: dict[str, Any] = {
        "status": "active",
        "plan": "ticket",
        "billing_period": "monthly",
        "created_at": NOW,
        "lifetime": False,
        "charge_attempts": 0,
    }
    return Account("acc", **{**values, **fields})


@pytest.mark.parametrize(
    ("fields", "policy", "expected"),
    [
        ({}, "unpaid", False),  # a paid subscription in good standing
        ({"billing_period": "annual"}, "unpaid", False),
        ({"status": "trialing"}, "unpaid", True),
        ({"status": "trial_expired"}, "unpaid", True),
        ({"status": "payment_required"}, "unpaid", True),
        ({"charge_attempts": 1}, "unpaid", True),
        ({"plan": "free"}, "unpaid", True),
        ({"plan": "all-inclusive", "lifetime": True}, "unpaid", True),  # a voucher account
        ({"status": "suspended"}, "unpaid", False),  # staff's suspension pauses the rule
        ({}, "all", True),
        ({"status": "suspended"}, "all", False),
        ({"status": "trialing"}, "none", False),
    ],
)
def test_r_term_6_the_policy_setting_says_which_accounts_are_covered(
    fields: dict[str, Any], policy: str, expected: bool
) -> None:
    settings = Settings(inactivity_policy=policy)  # type: ignore[arg-type]
    assert inactivity.covered(_account(**fields), settings) is expected


def test_r_term_6_a_suspended_account_is_not_warned_and_its_clock_restarts_when_reinstated(outbox: Path) -> None:
    account = sign_up("paused")
    clock.set_now(NOW + DAY)
    suspended = call(
        "POST", f"/admin/accounts/{account['id']}/suspend", body={"reason": "other", "details": "x"}, claims=STAFF
    )
    assert suspended.status == 200, suspended.body
    assert sweep(WARN_AT)["changed"] == 0
    assert warnings_of(account["id"]) == []
    clock.set_now(NOW + 40 * DAY)
    body = {"reason": "resolved", "details": "x"}
    assert call("POST", f"/admin/accounts/{account['id']}/reinstate", body=body, claims=STAFF).status == 200

    assert sweep(NOW + 68 * DAY - SECOND)["examined"] == 0
    assert sweep(NOW + 68 * DAY)["changed"] == 1
    assert len(warnings_of(account["id"])) == 1
    assert stored(account).inactivity_due_at == NOW + 96 * DAY  # 4 weeks after the warning


def test_r_term_6_an_ended_account_leaves_the_index(outbox: Path) -> None:
    account = sign_up("left")
    assert call("POST", f"/accounts/{account['id']}/cancel", claims=owner_of(account)).status == 200

    summary = sweep(WARN_AT)

    assert (summary["examined"], summary["changed"]) == (1, 0)
    assert stored(account).inactivity_shard is None
    assert warnings_of(account["id"]) == []
    assert sweep(WARN_AT)["examined"] == 0


# ---------------------------------------------------------------- dry run


def test_r_term_6_a_dry_run_lists_what_it_would_do_and_why_and_changes_nothing(outbox: Path) -> None:
    quiet, paid, left = sign_up("quiet"), sign_up("paid"), sign_up("left")
    Account(paid["id"]).update(actions=[Account.status.set("active")])
    assert call("POST", f"/accounts/{left['id']}/cancel", claims=owner_of(left)).status == 200
    before = {a["id"]: stored(a).inactivity_due_at for a in (quiet, paid, left)}

    summary = sweep(WARN_AT, dry_run=True)

    assert (summary["examined"], summary["changed"], summary["errors"]) == (3, 0, 0)
    would = {item["account_id"]: item for item in summary["would"]}
    assert would[quiet["id"]]["action"] == "warn"
    assert would[quiet["id"]]["why"] == "no activity since 2026-11-25T12:00:00Z"
    assert would[paid["id"]]["action"] == "exempt"
    assert "paid subscription in good standing" in would[paid["id"]]["why"]
    assert would[left["id"]]["action"] == "leave_index"
    assert {a["id"]: stored(a).inactivity_due_at for a in (quiet, paid, left)} == before
    assert warnings_of(quiet["id"]) == []
    later = {item["account_id"]: item["action"] for item in sweep(NOW + 57 * DAY, dry_run=True)["would"]}
    assert later[quiet["id"]] == "warn"  # still not warned


# ---------------------------------------------------------------- runs stopped half-way


def _killing_after(calls: int, make: Callable[..., Callable[[Any], bool]]) -> Callable[..., Callable[[Any], bool]]:
    done = count()

    def factory(*args: Any) -> Callable[[Any], bool]:
        act = make(*args)

        def killed_after(item: Any) -> bool:
            if next(done) == calls:
                raise Killed
            return act(item)

        return killed_after

    return factory


def test_r_term_6_a_run_stopped_half_way_is_finished_by_the_next_without_doubles(
    outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    accounts = [sign_up(f"many{index}", users=1) for index in range(6)]
    monkeypatch.setattr(inactivity, "_act", _killing_after(3, inactivity._act))
    with pytest.raises(Killed):
        sweep(WARN_AT)
    assert sum(len(warnings_of(a["id"])) for a in accounts) == 3 * 2
    monkeypatch.undo()

    rerun = sweep(WARN_AT + SECOND)

    assert rerun["changed"] == 3
    for account in accounts:
        assert len(warnings_of(account["id"])) == 2  # one per user, nobody twice
    sent = Counter(item["to"] for item in outbox_items(outbox) if item["type"] == "inactivity_warning")
    assert len(sent) == 12
    assert set(sent.values()) == {1}


def test_r_term_6_a_run_stopped_after_the_claim_sends_no_second_notice(
    outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = sign_up("claimed", users=1)
    commit = inactivity.try_commit

    def commits_then_dies(*args: Any, **kwargs: Any) -> list[str]:
        commit(*args, **kwargs)
        raise Killed

    monkeypatch.setattr(inactivity, "try_commit", commits_then_dies)
    with pytest.raises(Killed):
        sweep(WARN_AT)
    monkeypatch.undo()

    assert sweep(WARN_AT + SECOND)["examined"] == 0  # warned: due again at the deletion date
    # Both notices were recorded with the claim; unsent, they wait for the retry of unsent notices.
    assert len(warnings_of(account["id"])) == 2
    assert all(notice.sent_at is None and notice.unsent_shard is not None for notice in warnings_of(account["id"]))
    deliver_notices()  # the notifier sends each once
    assert all(notice.sent_at is not None for notice in warnings_of(account["id"]))


def test_r_term_6_more_users_than_a_transaction_holds_are_warned_in_batches_after_the_claim(
    outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = sign_up("crowd", users=4)  # 5 users
    monkeypatch.setattr(inactivity, "NOTICES_PER_TRANSACTION", 2)
    saves = count()
    save_new = inactivity._save_new

    def dies_after_one_more(item: Any) -> bool:
        if next(saves) == 3:  # the claim's two are found saved, one more is saved, then it dies
            raise Killed
        return save_new(item)

    monkeypatch.setattr(inactivity, "_save_new", dies_after_one_more)
    with pytest.raises(Killed):
        sweep(WARN_AT)
    assert len(warnings_of(account["id"])) == 3  # the claim's 2, and one after it
    assert stored(account).inactivity_due_at == WARN_AT  # still due: the warning is not complete
    monkeypatch.setattr(inactivity, "_save_new", save_new)

    assert sweep(WARN_AT + SECOND)["changed"] == 1

    notices = warnings_of(account["id"])
    assert len({notice.to for notice in notices}) == len(notices) == 5
    assert stored(account).inactivity_due_at == WARN_AT + 28 * DAY
    assert sweep(WARN_AT + DAY)["examined"] == 0
    assert len(warnings_of(account["id"])) == 5


def test_r_term_6_warnings_go_to_every_user_of_the_account_only(outbox: Path) -> None:
    one, other = sign_up("one", users=1), sign_up("other")
    use(other, NOW + 5 * DAY)
    sweep(WARN_AT)
    assert {notice.to for notice in warnings_of(one["id"])} == {"one@example.com", "one-agent0@example.com"}
    assert warnings_of(other["id"]) == []
