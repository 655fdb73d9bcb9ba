"""Notify (RULES.md conventions): keep a record of the notice, then send it by email.

The record is saved first and unsent (it carries ``unsent_shard``, so the sparse
``unsent`` index finds it), then sent by the configured sender: SES in AWS, a JSONL
outbox file when run locally (``LOCAL_OUTBOX_PATH``, read by ``GET /_local/outbox``).
One conditional update marks it sent. A failed send leaves it unsent with the attempt
counted, for a retry: notices are evidence and are never silently dropped, and a
failing email provider never fails the caller's request.

Logs carry ids, notice types and error class names only, never addresses or texts.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field
from pynamodb.exceptions import UpdateError

from lifecycle import audit, clock, notices
from lifecycle.auth import Principal, require_member
from lifecycle.notices import NoticeType
from lifecycle.observability import logger
from lifecycle.settings import Settings, get_settings
from lifecycle.storage import Notification
from lifecycle.storage.base import shard_of

LIST_LIMIT = 200


class NotificationView(BaseModel):
    """API.md "Notification", for ``GET /accounts/{id}/notifications`` and the local outbox."""

    id: str
    # A str, not NoticeType: a notice kept from before a type was retired must still list.
    type: str = Field(description=f"one of: {', '.join(notices.NOTICE_TYPES)}")
    to: str
    account_id: str
    subject: str
    body: str
    created_at: str
    sent_at: str | None

    @classmethod
    def of(cls, item: Notification) -> NotificationView:
        return cls(
            id=item.id,
            type=item.type,
            to=item.to,
            account_id=item.account_id,
            subject=item.subject,
            body=item.body,
            created_at=clock.to_iso(item.created_at),
            sent_at=clock.to_iso(item.sent_at) if item.sent_at is not None else None,
        )


class NotificationList(BaseModel):
    items: list[NotificationView]


# ---------------------------------------------------------------- senders


class Sender(Protocol):
    def send(self, notice: NotificationView, now: datetime) -> str:
        """Hand one email to the provider; returns the provider's message id."""
        ...


_outbox_lock = threading.Lock()


class OutboxSender:
    """Locally, each email is one JSON line (API.md "Notification") appended to a file.

    The local runtime serves requests on threads, so appends are serialised by a lock
    and each line is written whole.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def send(self, notice: NotificationView, now: datetime) -> str:
        line = notice.model_copy(update={"sent_at": clock.to_iso(now)}).model_dump_json() + "\n"
        with _outbox_lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as outbox:
                outbox.write(line)
        return f"outbox-{notice.id}"


class SesSender:
    """In AWS: Amazon SES (API v2), plain text in UTF-8, from the template's ``EmailFrom``."""

    def __init__(self, from_address: str, region: str | None = None) -> None:
        self.from_address = from_address
        self.region = region
        self._client: Any = None
        self._lock = threading.Lock()

    def _ses(self) -> Any:
        # Made on first use, not on import: most invocations send nothing (cold start).
        with self._lock:
            if self._client is None:
                import boto3

                self._client = boto3.client("sesv2", region_name=self.region)
            return self._client

    def send(self, notice: NotificationView, now: datetime) -> str:
        reply = self._ses().send_email(
            FromEmailAddress=self.from_address,
            Destination={"ToAddresses": [notice.to]},
            Content={
                "Simple": {
                    "Subject": {"Data": notice.subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": notice.body, "Charset": "UTF-8"}},
                }
            },
        )
        return str(reply["MessageId"])


@lru_cache(maxsize=4)
def _ses_sender(from_address: str) -> SesSender:
    # One client per warm Lambda; boto3 takes the function's own region (AWS_REGION).
    return SesSender(from_address)


def sender_for(settings: Settings) -> Sender:
    """The local outbox when ``LOCAL_OUTBOX_PATH`` is set, else SES."""
    if settings.local_outbox_path:
        return OutboxSender(settings.local_outbox_path)
    return _ses_sender(settings.email_from)


# ---------------------------------------------------------------- notify


def notify(account_id: str, type: NoticeType, to: str, now: datetime, **facts: object) -> Notification:
    """Notify (RULES.md): render, save the record unsent, send, mark it sent.

    Raises only when the record cannot be rendered (``KeyError``) or saved; a failed
    send is recorded on the notice and logged, never raised.
    """
    record = compose(account_id, type, to, now, **facts)
    record.save(condition=Notification.notification_key.does_not_exist())
    deliver(record, now, sender_for(get_settings()))
    return record


def compose(account_id: str, type: NoticeType, to: str, now: datetime, **facts: object) -> Notification:
    """The unsaved, unsent record of a notice: a caller may save it inside its own
    transaction (the notice commits with what it tells of), then ``deliver`` it."""
    settings = get_settings()
    subject, body = notices.render(type, **facts)
    notice_id = f"ntf_{uuid.uuid4().hex[:20]}"
    return Notification(
        account_id,
        f"{now.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}#{notice_id}",
        id=notice_id,
        type=type,
        to=to,
        subject=subject,
        body=body,
        created_at=now,
        attempts=0,
        unsent_shard=shard_of(notice_id, settings.sweep_shards),
    )


def deliver(record: Notification, now: datetime, sender: Sender) -> bool:
    """Send a saved, unsent notice once; True if the provider accepted it (a retry sweep reuses this)."""
    try:
        message_id = sender.send(NotificationView.of(record), now)
    except Exception as exc:  # any provider failure: the notice stays unsent for a retry
        _record_failure(record, exc)
        return False
    _mark_sent(record, message_id, now)
    return True


def _log_extra(record: Notification, **more: object) -> dict[str, object]:
    return {"notification_id": record.id, "account_id": record.account_id, "notice_type": record.type, **more}


def _mark_sent(record: Notification, message_id: str, now: datetime) -> None:
    try:
        record.update(
            actions=[
                Notification.sent_at.set(now),
                Notification.provider_message_id.set(message_id),
                Notification.attempts.add(1),
                Notification.last_error.remove(),
                Notification.unsent_shard.remove(),
            ],
            condition=Notification.sent_at.does_not_exist(),
        )
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            logger.info("notice was already marked sent", extra=_log_extra(record))
            return
        # The email went out; a retry may send it again, which beats losing the evidence of it.
        logger.exception("notice sent but not marked sent", extra=_log_extra(record))


def _record_failure(record: Notification, error: Exception) -> None:
    error_name = type(error).__name__
    logger.warning("notice not sent; kept for a retry", extra=_log_extra(record, error=error_name))
    try:
        record.update(
            actions=[Notification.attempts.add(1), Notification.last_error.set(error_name)],
            condition=Notification.sent_at.does_not_exist(),
        )
    except UpdateError:
        # The record is still there and unsent, so the retry finds it; only the count is lost.
        logger.exception("failed send not recorded", extra=_log_extra(record))


# ---------------------------------------------------------------- reading


def list_for(account_id: str) -> list[NotificationView]:
    """The account's notices, newest first, at most ``LIST_LIMIT``."""
    found = Notification.query(account_id, scan_index_forward=False, limit=LIST_LIMIT, page_size=LIST_LIMIT)
    return [NotificationView.of(item) for item in found]


def read_for(principal: Principal, account_id: str, now: datetime) -> NotificationList:
    """``GET /accounts/{id}/notifications``: the owner's; support staff's reads are audited (R-USE-4)."""
    require_member(principal, account_id, roles=("owner",))
    audit.record_staff_access(principal, account_id, "notifications", now)
    return NotificationList(items=list_for(account_id))
