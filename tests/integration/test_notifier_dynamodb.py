"""The notifier on DynamoDB Local's own stream: a notice committed by a real request is sent by
the template's ``NotifierFunction`` through the local runtime's stream poller (Lambda's event
source mapping, ``local_runtime.streams``), once, however often the stream delivers it; a failing
mail service leaves it for the retry sweep (RULES.md "Notify": never silently dropped)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from lifecycle import notifications
from lifecycle.core import clock
from lifecycle.core.settings import Settings, get_settings
from lifecycle.storage import Notification
from local_runtime import streams
from local_runtime.dynamodb_local import LOCAL_AWS_ENV
from tests.conftest import point_service_at
from tests.integration.conftest import NOW
from tests.support import NOTIFIER, _context, _handler, call, run_schedule, stream_consumer
from tests.unit.test_notifications import FailingSender
from tests.unit.test_signup import TRIAL

pytestmark = [pytest.mark.integration]


@pytest.fixture
def outbox(local_tables: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "outbox.jsonl"
    point_service_at({"LOCAL_OUTBOX_PATH": str(path)}, monkeypatch)
    clock.set_now(NOW)
    yield path
    clock.set_now(None)
    monkeypatch.delenv("LOCAL_OUTBOX_PATH")
    get_settings.cache_clear()


def poller(tmp_path: Path, name: str = "a") -> streams.StreamPoller:
    """A poller of the Notifications stream invoking the notifier, as ``make run`` starts it."""
    settings = get_settings()
    credentials = {
        "aws_access_key_id": LOCAL_AWS_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": LOCAL_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    }
    dynamodb = boto3.client(
        "dynamodb", endpoint_url=settings.dynamodb_endpoint, region_name=settings.region, **credentials
    )
    arn = dynamodb.describe_table(TableName=Notification.Meta.table_name)["Table"]["LatestStreamArn"]

    def invoke(function: str, event: dict[str, Any]) -> Any:
        assert function == NOTIFIER
        return _handler(NOTIFIER)(event, _context(NOTIFIER))

    client = streams.streams_client(str(settings.dynamodb_endpoint))
    return streams.StreamPoller(
        stream_consumer(NOTIFIER), client, arn, invoke, streams.DeadLetters(tmp_path / f"dl-{name}.jsonl")
    )


def sent(outbox: Path) -> list[dict[str, Any]]:
    """The outbox file as the sender wrote it (no helper delivering on the side)."""
    return [json.loads(line) for line in outbox.read_text(encoding="utf-8").splitlines()] if outbox.exists() else []


def drain(*pollers: streams.StreamPoller) -> None:
    """Poll until each poller has read the stream to its end (a pass reading nothing)."""
    for each in pollers:
        for _ in range(20):
            if not each.poll_once():
                break


def welcome_records(account_id: str) -> list[Notification]:
    return [n for n in Notification.query(account_id, consistent_read=True) if n.type == "welcome"]


def test_notify_r_a_notice_committed_by_a_request_is_sent_by_the_stream_poller(outbox: Path, tmp_path: Path) -> None:
    account = call("POST", "/signups", body=TRIAL).body
    assert sent(outbox) == []  # the request only committed it

    drain(poller(tmp_path))

    (line,) = [item for item in sent(outbox) if item["type"] == "welcome"]
    assert (line["to"], line["account_id"]) == (TRIAL["email"], account["id"])
    (record,) = welcome_records(account["id"])
    assert (record.sent_at, record.unsent_shard, record.sending_until) == (NOW, None, None)


def test_notify_r_a_record_delivered_twice_is_sent_once(outbox: Path, tmp_path: Path) -> None:
    account = call("POST", "/signups", body=TRIAL).body

    drain(poller(tmp_path, "a"), poller(tmp_path, "b"))  # two mappings: each delivers the record

    assert [item["type"] for item in sent(outbox)] == ["welcome"]
    (record,) = welcome_records(account["id"])
    assert record.attempts == 1


def test_notify_r_a_failing_mail_service_leaves_the_notice_for_the_retry_sweep(
    outbox: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = call("POST", "/signups", body=TRIAL).body
    monkeypatch.setattr(notifications, "sender_for", lambda settings: FailingSender())
    first = poller(tmp_path, "a")

    drain(first)

    assert sent(outbox) == []
    (record,) = welcome_records(account["id"])
    assert (record.sent_at, record.attempts, record.last_error) == (None, 1, "ConnectionError")
    assert record.unsent_shard is not None  # in the retry sweep's index
    assert streams.read_dead_letters(tmp_path / "dl-a.jsonl") == []  # a failed send is no failed record
    drain(first)  # the record was checkpointed: not delivered again
    assert welcome_records(account["id"])[0].attempts == 1

    monkeypatch.setattr(notifications, "sender_for", lambda settings: notifications.OutboxSender(outbox))
    clock.set_now(NOW + notifications.RETRY_AFTER)
    assert run_schedule(notifications.RETRY_SWEEP)["changed"] == 1
    drain(poller(tmp_path, "b"))  # a late re-delivery sends nothing again
    assert [item["type"] for item in sent(outbox)] == ["welcome"]
