"""R-GDPR-2 for data subject requests: a request and the notices about it are the person's
data too. Every request schedules the person's retention (moved on, never back); when it is
due the answered requests are masked and kept as the record of the answer, the person's
notices deleted, and a request still open is left to be answered."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lifecycle.core import clock
from lifecycle.core.settings import get_settings
from lifecycle.entry.sweeps import SweepRequest
from lifecycle.privacy import privacy
from lifecycle.privacy.retention import add_years, erase_due
from lifecycle.requests import privacy_requests
from lifecycle.storage import DeletionCertificate, Notification, PrivacyRequest, RetentionItem
from tests.support import call, owner_of, run_schedule
from tests.unit.test_privacy_requests import EMAIL, FakeAction, asked, staff
from tests.unit.test_signup import NOW, TRIAL

pytestmark = pytest.mark.usefixtures("world", "outbox")


@pytest.fixture(autouse=True)
def _fake_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    for request_type in privacy.REQUEST_TYPES:
        monkeypatch.setitem(privacy_requests.ACTIONS, request_type, FakeAction())


def person_key() -> str:
    return privacy.person_key(EMAIL, get_settings())


def schedule() -> RetentionItem:
    return RetentionItem.get("person#" + person_key(), consistent_read=True)


def forever() -> int:
    return 10**9


def person_notices() -> list[Notification]:
    return list(Notification.query(privacy.PERSON_NOTICES + person_key(), consistent_read=True))


def test_r_gdpr_2_r_gdpr_10_a_request_schedules_the_persons_retention_and_its_answer_moves_it_on() -> None:
    received = asked("access", details="Everything, please.")
    assert schedule().erase_at == add_years(NOW, 5)

    later = NOW + timedelta(days=3)
    clock.set_now(later)
    assert staff("reject", received["id"], {"reason": "We could not verify the address."}).status == 200

    assert schedule().erase_at == add_years(later, 5)


def test_r_gdpr_2_answered_requests_are_masked_and_kept_open_ones_left_notices_deleted() -> None:
    answered = asked("access", details="Everything, please.")
    assert staff("reject", answered["id"], {"reason": "We could not verify the address."}).status == 200
    still_open = asked("objection", details="No profiling.")
    due = schedule().erase_at
    assert person_notices(), "the verification and rejection notices are kept until then"

    summary = erase_due(SweepRequest(), due, forever, get_settings())

    assert (summary.changed, summary.items["privacy_requests"]) == (1, 1)
    masked = PrivacyRequest.get(answered["id"], consistent_read=True)
    assert (masked.email, masked.details, masked.status) == ("erased", None, "rejected")
    assert [step["step"] for step in masked.history] == ["received", "rejected"]  # the record stays
    left = PrivacyRequest.get(still_open["id"], consistent_read=True)
    assert (left.email, left.status) == (EMAIL, "received")
    assert person_notices() == []
    cert = DeletionCertificate.get(schedule().certificate_id, consistent_read=True)
    assert [entry["table"] for entry in cert.kept] == ["privacy_requests"]
    assert EMAIL not in str(cert.to_simple_dict())
    assert erase_due(SweepRequest(), due, forever, get_settings()).changed == 0


def test_r_gdpr_2_an_owners_consent_records_are_kept_five_years_from_the_end_of_use() -> None:
    signed_up = call("POST", "/signups", body={**TRIAL, "consents": ["marketing"]})
    assert signed_up.status == 201, signed_up.body
    assert schedule().erase_at == add_years(NOW, 5)  # from the consent, while the account is in use

    ended = NOW + timedelta(days=800)
    clock.set_now(ended)
    assert call("POST", f"/accounts/{signed_up.body['id']}/cancel", claims=owner_of(signed_up.body)).status == 200
    assert run_schedule("purge-sweep")["changed"] == 1

    assert schedule().erase_at == add_years(ended, 5)
