"""Notices over moto: texts, the record kept before sending, the outbox and SES senders,
the owner's list, and the R-VOUCH-11 notices of a revocation.

"Notify" (RULES.md conventions): a record is written and sent by email; notices are
evidence, kept, listed and never silently dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from lifecycle import notifications
from lifecycle.core import clock, observability
from lifecycle.core.money import Money
from lifecycle.core.notices import NOTICE_TYPES, NoticeType, fields, render, texts
from lifecycle.core.settings import Settings, get_settings
from lifecycle.notifications import NotificationView, OutboxSender, SesSender, notify, sender_for
from lifecycle.storage import AuditEvent, Notification
from local_runtime.template import ROOT
from tests.conftest import point_service_at
from tests.support import STAFF, call, deliver_notices, except_welcome, member, outbox_items, run_schedule
from tests.unit.test_signup import NOW, TRIAL, add_voucher, person

API_MD = ROOT.parent / "shared" / "spec" / "API.md"
WHEN = datetime(2026, 12, 9, 12, 0, tzinfo=NOW.tzinfo)
SAMPLE_FACTS: dict[NoticeType, dict[str, object]] = {
    "welcome": {"subdomain": "yasen", "plan": "ticket", "sign_in": "Sign in with maria@example.com."},
    "user_invited": {"subdomain": "yasen", "role": "agent", "sign_in": "Set your password."},
    "account_reinstated": {"subdomain": "yasen", "reinstated_at": WHEN},
    "extra_seat_warning": {
        "subdomain": "yasen",
        "seats_used": 3,
        "included_seats": 2,
        "seat_price": Money(amount=3900),
    },
    "shared_login_detected": {
        "subdomain": "yasen",
        "user": "Maria Ivanova",
        "days": 3,
        "period": "25 November to 24 December 2026",
        "evidence": "- 2026-11-25: 3 devices on 2 networks, 12:00 to 12:10 UTC",
        "fee": Money(amount=3900),
    },
    "usage_limit_exceeded": {"subdomain": "yasen", "usage": "1,250 tickets this month", "limit": "1,000 tickets"},
    "receipt": {"subdomain": "yasen", "amount": Money(amount=5900), "paid_at": WHEN, "invoice_number": "2026-0001"},
    "payment_failed": {"subdomain": "yasen", "amount": Money(amount=3900)},
    "payment_action_required": {
        "subdomain": "yasen",
        "amount": Money(amount=1900),
        "next_action_url": "https://hooks.stripe.com/3d_secure_2/authenticate/pi_1",
    },
    "payment_required": {"subdomain": "yasen"},
    "payment_disputed": {"subdomain": "yasen", "amount": Money(amount=1900)},
    "dispute_opened": {"account": "acc_1", "amount": Money(amount=1900), "reason": "fraudulent", "policy": "flag"},
    "card_expiring": {"subdomain": "yasen", "brand": "visa", "last4": "4242", "expires": "12/2026"},
    "card_updated": {"subdomain": "yasen", "brand": "visa", "last4": "4242", "expires": "12/2029"},
    "price_change_notice": {
        "plan": "ticket",
        "old_price": Money(amount=1900),
        "new_price": Money(amount=2400),
        "effective_at": WHEN,
    },
    "trial_ended": {"subdomain": "yasen", "plan": "ticket", "trial_ends_at": WHEN},
    "inactivity_warning": {"subdomain": "yasen", "last_active_at": NOW, "delete_at": WHEN},
    "account_deleted": {"subdomain": "yasen", "deleted_at": WHEN},
    "suspension_warning": {"subdomain": "yasen", "reason": "unpaid invoices", "suspend_at": WHEN},
    "termination_warning": {"subdomain": "yasen", "reason": "false registration data", "terminate_at": WHEN},
    "cancellation_confirmed": {"subdomain": "yasen", "cancelled_at": WHEN},
    "cancellation_overdue": {"request_id": "ccr_1", "account": "acc_1", "requested_at": WHEN, "due_by": WHEN},
    "privacy_request_verification": {
        "request_type": "erasure of your personal data",
        "reference": "dsr_1",
        "verification_link": "https://api.helpdesk.example/privacy/requests/dsr_1/verification?token=abc.def",
        "link_expires_at": NOW,
        "due_at": WHEN,
    },
    "privacy_request_completed": {
        "request_type": "a copy of your personal data in a portable format",
        "reference": "dsr_1",
        "completed_at": WHEN,
        "summary": "Your data is ready to download.",
        "download": "\n\nThe download link:\nhttps://api.helpdesk.example/privacy/exports/dsr_1?token=x",
    },
    "privacy_request_rejected": {
        "request_type": "erasure of your personal data",
        "reference": "dsr_1",
        "reason": "we could not confirm that the request came from the address's owner.",
    },
    "privacy_request_overdue": {
        "request_id": "dsr_1",
        "request_type": "erasure",
        "received_at": NOW,
        "due_at": WHEN,
        "status": "verified",
    },
    "voucher_revoked": {"subdomain": "yasen", "reason": "it was shared"},
    "account_marked_for_removal": {"subdomain": "again", "revoked_subdomain": "yasen", "reason": "it was shared"},
    "custom_request_approved": {
        "subdomain": "yasen",
        "title": "Export to our ERP",
        "specification": "A nightly CSV export of closed tickets.",
        "price": Money(amount=120000),
    },
    "custom_request_refused": {"subdomain": "yasen", "title": "Export to our ERP", "reason": "we cannot support it"},
    "product_news": {
        "headline": "Chat widgets are here",
        "news": "Your help desk can now answer chats.",
        "unsubscribe_url": "https://api.helpdesk.example/privacy/unsubscribe?token=t",
    },
}


pytestmark = pytest.mark.usefixtures("world")


@pytest.fixture
def outbox(tables: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The local sender, writing to a file whose folder does not exist yet."""
    path = tmp_path / "local" / "outbox.jsonl"
    point_service_at({"LOCAL_OUTBOX_PATH": str(path)}, monkeypatch)
    yield path
    monkeypatch.delenv("LOCAL_OUTBOX_PATH")
    get_settings.cache_clear()


def unsent_ids() -> set[str]:
    shards = range(get_settings().sweep_shards)
    return {key.notification_key for shard in shards for key in Notification.unsent.query(str(shard))}


class FailingSender:
    def send(self, notice: NotificationView, now: datetime) -> str:
        raise ConnectionError(f"provider refused {notice.to}")


# ---------------------------------------------------------------- texts


def test_the_texts_cover_api_md_types_and_every_type_has_sample_facts() -> None:
    sentence = re.search(r"`type` is one of a documented list, at least:(.*?)\.\n", API_MD.read_text(), re.DOTALL)
    assert sentence, "API.md no longer lists the notification types where this test looks"
    documented = set(re.findall(r"`([a-z_]+)`", sentence.group(1)))
    assert documented <= set(NOTICE_TYPES), f"types API.md lists but notices.py lacks: {documented - set(NOTICE_TYPES)}"
    assert set(SAMPLE_FACTS) == set(NOTICE_TYPES)


@pytest.mark.parametrize("notice_type", NOTICE_TYPES)
def test_every_notice_type_renders_in_plain_words(notice_type: NoticeType) -> None:
    subject, body = render(notice_type, **SAMPLE_FACTS[notice_type])
    assert subject
    assert len(body) < 800
    assert "{" not in subject + body
    assert "None" not in subject + body
    for value in SAMPLE_FACTS[notice_type].values():
        if isinstance(value, str):
            assert value in subject + body


def test_facts_read_as_people_write_them() -> None:
    _, body = render("receipt", **SAMPLE_FACTS["receipt"])
    assert "59.00 USD" in body
    assert "9 December 2026, 12:00 UTC" in body


def test_a_missing_or_unexpected_fact_is_refused_at_render_time() -> None:
    with pytest.raises(KeyError, match="reason"):
        render("voucher_revoked", subdomain="yasen")
    with pytest.raises(KeyError, match="evidence"):
        render("voucher_revoked", subdomain="yasen", reason="x", evidence="staff only")


def test_r_pay_12_payment_action_required_has_a_billing_page_text_chosen_by_its_facts() -> None:
    on_session = SAMPLE_FACTS["payment_action_required"]
    billing_url = "http://localhost:5173/accounts/acc_1/billing"
    off_session = {"subdomain": "yasen", "amount": Money(amount=1900), "billing_url": billing_url}

    asked_subject, asked_body = render("payment_action_required", **on_session)
    blocked_subject, blocked_body = render("payment_action_required", **off_session)

    assert str(on_session["next_action_url"]) in asked_body
    assert billing_url in blocked_body
    assert "lost access" in blocked_body
    assert "lost access" not in asked_body
    assert "19.00 USD" in asked_subject
    assert "19.00 USD" in blocked_subject
    assert "{" not in blocked_subject + blocked_body
    # One text's facts, never a mix of both or half of one.
    with pytest.raises(KeyError, match="billing_url"):
        render("payment_action_required", **on_session, billing_url=billing_url)
    with pytest.raises(KeyError, match="next_action_url"):
        render("payment_action_required", subdomain="yasen", amount=Money(amount=1900))


def test_the_alternative_texts_of_a_type_are_told_apart_by_their_facts() -> None:
    for notice_type in NOTICE_TYPES:
        named = [fields(template) for template in texts(notice_type)]
        assert len(set(named)) == len(named), notice_type


# ---------------------------------------------------------------- notify


def test_notify_keeps_the_record_then_sends_it_to_the_outbox_and_marks_it_sent(
    outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen_before_sending: list[Notification] = []

    class Spy(OutboxSender):
        def send(self, notice: NotificationView, now: datetime) -> str:
            seen_before_sending.extend(item for item in Notification.query("acc_1") if item.id == notice.id)
            return super().send(notice, now)

    monkeypatch.setattr(notifications, "sender_for", lambda settings: Spy(outbox))
    record = notify("acc_1", "voucher_revoked", "maria@example.com", NOW, subdomain="yasen", reason="it was shared")
    assert seen_before_sending == []  # recorded only: the notifier sends it from the stream

    (line,) = outbox_items(outbox)
    (before,) = seen_before_sending
    assert (before.sent_at, before.unsent_shard is not None, before.attempts) == (None, True, 0)
    assert line == {
        "id": record.id,
        "type": "voucher_revoked",
        "to": "maria@example.com",
        "account_id": "acc_1",
        "subject": record.subject,
        "body": record.body,
        "created_at": "2026-11-25T12:00:00Z",
        "sent_at": "2026-11-25T12:00:00Z",
    }
    stored = Notification.get("acc_1", record.notification_key)
    assert (stored.sent_at, stored.unsent_shard, stored.attempts) == (NOW, None, 1)
    assert stored.provider_message_id == f"outbox-{record.id}"
    assert unsent_ids() == set()


def test_a_failed_send_keeps_the_notice_unsent_and_listed_and_the_caller_goes_on(
    tables: Settings, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(notifications, "sender_for", lambda settings: FailingSender())
    record = notify("acc_1", "payment_required", "maria@example.com", NOW, subdomain="yasen")
    deliver_notices()

    stored = Notification.get("acc_1", record.notification_key)
    assert (stored.sent_at, stored.attempts, stored.last_error) == (None, 1, "ConnectionError")
    assert stored.sending_until is None  # the claim is released for the retry sweep
    assert unsent_ids() == {record.notification_key}
    listed = call("GET", "/accounts/acc_1/notifications", claims=member("acc_1")).body["items"]
    assert [(item["id"], item["sent_at"]) for item in listed] == [(record.id, None)]
    assert "maria@example.com" not in capfd.readouterr().out  # logs carry no personal data


@pytest.fixture
def in_aws(tables: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """No local outbox configured: notices go by SES (moto's), as in AWS."""
    monkeypatch.delenv("LOCAL_OUTBOX_PATH", raising=False)
    point_service_at({}, monkeypatch)
    return get_settings()


def test_in_aws_notices_go_by_ses_from_the_configured_address(in_aws: Settings) -> None:
    settings = get_settings()
    assert settings.local_outbox_path is None
    sender = sender_for(settings)
    assert isinstance(sender, SesSender)
    assert sender.from_address == settings.email_from
    boto3.client("sesv2").create_email_identity(EmailIdentity=settings.email_from)

    record = notify("acc_1", "welcome", "maria@example.com", NOW, subdomain="yasen", plan="ticket", sign_in="Sign in.")
    deliver_notices()

    stored = Notification.get("acc_1", record.notification_key)
    assert stored.sent_at == NOW
    assert stored.provider_message_id


def test_ses_refusing_the_sender_keeps_the_notice_for_a_retry(in_aws: Settings) -> None:
    record = notify("acc_1", "welcome", "maria@example.com", NOW, subdomain="yasen", plan="ticket", sign_in="Sign in.")
    deliver_notices()
    stored = Notification.get("acc_1", record.notification_key)
    assert (stored.sent_at, stored.attempts, stored.last_error) == (None, 1, "MessageRejected")
    assert unsent_ids() == {record.notification_key}


# ---------------------------------------------------------------- GET /accounts/{id}/notifications


def test_the_owner_lists_the_accounts_notices_newest_first(outbox: Path) -> None:
    first = notify("acc_1", "payment_required", "maria@example.com", NOW, subdomain="yasen")
    second = notify("acc_1", "account_deleted", "maria@example.com", NOW + timedelta(hours=1), **_deleted())
    notify("acc_2", "payment_required", "ivan@example.com", NOW, subdomain="other")
    deliver_notices()

    reply = call("GET", "/accounts/acc_1/notifications", claims=member("acc_1"))

    assert reply.status == 200, reply.body
    assert [item["id"] for item in reply.body["items"]] == [second.id, first.id]
    assert reply.body["items"][1] == {
        "id": first.id,
        "type": "payment_required",
        "to": "maria@example.com",
        "account_id": "acc_1",
        "subject": first.subject,
        "body": first.body,
        "created_at": "2026-11-25T12:00:00Z",
        "sent_at": "2026-11-25T12:00:00Z",
    }


def _deleted() -> dict[str, object]:
    return {"subdomain": "yasen", "deleted_at": NOW}


def test_only_the_owner_reads_the_notices_and_other_accounts_are_not_found(outbox: Path) -> None:
    notify("acc_1", "payment_required", "maria@example.com", NOW, subdomain="yasen")
    path = "/accounts/acc_1/notifications"
    for claims, status, code in (
        (member("acc_1", "agent"), 403, "forbidden"),
        (member("acc_1", "admin"), 403, "forbidden"),
        (member("acc_2", "owner"), 404, "not_found"),
        (None, 401, "unauthorized"),
    ):
        reply = call("GET", path, claims=claims)
        assert (reply.status, reply.code) == (status, code), claims


def test_r_use_4_support_staff_may_read_the_notices_and_the_access_is_audited(outbox: Path) -> None:
    notify("acc_1", "payment_required", "maria@example.com", NOW, subdomain="yasen")
    reply = call("GET", "/accounts/acc_1/notifications", claims=STAFF)
    assert (reply.status, len(reply.body["items"])) == (200, 1)
    (event,) = AuditEvent.query("acc_1")
    assert (event.type, event.actor, event.details.as_dict()) == (
        "staff_access",
        "staff-1",
        {"resource": "notifications"},
    )


# ---------------------------------------------------------------- R-VOUCH-11


def test_r_vouch_11_revocation_notifies_the_blocked_owner_and_each_account_marked_for_removal(outbox: Path) -> None:
    add_voucher("LIFE-0000-AAAA")
    add_voucher("LIFE-0000-BBBB")
    abused = call("POST", "/redemptions", body=person(code="LIFE-0000-AAAA", email="maria+1@example.com")).body
    other = call(
        "POST", "/redemptions", body=person(code="LIFE-0000-BBBB", email="maria+2@example.com", subdomain="again")
    ).body
    call("POST", "/signups", body={**TRIAL, "email": "maria+3@example.com", "subdomain": "trial-co"})
    revoke = {"reason": "abuse", "evidence": "reuse x12 from 198.51.100.7"}

    assert call("POST", "/admin/vouchers/LIFE-0000-AAAA/revoke", body=revoke, claims=STAFF).status == 200

    sent = [(item["type"], item["to"], item["account_id"]) for item in except_welcome(outbox_items(outbox))]
    assert sent == [
        ("voucher_revoked", "maria+1@example.com", abused["id"]),
        ("account_marked_for_removal", "maria+2@example.com", other["id"]),
    ]
    revoked, removed = except_welcome(outbox_items(outbox))
    assert abused["subdomain"] in revoked["body"]
    assert "198.51.100.7" not in revoked["body"]  # the evidence is for staff only
    assert abused["subdomain"] in removed["body"]
    assert "again" in removed["body"]
    owner_view = call("GET", f"/accounts/{abused['id']}/notifications", claims=member(abused["id"]))
    assert [item["type"] for item in except_welcome(owner_view.body["items"])] == ["voucher_revoked"]

    call("POST", "/admin/vouchers/LIFE-0000-AAAA/revoke", body=revoke, claims=STAFF)
    assert len(except_welcome(outbox_items(outbox))) == 2  # a rerun notifies nobody again


# ---------------------------------------------------------------- the unsent-notice metric


def _published(out: str) -> list[dict[str, Any]]:
    """The CloudWatch embedded-metric-format documents a handler printed."""
    return [doc for line in out.splitlines() if line.startswith("{") and "_aws" in (doc := json.loads(line))]


def test_the_retry_sweep_reports_notices_left_unsent_for_over_an_hour(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The ``notification-retry-sweep`` publishes ``UnsentNoticesOverAnHour`` (EMF, namespace and
    ``service``/``sweep`` dimensions as template.yaml's UnsentNoticesAlarm reads it): a notice
    whose retry fails again counts once it is an hour old, not before; sent, it no longer counts."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.setattr(observability.metrics.provider, "namespace", "HelpDesk/helpdesk-local")
    monkeypatch.setattr(observability.metrics.provider, "service", "account-lifecycle")
    monkeypatch.setattr(notifications, "sender_for", lambda settings: FailingSender())
    notify("acc_1", "payment_required", "maria@example.com", NOW, subdomain="yasen")
    capfd.readouterr()

    def unsent_over_an_hour(at: datetime) -> float:
        clock.set_now(at)
        assert run_schedule(notifications.RETRY_SWEEP)["examined"] == 1
        (document,) = [doc for doc in _published(capfd.readouterr().out) if notifications.UNSENT_METRIC in doc]
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "HelpDesk/helpdesk-local"
        assert sorted(directive["Dimensions"][0]) == ["service", "sweep"]
        assert (document["service"], document["sweep"]) == ("account-lifecycle", notifications.RETRY_SWEEP)
        (value,) = document[notifications.UNSENT_METRIC]
        return float(value)

    assert unsent_over_an_hour(NOW + timedelta(minutes=59)) == 0
    assert unsent_over_an_hour(NOW + timedelta(minutes=60)) == 1
    monkeypatch.setattr(notifications, "sender_for", lambda settings: OutboxSender(tmp_path / "outbox.jsonl"))
    assert unsent_over_an_hour(NOW + timedelta(minutes=75)) == 0
    assert unsent_ids() == set()
