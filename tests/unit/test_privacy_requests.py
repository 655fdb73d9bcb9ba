"""Data subject requests over moto (R-GDPR-10): received → verified → in progress → completed or
rejected with a reason, due 30 days after receipt, every step in the request's history; the
escalation sweep; and the public routes beside them (unsubscribe, export download).

The completion actions belong to other modules (exports, rectification, erasure, consents):
here they are replaced by fakes in ``privacy_requests.ACTIONS``, so these tests prove the
workflow around them, not what they do.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle import notifications
from lifecycle.core import clock, errors
from lifecycle.core.settings import Settings, get_settings
from lifecycle.entry.sweeps import SweepRequest
from lifecycle.privacy import consents, privacy
from lifecycle.privacy.privacy import Completing
from lifecycle.privacy.retention import add_years
from lifecycle.requests import exports, privacy_requests
from lifecycle.storage import Notification, PrivacyRequest, RetentionItem
from tests.conftest import point_service_at
from tests.support import STAFF, Reply, call, member, outbox_items, run_schedule
from tests.unit.test_signup import NOW, TRIAL

EMAIL = "maria@example.com"
LINK = re.compile(r"(https?://\S+/privacy/requests/(dsr_\w+)/verification)\?token=(\S+)")
OTHER_STAFF = {"sub": "staff-2", "role": "staff"}


pytestmark = pytest.mark.usefixtures("world")


class FakeAction:
    """Stands in for a completion action: records what it was given, answers ``result``."""

    def __init__(self, result: dict[str, Any] | None = None, fail_with: list[Exception] | None = None) -> None:
        self.result = result if result is not None else {"summary": "Done as asked."}
        self.fail_with = list(fail_with or [])
        self.calls: list[Completing] = []

    def __call__(self, completing: Completing) -> dict[str, Any]:
        self.calls.append(completing)
        if self.fail_with:
            raise self.fail_with.pop(0)
        return dict(self.result)


@pytest.fixture
def action(monkeypatch: pytest.MonkeyPatch) -> FakeAction:
    fake = FakeAction()
    for request_type in privacy.REQUEST_TYPES:
        monkeypatch.setitem(privacy_requests.ACTIONS, request_type, fake)
    return fake


def ask(type_: str = "access", email: str = EMAIL, **extra: Any) -> Reply:
    return call("POST", "/privacy/requests", body={"type": type_, "email": email, **extra})


def asked(type_: str = "access", email: str = EMAIL, **extra: Any) -> dict[str, Any]:
    reply = ask(type_, email, **extra)
    assert reply.status == 202, reply.body
    return dict(reply.body)


def sent(outbox: Path, type_: str) -> list[dict[str, Any]]:
    return [notice for notice in outbox_items(outbox) if notice["type"] == type_]


def link_for(outbox: Path, request_id: str) -> tuple[str, str]:
    """The verification link's path and token from the notice sent for ``request_id``."""
    for notice in sent(outbox, "privacy_request_verification"):
        found = LINK.search(notice["body"])
        if found and found.group(2) == request_id:
            return found.group(1).split("://", 1)[1].split("/", 1)[1], found.group(3)
    raise AssertionError(f"no verification link for {request_id}")


def verify_by_link(outbox: Path, request_id: str) -> Reply:
    path, token = link_for(outbox, request_id)
    return call("POST", f"/{path}?token={token}")


def staff(action_: str, request_id: str, body: Any = None, claims: dict[str, Any] | None = STAFF) -> Reply:
    return call("POST", f"/admin/privacy/requests/{request_id}/{action_}", body=body, claims=claims)


def read(request_id: str) -> dict[str, Any]:
    reply = call("GET", f"/admin/privacy/requests/{request_id}", claims=STAFF)
    assert reply.status == 200, reply.body
    return dict(reply.body)


def steps(request_id: str) -> list[tuple[str, str]]:
    return [(entry["step"], entry["actor"]) for entry in read(request_id)["history"]]


def person_notices(email: str = EMAIL) -> list[Notification]:
    return list(Notification.query(privacy.PERSON_NOTICES + privacy.person_key(email, get_settings())))


def verified(outbox: Path, type_: str = "access", **extra: Any) -> str:
    request_id = asked(type_, **extra)["id"]
    assert verify_by_link(outbox, request_id).status == 200
    return request_id


def _forever() -> int:
    return 10**9


# ---------------------------------------------------------------- the lifecycle


def test_r_gdpr_10_a_request_is_received_verified_by_link_in_progress_then_completed_with_every_step_audited(
    outbox: Path, action: FakeAction
) -> None:
    action.result = {
        "summary": "Your data is ready.",
        "download_url": "https://api.helpdesk.example/privacy/exports/x?token=secret",
        "items": 7,
    }
    received = ask(details="Everything you hold about me, please.")
    assert received.status == 202, received.body
    request_id = received.body["id"]
    assert received.body == {
        "id": request_id,
        "type": "access",
        "status": "received",
        "received_at": "2026-11-25T12:00:00Z",
        "due_at": "2026-12-25T12:00:00Z",  # R-GDPR-10: 30 days
    }

    assert verify_by_link(outbox, request_id).body["status"] == "verified"
    completed = staff("complete", request_id)

    assert completed.status == 200, completed.body
    view = completed.body
    assert (view["status"], view["verified_by"], view["completed_at"]) == (
        "completed",
        "email_link",
        view["started_at"],
    )
    assert view["result"] == {"summary": "Your data is ready.", "items": 7}  # the link is emailed, not kept
    assert steps(request_id) == [
        ("received", "data_subject"),
        ("verified", "email_link"),
        ("in_progress", "staff-1"),
        ("completed", "staff-1"),
    ]
    assert all(entry["at"] == "2026-11-25T12:00:00Z" for entry in view["history"])
    assert view["overdue"] is False
    assert PrivacyRequest.get(request_id).escalation_shard is None  # out of the sweep's index
    (given,) = action.calls
    assert (given.request.id, given.staff_id, given.now) == (request_id, "staff-1", NOW)
    (notice,) = sent(outbox, "privacy_request_completed")
    assert notice["to"] == EMAIL
    assert "Your data is ready." in notice["body"]
    assert "https://api.helpdesk.example/privacy/exports/x?token=secret" in notice["body"]
    assert {n.type for n in person_notices()} == {"privacy_request_verification", "privacy_request_completed"}


def test_r_gdpr_10_the_verification_notice_carries_a_working_signed_expiring_link(outbox: Path) -> None:
    request_id = asked("erasure")["id"]

    (notice,) = sent(outbox, "privacy_request_verification")
    assert notice["to"] == EMAIL
    assert notice["account_id"] == privacy.PERSON_NOTICES + privacy.person_key(EMAIL, get_settings())
    assert request_id in notice["body"]
    assert "erasure of your personal data" in notice["body"]
    assert "28 November 2026, 12:00 UTC" in notice["body"]  # the link's expiry (72 hours)
    assert "25 December 2026, 12:00 UTC" in notice["body"]  # the due date
    path, token = link_for(outbox, request_id)
    assert path == f"privacy/requests/{request_id}/verification"
    assert privacy.verify(token, "verify", NOW, get_settings()) == request_id

    # The JSON body works as well as the query; verifying again answers the same, audited once.
    first = call("POST", f"/{path}", body={"token": token})
    again = call("POST", f"/{path}?token={token}")
    assert (first.status, again.status) == (200, 200)
    assert first.body == again.body
    assert first.body["status"] == "verified"
    assert [step for step, _ in steps(request_id)] == ["received", "verified"]


def test_r_gdpr_10_a_tampered_expired_or_another_requests_token_is_400_invalid_token(outbox: Path) -> None:
    request_id = asked()["id"]
    other_id = asked("erasure")["id"]
    path, token = link_for(outbox, request_id)
    _, other_token = link_for(outbox, other_id)
    settings_ = get_settings()
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    export_token = privacy.sign("export", request_id, NOW + timedelta(days=1), settings_)
    unknown_id = "dsr_00000000000000000000"
    unknown = privacy.sign("verify", unknown_id, NOW + timedelta(days=1), settings_)

    for bad in (tampered, other_token, export_token, "not-a-token", ""):
        reply = call("POST", f"/{path}?token={bad}")
        assert (reply.status, reply.code) == (400, "invalid_token"), bad
    missing = call("POST", f"/{path}")
    assert (missing.status, missing.code) == (400, "invalid_token")
    no_such = call("POST", f"/privacy/requests/{unknown_id}/verification?token={unknown}")
    assert (no_such.status, no_such.code) == (400, "invalid_token")  # ids are not probed

    clock.set_now(NOW + timedelta(hours=get_settings().privacy_verification_hours, seconds=1))
    expired = call("POST", f"/{path}?token={token}")
    assert (expired.status, expired.code) == (400, "invalid_token")
    assert read(request_id)["status"] == "received"


def test_r_gdpr_10_staff_verify_by_other_means_with_a_note(outbox: Path, action: FakeAction) -> None:
    request_id = asked("rectification", corrections={"full_name": "Maria Petrova"})["id"]

    reply = staff("verify", request_id, {"note": "called back on the number on file"})

    assert reply.status == 200, reply.body
    assert (reply.body["status"], reply.body["verified_by"]) == ("verified", "staff-1")
    assert reply.body["history"][-1] == {
        "at": "2026-11-25T12:00:00Z",
        "step": "verified",
        "actor": "staff-1",
        "note": "called back on the number on file",
    }
    assert staff("verify", request_id, {"note": "again"}).status == 200  # verified already: the same
    assert len(read(request_id)["history"]) == 2
    missing_note = staff("verify", request_id, {})
    assert (missing_note.status, missing_note.code) == (422, "validation_error")
    assert staff("complete", request_id).status == 200
    assert action.calls[0].corrections == {"full_name": "Maria Petrova"}


def test_r_gdpr_10_reject_with_a_reason_the_subject_is_told(outbox: Path) -> None:
    request_id = asked("erasure")["id"]

    reply = staff("reject", request_id, {"reason": "the account is needed to defend a legal claim."})

    assert reply.status == 200, reply.body
    view = reply.body
    assert (view["status"], view["reject_reason"]) == ("rejected", "the account is needed to defend a legal claim.")
    assert view["rejected_at"] == "2026-11-25T12:00:00Z"
    assert [(s, a) for s, a in steps(request_id)] == [("received", "data_subject"), ("rejected", "staff-1")]
    assert view["history"][-1]["note"] == "the account is needed to defend a legal claim."
    assert PrivacyRequest.get(request_id).escalation_shard is None
    (notice,) = sent(outbox, "privacy_request_rejected")
    assert notice["to"] == EMAIL
    assert "the account is needed to defend a legal claim." in notice["body"]
    assert "privacy_request_rejected" in {n.type for n in person_notices()}

    again = staff("reject", request_id, {"reason": "again"})
    assert (again.status, again.code) == (409, "request_closed")
    by_link = verify_by_link(outbox, request_id)
    assert (by_link.status, by_link.code) == (409, "request_closed")
    closed = staff("complete", request_id)
    assert (closed.status, closed.code) == (409, "request_closed")
    assert len(sent(outbox, "privacy_request_rejected")) == 1


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "x" * 1001}, {"reason": "ok", "extra": 1}])
def test_r_gdpr_10_a_rejection_needs_a_reason(outbox: Path, body: dict[str, Any]) -> None:
    request_id = asked()["id"]
    reply = staff("reject", request_id, body)
    assert (reply.status, reply.code) == (422, "validation_error")


def test_r_gdpr_10_completing_a_request_not_verified_is_409_request_not_verified(
    outbox: Path, action: FakeAction
) -> None:
    request_id = asked()["id"]
    reply = staff("complete", request_id)
    assert (reply.status, reply.code) == (409, "request_not_verified")
    assert action.calls == []
    assert read(request_id)["status"] == "received"


def test_r_gdpr_10_completing_twice_is_409_request_closed_and_the_action_runs_once(
    outbox: Path, action: FakeAction
) -> None:
    request_id = verified(outbox)
    assert staff("complete", request_id).status == 200
    again = staff("complete", request_id)
    assert (again.status, again.code) == (409, "request_closed")
    assert len(action.calls) == 1
    assert len(sent(outbox, "privacy_request_completed")) == 1
    rejected = staff("reject", request_id, {"reason": "too late"})
    assert (rejected.status, rejected.code) == (409, "request_closed")


def test_r_gdpr_10_a_failing_action_leaves_the_request_in_progress_and_a_retry_completes_it(
    outbox: Path, action: FakeAction
) -> None:
    action.fail_with = [errors.OwnsLiveAccount("Stop the account first")]
    request_id = verified(outbox, "erasure")

    failed = staff("complete", request_id)

    assert (failed.status, failed.code) == (409, "owns_live_account")
    view = read(request_id)
    assert view["status"] == "in_progress"
    assert view["history"][-1] == {
        "at": "2026-11-25T12:00:00Z",
        "step": "failed",
        "actor": "staff-1",
        "note": "owns_live_account",
    }
    assert sent(outbox, "privacy_request_completed") == []

    retried = staff("complete", request_id, claims=OTHER_STAFF)  # at once: the failure released it
    assert retried.status == 200, retried.body
    assert [step for step, _ in steps(request_id)] == [
        "received",
        "verified",
        "in_progress",
        "failed",
        "retried",
        "completed",
    ]
    assert len(action.calls) == 2
    assert retried.body["started_at"] == "2026-11-25T12:00:00Z"


def test_r_gdpr_10_an_unexpected_failure_is_recorded_as_internal_error(outbox: Path, action: FakeAction) -> None:
    action.fail_with = [RuntimeError("bug")]
    request_id = verified(outbox)
    reply = staff("complete", request_id)
    assert (reply.status, reply.code) == (500, "internal_error")
    assert read(request_id)["history"][-1]["note"] == "internal_error"
    assert staff("complete", request_id).status == 200


def test_r_gdpr_10_a_running_completion_holds_the_request_until_its_lease_ends(
    outbox: Path, action: FakeAction
) -> None:
    request_id = verified(outbox)
    seen: list[str] = []

    def meanwhile(completing: Completing) -> dict[str, Any]:
        # While this completion runs, a second completion and a rejection are refused.
        for attempt in (
            lambda: privacy_requests.complete(
                request_id, privacy_requests.CompleteInput(), "staff-2", NOW, get_settings(), _forever
            ),
            lambda: privacy_requests.reject(
                request_id, privacy_requests.RejectInput(reason="no"), "staff-2", NOW, get_settings()
            ),
        ):
            with pytest.raises(errors.RequestInProgress) as refused:
                attempt()
            seen.append(refused.value.code)
        return {"summary": "done"}

    privacy_requests.ACTIONS["access"] = meanwhile
    assert staff("complete", request_id).status == 200
    assert seen == ["request_in_progress", "request_in_progress"]


def test_r_gdpr_10_a_completion_that_died_unrecorded_is_taken_over_after_its_lease(
    outbox: Path, action: FakeAction
) -> None:
    request_id = verified(outbox)
    # A completion claimed the request and its Lambda timed out before recording anything.
    item = PrivacyRequest.get(request_id)
    started = {"at": clock.to_iso(NOW), "step": "in_progress", "actor": "staff-1"}
    item.update(
        actions=[PrivacyRequest.status.set("in_progress"), PrivacyRequest.history.set([*item.history, started])]
    )

    held = staff("complete", request_id)
    assert (held.status, held.code) == (409, "request_in_progress")
    assert held.headers["retry-after"] == "30"

    clock.set_now(NOW + privacy_requests.COMPLETION_LEASE + timedelta(seconds=1))
    taken_over = staff("complete", request_id, claims=OTHER_STAFF)
    assert taken_over.status == 200, taken_over.body
    assert [step for step, _ in steps(request_id)][-2:] == ["retried", "completed"]


def test_r_gdpr_10_staff_corrections_and_purposes_replace_the_subjects(outbox: Path, action: FakeAction) -> None:
    objection = verified(outbox, "objection")
    withdrawal = verified(outbox, "withdraw_consent", purposes=["marketing", "marketing"])
    rectification = verified(outbox, "rectification", corrections={"full_name": "Maria Petrova"})

    assert read(objection)["purposes"] == list(privacy.PURPOSES)  # default: all
    assert read(withdrawal)["purposes"] == ["marketing"]
    assert staff("complete", objection, {"purposes": ["profiling"]}).status == 200
    assert staff("complete", withdrawal).status == 200
    completed = staff("complete", rectification, {"corrections": {"company_name": None}})

    assert completed.status == 200, completed.body
    assert [call_.purposes for call_ in action.calls[:2]] == [("profiling",), ("marketing",)]
    assert action.calls[2].corrections == {"company_name": None}
    assert completed.body["corrections"] == {"company_name": None}
    assert completed.body["history"][2]["note"] == "staff gave the corrections"


def test_r_gdpr_5_r_gdpr_10_the_erasure_completion_notice_is_sent_but_not_stored(
    outbox: Path, action: FakeAction
) -> None:
    def erase(completing: Completing) -> dict[str, Any]:
        # As the erasure does: the person's notices go, and the request's address is masked.
        for notice in person_notices():
            notice.delete()
        PrivacyRequest(completing.request.id).update(actions=[PrivacyRequest.email.set("erased")])
        return {"summary": "We erased your personal data.", "certificate_id": "era_1"}

    privacy_requests.ACTIONS["erasure"] = erase
    request_id = verified(outbox, "erasure")

    completed = staff("complete", request_id)

    assert completed.status == 200, completed.body
    (notice,) = sent(outbox, "privacy_request_completed")
    assert notice["to"] == EMAIL
    assert "We erased your personal data." in notice["body"]
    assert person_notices() == []  # nothing kept the erased address
    # The notifier deleted the ephemeral notice once sent, kept under the request meanwhile.
    assert list(Notification.query(notifications.ERASED_NOTICES + request_id, consistent_read=True)) == []
    view = read(request_id)
    assert view["email"] == "erased"
    assert view["history"][-1]["note"] == "notice committed for sending, not kept once sent"
    assert view["result"] == {"summary": "We erased your personal data.", "certificate_id": "era_1"}


def test_r_gdpr_10_history_entries_of_concurrent_writers_are_never_lost(outbox: Path, action: FakeAction) -> None:
    request_id = verified(outbox)

    def while_the_sweep_runs(completing: Completing) -> dict[str, Any]:
        # The due date passes during the action and the sweep escalates the request meanwhile.
        later = NOW + timedelta(days=31)
        summary = privacy_requests.escalate_overdue(SweepRequest(), later, _forever, get_settings())
        assert summary.changed == 1
        return {"summary": "done"}

    privacy_requests.ACTIONS["access"] = while_the_sweep_runs
    assert staff("complete", request_id).status == 200
    assert [step for step, _ in steps(request_id)] == ["received", "verified", "in_progress", "escalated", "completed"]


def test_r_gdpr_10_a_step_written_on_a_stale_read_is_refused_and_decided_again(outbox: Path) -> None:
    request_id = asked()["id"]
    stale = PrivacyRequest.get(request_id, consistent_read=True)
    later = NOW + timedelta(days=31)
    assert privacy_requests.escalate_overdue(SweepRequest(), later, _forever, get_settings()).changed == 1

    # Written on the read from before the escalation, the step would drop its history entry.
    step = privacy_requests._Step("rejected", "staff-1", status="rejected")
    with pytest.raises(privacy_requests._Moved):
        privacy_requests._apply(stale, step, later)
    assert [s for s, _ in steps(request_id)] == ["received", "escalated"]
    rejected = staff("reject", request_id, {"reason": "duplicate"})
    assert [s for s, _ in steps(request_id)] == ["received", "escalated", "rejected"]
    assert rejected.body["status"] == "rejected"


def _kept_until() -> Any:
    return RetentionItem.get("person#" + privacy.person_key(EMAIL, get_settings()), consistent_read=True).erase_at


def test_r_gdpr_2_r_gdpr_6_a_completed_or_rejected_request_keeps_the_persons_records_from_that_step(
    outbox: Path,
) -> None:
    restriction = verified(outbox, "restriction")
    assert _kept_until() == add_years(NOW, 5)  # from the request's receipt
    clock.set_now(NOW + timedelta(days=3))
    assert staff("complete", restriction).status == 200
    assert _kept_until() == add_years(NOW + timedelta(days=3), 5)  # moved on with the completion
    assert consents.why_not(EMAIL, "marketing", get_settings()) == "restricted"

    clock.set_now(NOW + timedelta(days=5))
    rejected = asked("objection")["id"]
    clock.set_now(NOW + timedelta(days=6))
    assert staff("reject", rejected, {"reason": "duplicate"}).status == 200
    assert _kept_until() == add_years(NOW + timedelta(days=6), 5)


def test_r_gdpr_2_a_later_retention_stored_stands_and_the_completion_still_commits(outbox: Path) -> None:
    request_id = verified(outbox, "restriction")
    consents.keep_for_retention(EMAIL, NOW + timedelta(days=9), get_settings())  # a later consent's

    clock.set_now(NOW + timedelta(days=2))
    completed = staff("complete", request_id)

    assert (completed.status, completed.body["status"]) == (200, "completed")
    assert _kept_until() == add_years(NOW + timedelta(days=9), 5)  # never moved back
    assert len(sent(outbox, "privacy_request_completed")) == 1


# ---------------------------------------------------------------- the escalation sweep


def test_r_gdpr_10_the_sweep_escalates_an_overdue_open_request_once_and_never_a_closed_one(
    outbox: Path, action: FakeAction
) -> None:
    overdue = asked()["id"]
    closed = verified(outbox, "portability")
    assert staff("complete", closed).status == 200
    clock.set_now(NOW + timedelta(days=1))
    not_yet = asked("erasure", email="ivan@example.com")["id"]
    due = NOW + timedelta(days=30)  # the first's due date, not yet the third's

    preview = privacy_requests.escalate_overdue(SweepRequest(dry_run=True), due, _forever, get_settings())
    assert (preview.examined, preview.changed) == (1, 0)
    assert sent(outbox, "privacy_request_overdue") == []

    clock.set_now(due)
    assert run_schedule("privacy-request-sweep") == {"examined": 1, "changed": 1, "errors": 0, "next": None}
    view = read(overdue)
    assert (view["status"], view["escalated_at"], view["overdue"]) == ("received", "2026-12-25T12:00:00Z", True)
    assert view["history"][-1] == {
        "at": "2026-12-25T12:00:00Z",
        "step": "escalated",
        "actor": "privacy-request-sweep",
        "note": None,
    }
    (notice,) = sent(outbox, "privacy_request_overdue")
    assert notice["to"] == get_settings().staff_email
    assert overdue in notice["subject"]
    assert EMAIL not in notice["body"]
    assert read(not_yet)["escalated_at"] is None
    assert read(closed)["escalated_at"] is None

    again = run_schedule("privacy-request-sweep")
    assert again == {"examined": 0, "changed": 0, "errors": 0, "next": None}
    assert len(sent(outbox, "privacy_request_overdue")) == 1
    # Escalated, still open: staff can still carry it out.
    assert staff("verify", overdue, {"note": "by phone"}).status == 200
    assert staff("complete", overdue).status == 200


# ---------------------------------------------------------------- staff's list and reads


def test_r_gdpr_10_staff_list_open_requests_oldest_first_and_by_status(outbox: Path, action: FakeAction) -> None:
    first = asked()["id"]
    clock.set_now(NOW + timedelta(minutes=1))
    second = verified(outbox, "erasure")
    clock.set_now(NOW + timedelta(minutes=2))
    done = verified(outbox, "portability")
    assert staff("complete", done).status == 200

    listed = call("GET", "/admin/privacy/requests", claims=STAFF)
    assert listed.status == 200, listed.body
    assert [item["id"] for item in listed.body["items"]] == [first, second]
    assert listed.body["items"][0]["email"] == EMAIL
    only_done = call("GET", "/admin/privacy/requests?status=completed", claims=STAFF)
    assert [item["id"] for item in only_done.body["items"]] == [done]
    wrong = call("GET", "/admin/privacy/requests?status=lost", claims=STAFF)
    assert (wrong.status, wrong.code) == (422, "validation_error")


def test_r_gdpr_10_an_unknown_request_is_404_for_staff(action: FakeAction) -> None:
    for reply in (
        call("GET", "/admin/privacy/requests/dsr_nope", claims=STAFF),
        staff("verify", "dsr_nope", {"note": "x"}),
        staff("complete", "dsr_nope"),
        staff("reject", "dsr_nope", {"reason": "x"}),
    ):
        assert (reply.status, reply.code) == (404, "not_found")


def test_r_gdpr_10_staff_routes_refuse_everyone_but_staff(outbox: Path, action: FakeAction) -> None:
    request_id = asked()["id"]
    owner = member("acc_1", "owner")
    routes: list[tuple[str, str, Any]] = [
        ("GET", "/admin/privacy/requests", None),
        ("GET", f"/admin/privacy/requests/{request_id}", None),
        ("POST", f"/admin/privacy/requests/{request_id}/verify", {"note": "me"}),
        ("POST", f"/admin/privacy/requests/{request_id}/complete", None),
        ("POST", f"/admin/privacy/requests/{request_id}/reject", {"reason": "me"}),
    ]
    for method, path, body in routes:
        anonymous = call(method, path, body=body)
        assert (anonymous.status, anonymous.code) == (401, "unauthorized"), path
        customer = call(method, path, body=body, claims=owner)
        assert (customer.status, customer.code) == (403, "forbidden"), path
    assert read(request_id)["history"] == [
        {"at": "2026-11-25T12:00:00Z", "step": "received", "actor": "data_subject", "note": None}
    ]


# ---------------------------------------------------------------- receiving


def test_r_gdpr_10_an_address_that_is_no_customer_is_answered_alike(outbox: Path) -> None:
    signed_up = call("POST", "/signups", body=TRIAL)
    assert signed_up.status == 201, signed_up.body
    customer = ask(email=TRIAL["email"])
    stranger = ask(email="nobody@example.org")

    assert (customer.status, stranger.status) == (202, 202)
    assert set(customer.body) == set(stranger.body) == {"id", "type", "status", "received_at", "due_at"}
    assert len(sent(outbox, "privacy_request_verification")) == 2


def test_r_gdpr_10_details_are_kept_as_given_text_or_object(outbox: Path) -> None:
    text = asked(details="  Please send everything.  ")["id"]
    document = asked("rectification", details={"why": "I married", "since": 2024}, corrections={"last_name": "P"})["id"]
    assert read(text)["details"] == "Please send everything."
    assert read(document)["details"] == {"why": "I married", "since": 2024}
    assert read(document)["corrections"] == {"last_name": "P"}
    assert read(text)["purposes"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"type": "forget_me", "email": EMAIL},
        {"type": "access", "email": "not an address"},
        {"type": "access"},
        {"email": EMAIL},
        {"type": "access", "email": EMAIL, "details": "x" * 4001},
        {"type": "access", "email": EMAIL, "details": {"long": "x" * 4000}},
        {"type": "access", "email": EMAIL, "details": 42},
        {"type": "access", "email": EMAIL, "purposes": ["marketing"]},
        {"type": "objection", "email": EMAIL, "purposes": []},
        {"type": "objection", "email": EMAIL, "purposes": ["spam"]},
        {"type": "erasure", "email": EMAIL, "corrections": {"full_name": "X"}},
        {"type": "rectification", "email": EMAIL, "corrections": {f"f{i}": "x" for i in range(11)}},
        {"type": "rectification", "email": EMAIL, "corrections": {"full_name": 7}},
        {"type": "access", "email": EMAIL, "account_id": "acc_1"},
    ],
)
def test_r_gdpr_10_an_invalid_request_is_422_validation_error(outbox: Path, body: dict[str, Any]) -> None:
    reply = call("POST", "/privacy/requests", body=body)
    assert (reply.status, reply.code) == (422, "validation_error"), reply.body
    assert reply.body["errors"]
    assert PrivacyRequest.count() == 0


def test_r_gdpr_10_requests_are_rate_limited_like_signups_under_their_own_counters(
    outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_service_at({"SIGNUP_LIMIT_PER_EMAIL": "2"}, monkeypatch)
    assert ask().status == 202
    assert ask("erasure").status == 202
    limited = ask("portability")
    assert (limited.status, limited.code) == (429, "rate_limited")
    assert "retry-after" in limited.headers
    assert call("POST", "/signups", body=TRIAL).status == 201  # signups count apart
    assert ask(email="ivan@example.com").status == 202


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.fixed_dictionaries(
        {},
        optional={
            "type": st.sampled_from([*privacy.REQUEST_TYPES, "other"]) | JSON_VALUES,
            "email": st.emails() | st.text(max_size=40),
            "details": JSON_VALUES,
            "purposes": st.lists(st.sampled_from([*privacy.PURPOSES, "x"]), max_size=4) | JSON_VALUES,
            "corrections": st.dictionaries(st.text(max_size=8), st.none() | st.text(max_size=8)) | JSON_VALUES,
        },
    )
)
def test_r_gdpr_10_any_request_body_gets_an_answer_never_a_500(tables: Settings, body: dict[str, Any]) -> None:
    reply = call("POST", "/privacy/requests", body=body)
    assert reply.status in (202, 422, 429), (reply.status, reply.body)


# ---------------------------------------------------------------- unsubscribe and downloads


@pytest.fixture
def unsubscribed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    tokens: list[str] = []

    def unsubscribe(token: str, now: Any, settings_: Settings) -> None:
        if token == "bad":
            raise errors.InvalidToken()
        tokens.append(token)

    monkeypatch.setattr(consents, "unsubscribe", unsubscribe)
    return tokens


def test_r_gdpr_9_one_click_unsubscribe_takes_the_token_from_the_query_json_or_an_rfc_8058_form(
    unsubscribed: list[str],
) -> None:
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert call("POST", "/privacy/unsubscribe?token=t1").status == 204
    assert call("POST", "/privacy/unsubscribe", body={"token": "t2"}).status == 204
    one_click = call("POST", "/privacy/unsubscribe?token=t3", raw_body=b"List-Unsubscribe=One-Click", headers=form)
    assert one_click.status == 204, one_click.body
    assert call("POST", "/privacy/unsubscribe", raw_body=b"token=t4", headers=form).status == 204
    assert unsubscribed == ["t1", "t2", "t3", "t4"]

    for reply in (
        call("POST", "/privacy/unsubscribe"),
        call("POST", "/privacy/unsubscribe?token=bad"),
        call("POST", "/privacy/unsubscribe", raw_body=b"List-Unsubscribe=One-Click", headers=form),
    ):
        assert (reply.status, reply.code) == (400, "invalid_token")
    # Only this route takes a form; the others stay JSON-only.
    other = call("POST", "/privacy/requests", raw_body=b"type=access", headers=form)
    assert (other.status, other.code) == (415, "unsupported_media_type")


def test_r_gdpr_3_an_export_downloads_as_an_uncached_json_attachment_never_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fetched: list[tuple[str, str]] = []

    def download(request_id: str, token: str, now: Any, settings_: Settings) -> bytes:
        fetched.append((request_id, token))
        if len(fetched) > 2:
            raise errors.ExportUnavailable()
        return json.dumps({"person": {"email": EMAIL}, "name": "Мария"}).encode()

    monkeypatch.setattr(exports, "download", download)
    key = {"idempotency-key": "same-key"}

    reply = call("GET", "/privacy/exports/dsr_1?token=t", headers=key)

    assert reply.status == 200, reply.body
    assert reply.body == {"person": {"email": EMAIL}, "name": "Мария"}
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["content-disposition"] == 'attachment; filename="export-dsr_1.json"'
    assert reply.headers["cache-control"] == "no-store"
    assert call("GET", "/privacy/exports/dsr_1?token=t", headers=key).status == 200
    gone = call("GET", "/privacy/exports/dsr_1?token=t", headers=key)
    assert (gone.status, gone.code) == (410, "export_unavailable")  # the bytes were not replayed
    assert len(fetched) == 3
    missing = call("GET", "/privacy/exports/dsr_1")
    assert (missing.status, missing.code) == (400, "invalid_token")
    odd = call("GET", "/privacy/exports/dsr%22x?token=t")
    assert odd.status == 422
