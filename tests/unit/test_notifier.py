"""The notifier over moto: each notice committed to the Notifications table is sent from the
table's stream, once, by the template's ``NotifierFunction`` (RULES.md "Notify": never silently
dropped, R-GDPR-6/8 marketing consent checked again at send time, R-PAY-9 the price-change stamp).

Events are Lambda's DynamoDB events as the local runtime builds them (``local_runtime.streams``);
the partial batch response is read as Lambda reads it (``streams.judge``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lifecycle import notifications
from lifecycle.core import clock
from lifecycle.core.settings import get_settings
from lifecycle.notifications import NotificationView, OutboxSender, notify
from lifecycle.privacy import consents
from lifecycle.storage import Account, Notification
from local_runtime import streams
from tests.support import NOTIFIER, _context, _handler, deliver_notices, outbox_items, run_schedule, stream_consumer
from tests.unit.test_consents import EMAIL, NEWS, key, signed_up, unsubscribe_token
from tests.unit.test_signup import NOW

pytestmark = pytest.mark.usefixtures("world")

ARN = "arn:aws:dynamodb:eu-central-1:123456789012:table/notifications/stream/2026-11-25T12:00:00.000"


def inserted(record: Notification, sequence: int) -> dict[str, Any]:
    """The stream record DynamoDB writes when ``record`` is put (NEW_IMAGE)."""
    return {
        "eventID": f"ev{sequence}",
        "eventName": "INSERT",
        "dynamodb": {
            "Keys": {"account_id": {"S": record.account_id}, "notification_key": {"S": record.notification_key}},
            "NewImage": record.serialize(),
            "SequenceNumber": str(sequence),
            "StreamViewType": "NEW_IMAGE",
        },
    }


def invoke(records: list[dict[str, Any]]) -> streams.Outcome:
    """One batch to the notifier's handler; its answer as Lambda reads it."""
    result = _handler(NOTIFIER)(streams.stream_event(records, ARN), _context(NOTIFIER))
    return streams.judge(result, records, report_batch_item_failures=True)


def recorded(account_id: str = "acc_1", **facts: Any) -> Notification:
    return notify(account_id, "payment_required", "maria@example.com", NOW, subdomain="yasen", **facts)


def stored(record: Notification) -> Notification | None:
    try:
        return Notification.get(record.account_id, record.notification_key, consistent_read=True)
    except Notification.DoesNotExist:
        return None


def kept(record: Notification) -> Notification:
    found = stored(record)
    assert found is not None
    return found


class FailingSender:
    def send(self, notice: NotificationView, now: datetime) -> str:
        raise ConnectionError("the provider is down")


def test_notify_r_a_bad_record_fails_alone_and_the_others_of_its_batch_are_sent(outbox: Path) -> None:
    first, second = recorded(), recorded("acc_2")
    broken = {**inserted(first, 2), "dynamodb": {**inserted(first, 2)["dynamodb"], "NewImage": {"id": {"N": "x"}}}}

    outcome = invoke([inserted(first, 1), broken, inserted(second, 3)])

    assert (outcome.ok, outcome.failed_from) == (False, 1)  # only the bad record is retried
    assert sorted(item["id"] for item in outbox_items(outbox)) == sorted([first.id, second.id])


def test_notify_r_a_redelivered_record_is_sent_once(outbox: Path) -> None:
    record = recorded()

    assert invoke([inserted(record, 1)]).ok
    assert invoke([inserted(record, 1)]).ok  # at-least-once: the stream delivers it again

    assert [item["id"] for item in outbox_items(outbox)] == [record.id]
    sent = kept(record)
    assert (sent.sent_at, sent.attempts, sent.unsent_shard, sent.sending_until) == (NOW, 1, None, None)


def test_notify_r_a_notice_another_sender_has_claimed_is_skipped(outbox: Path) -> None:
    record = recorded()
    # Another invocation claimed it and is sending it now.
    record.update(actions=[Notification.sending_until.set(NOW + timedelta(minutes=1))])

    assert invoke([inserted(record, 1)]).ok

    assert outbox_items(outbox) == []
    left = kept(record)
    assert (left.sent_at, left.unsent_shard is not None) == (None, True)


def test_notify_r_a_failed_send_is_kept_for_the_retry_sweep_which_sends_it_once(
    outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = recorded()
    monkeypatch.setattr(notifications, "sender_for", lambda settings: FailingSender())

    assert invoke([inserted(record, 1)]).ok  # not a batch item failure: the sweep retries it

    left = kept(record)
    assert (left.sent_at, left.attempts, left.last_error, left.sending_until) == (None, 1, "ConnectionError", None)
    assert left.unsent_shard is not None
    monkeypatch.setattr(notifications, "sender_for", lambda settings: OutboxSender(outbox))
    clock.set_now(NOW + notifications.RETRY_AFTER)
    assert run_schedule(notifications.RETRY_SWEEP)["changed"] == 1
    assert run_schedule(notifications.RETRY_SWEEP)["changed"] == 0
    assert invoke([inserted(record, 1)]).ok  # a late re-delivery sends nothing either
    assert [item["id"] for item in outbox_items(outbox)] == [record.id]


def test_notify_r_the_lease_outlasts_the_notifiers_timeout_and_ends_before_the_retry_sweep_looks() -> None:
    from local_runtime.template import function_setting, load

    timeout = timedelta(seconds=int(function_setting(load(), NOTIFIER, "Timeout")))
    assert timeout < notifications.SEND_LEASE < notifications.RETRY_AFTER


def test_r_gdpr_6_r_gdpr_8_marketing_withdrawn_before_the_send_is_withheld(outbox: Path) -> None:
    signed_up(consents=["marketing"])
    record = notifications.notify_marketing(EMAIL, "product_news", NOW, **NEWS)
    assert record is not None
    consents.unsubscribe(unsubscribe_token(), NOW, get_settings())

    assert invoke([inserted(record, 1)]).ok

    assert [item for item in outbox_items(outbox) if item["type"] == "product_news"] == []
    left = kept(record)
    assert (left.sent_at, left.unsent_shard, left.withheld) == (None, None, "withdrawn")
    assert left.account_id.endswith(key())
    clock.set_now(NOW + notifications.RETRY_AFTER)
    assert run_schedule(notifications.RETRY_SWEEP)["changed"] == 0  # never sent later either


def test_notify_r_a_notice_the_notifier_fails_on_past_its_retries_fails_the_test_and_is_sent_when_redelivered(
    outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never silently dropped: a record failing past the mapping's retries is no dead letter the
    tests would miss; read again from its checkpoint, it is sent."""
    record = recorded()
    working = notifications.deliver_stream_record

    def broken(*_: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(notifications, "deliver_stream_record", broken)
    with pytest.raises(AssertionError, match="NotifierFunction gave up on 1 stream record"):
        deliver_notices()
    assert kept(record).sent_at is None
    monkeypatch.setattr(notifications, "deliver_stream_record", working)

    assert [item["id"] for item in outbox_items(outbox)] == [record.id]


def test_r_gdpr_5_an_ephemeral_notice_is_deleted_once_sent(outbox: Path) -> None:
    record = notifications.compose_ephemeral(
        "del_1", "acc_1", "payment_required", "maria@example.com", NOW, subdomain="yasen"
    )
    record.save()

    deliver_notices()

    (line,) = outbox_items(outbox)
    assert (line["id"], line["account_id"]) == (record.id, "acc_1")  # the account it tells of
    assert stored(record) is None
    assert record.account_id == "erased#del_1"


def test_r_gdpr_5_an_ephemeral_notice_whose_send_failed_is_sent_and_deleted_by_the_retry_sweep(
    outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = notifications.compose_ephemeral(
        "del_1", "acc_1", "payment_required", "maria@example.com", NOW, subdomain="yasen"
    )
    record.save()
    monkeypatch.setattr(notifications, "sender_for", lambda settings: FailingSender())
    deliver_notices()
    assert stored(record) is not None

    monkeypatch.setattr(notifications, "sender_for", lambda settings: OutboxSender(outbox))
    clock.set_now(NOW + notifications.RETRY_AFTER)
    assert run_schedule(notifications.RETRY_SWEEP)["changed"] == 1

    assert [item["id"] for item in outbox_items(outbox)] == [record.id]
    assert stored(record) is None


def _price_notice(account_id: str, change_id: str) -> Notification:
    record = notifications.compose(account_id, "payment_required", "maria@example.com", NOW, subdomain="yasen")
    record.price_change_id = change_id
    record.save()
    return record


def test_r_pay_9_a_sent_price_change_notice_stamps_its_account_in_the_same_write(outbox: Path) -> None:
    Account(
        "acc_1",
        status="active",
        plan="ticket",
        billing_period="monthly",
        created_at=NOW,
        price_notices_unsent={"pc_1", "pc_2"},
    ).save()
    record = _price_notice("acc_1", "pc_1")
    clock.set_now(NOW + timedelta(seconds=5))

    deliver_notices()

    account = Account.get("acc_1", consistent_read=True)
    assert account.price_notices_unsent == {"pc_2"}
    assert account.price_notices_sent == {"pc_1@2026-11-25T12:00:05Z"}
    sent = kept(record)
    assert (sent.sent_at, sent.unsent_shard) == (NOW + timedelta(seconds=5), None)


def test_r_pay_9_a_price_change_notice_of_an_account_purged_meanwhile_is_marked_sent_alone(outbox: Path) -> None:
    record = _price_notice("acc_gone", "pc_1")

    deliver_notices()

    sent = kept(record)
    assert (sent.sent_at, sent.unsent_shard) == (NOW, None)
    with pytest.raises(Account.DoesNotExist):
        Account.get("acc_gone", consistent_read=True)  # no account is made by the stamp
    assert [item["id"] for item in outbox_items(outbox)] == [record.id]


def test_notify_r_changes_other_than_an_insert_are_not_notices(outbox: Path) -> None:
    record = recorded()
    modified = {**inserted(record, 1), "eventName": "MODIFY"}
    removed = {**inserted(record, 2), "eventName": "REMOVE"}

    assert invoke([modified, removed]).ok

    assert kept(record).sent_at is None


def test_notify_r_the_templates_filter_passes_only_inserts() -> None:
    consumer = stream_consumer(NOTIFIER)
    record = {"eventName": "INSERT", "dynamodb": {}}
    assert streams.passes(consumer, record)
    assert not streams.passes(consumer, {**record, "eventName": "MODIFY"})
    assert not streams.passes(consumer, {**record, "eventName": "REMOVE"})


def test_r_term_3_an_ephemeral_notice_unsent_past_the_retry_window_is_deleted_unsent(
    outbox: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = notifications.compose_ephemeral(
        "del_1", "acc_1", "payment_required", "maria@example.com", NOW, subdomain="yasen"
    )
    record.save()
    monkeypatch.setattr(notifications, "sender_for", lambda settings: FailingSender())
    deliver_notices()

    clock.set_now(NOW + timedelta(hours=get_settings().purge_notice_retry_hours))
    assert run_schedule(notifications.RETRY_SWEEP)["changed"] == 0

    assert stored(record) is None  # the erased address is not kept waiting on the provider
    assert outbox_items(outbox) == []
