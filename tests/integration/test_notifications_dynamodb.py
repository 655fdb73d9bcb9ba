"""Notices on DynamoDB Local: the record kept before sending, the owner's list, and the sparse
``unsent`` index holding exactly the notices still to send (RULES.md "Notify")."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lifecycle import notifications
from lifecycle.core import clock
from lifecycle.core.settings import Settings, get_settings
from lifecycle.notifications import OutboxSender, Sent, deliver, list_for, notify
from lifecycle.storage import Notification
from tests.conftest import point_service_at
from tests.support import deliver_notices, outbox_items
from tests.unit.test_notifications import FailingSender, unsent_ids

pytestmark = [pytest.mark.integration]

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def outbox(local_tables: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "outbox.jsonl"
    point_service_at({"LOCAL_OUTBOX_PATH": str(path)}, monkeypatch)
    clock.set_now(NOW)
    yield path
    clock.set_now(None)
    monkeypatch.delenv("LOCAL_OUTBOX_PATH")
    get_settings.cache_clear()


def test_notices_are_kept_listed_newest_first_and_only_unsent_ones_are_in_the_unsent_index(
    outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = [
        notify("acc_1", "payment_required", "maria@example.com", NOW + timedelta(minutes=n), subdomain="yasen")
        for n in range(3)
    ]
    deliver_notices()
    monkeypatch.setattr(notifications, "sender_for", lambda settings: FailingSender())
    failed = [
        notify("acc_1", "account_deleted", "maria@example.com", NOW + timedelta(hours=n), **_deleted()) for n in (1, 2)
    ]
    notify("acc_2", "account_deleted", "ivan@example.com", NOW, **_deleted())
    deliver_notices()

    listed = list_for("acc_1")
    assert [item.id for item in listed] == [n.id for n in reversed(sent + failed)]
    assert [item.sent_at for item in listed[:2]] == [None, None]
    assert len(outbox_items(outbox)) == 3
    failed_keys = {n.notification_key for n in failed}
    assert unsent_ids() == failed_keys | {next(iter(Notification.query("acc_2"))).notification_key}

    # A retry (the job of a future sweep) sends one and takes it out of the index.
    retried = Notification.get("acc_1", failed[0].notification_key, consistent_read=True)
    assert deliver(retried, NOW + timedelta(days=1), OutboxSender(outbox)) == Sent.SENT
    assert failed[0].notification_key not in unsent_ids()
    stored = Notification.get("acc_1", failed[0].notification_key, consistent_read=True)
    assert (stored.attempts, stored.sent_at, stored.last_error) == (2, NOW + timedelta(days=1), None)


def test_a_notice_is_marked_sent_once_even_if_delivered_twice(outbox: Path) -> None:
    record = notify("acc_1", "payment_required", "maria@example.com", NOW, subdomain="yasen")
    deliver_notices()
    stale = Notification.get("acc_1", record.notification_key, consistent_read=True)
    stale.sent_at = None

    assert deliver(stale, NOW + timedelta(hours=1), OutboxSender(outbox)) == Sent.SKIPPED

    stored = Notification.get("acc_1", record.notification_key, consistent_read=True)
    assert (stored.sent_at, stored.attempts) == (NOW, 1)


def _deleted() -> dict[str, object]:
    return {"subdomain": "yasen", "deleted_at": NOW}
