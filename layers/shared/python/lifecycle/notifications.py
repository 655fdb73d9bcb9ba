"""Notify (RULES.md conventions): a request or sweep saves the notice's record (in the transaction of
what it tells of); the notifier, fed by the Notifications table's stream, claims it and sends it by email
(SES, or the local outbox file); a failed send stays unsent for ``retry_unsent``, never dropped.
Marketing goes only through ``notify_marketing``, to a person who consented and has not withdrawn,
objected or been restricted, checked when recorded and again when sent (R-GDPR-6, R-GDPR-8, R-GDPR-9).
docs/ARCHITECTURE.md "Notices and the audit log".
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field
from pynamodb.exceptions import DeleteError, DoesNotExist, UpdateError
from pynamodb.transactions import TransactWrite

from lifecycle.accounts import audit
from lifecycle.core import clock, notices
from lifecycle.core.auth import Principal, require_member
from lifecycle.core.notices import NoticeType
from lifecycle.core.observability import MetricUnit, logger, metrics
from lifecycle.core.settings import Settings, get_settings
from lifecycle.entry.sweeps import QueryDue, SweepRequest, SweepSummary, due_in, run_sweep
from lifecycle.privacy import consents, privacy
from lifecycle.storage import Account, Notification, transactions
from lifecycle.storage import notifications as stored_notifications
from lifecycle.storage.base import delete_if, shard_of, update_if

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
            account_id=item.tells_of or item.account_id,
            subject=item.subject,
            body=item.body,
            created_at=clock.to_iso(item.created_at),
            sent_at=clock.to_iso(item.sent_at) if item.sent_at is not None else None,
        )


class MarketingView(NotificationView):
    """A marketing notice as sent: with RFC 8058's one-click unsubscribe headers (R-GDPR-9).
    The local outbox line carries them as ``headers``; API.md's fields are unchanged."""

    headers: dict[str, str] = Field(description="List-Unsubscribe and List-Unsubscribe-Post (RFC 8058)")


def unsubscribe_headers(url: str) -> dict[str, str]:
    """RFC 8058: the mail client's one-click unsubscribe POSTs to ``url``."""
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def view_of(record: Notification) -> NotificationView:
    """The notice as a sender gets it: a marketing notice to a person with its unsubscribe
    headers (derived from the record, so a retried send carries them too)."""
    view = NotificationView.of(record)
    if record.type not in notices.MARKETING_TYPES or not record.account_id.startswith(privacy.PERSON_NOTICES):
        return view
    person_key = record.account_id.removeprefix(privacy.PERSON_NOTICES)
    url = consents.unsubscribe_link(person_key, get_settings())
    return MarketingView(**view.model_dump(), headers=unsubscribe_headers(url))


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
        simple: dict[str, Any] = {
            "Subject": {"Data": notice.subject, "Charset": "UTF-8"},
            "Body": {"Text": {"Data": notice.body, "Charset": "UTF-8"}},
        }
        if isinstance(notice, MarketingView):
            # R-GDPR-9, RFC 8058: SES v2 sends custom headers of a simple message as given.
            simple["Headers"] = [{"Name": name, "Value": value} for name, value in notice.headers.items()]
        reply = self._ses().send_email(
            FromEmailAddress=ses_address(self.from_address),
            Destination={"ToAddresses": [ses_address(notice.to)]},
            Content={"Simple": simple},
        )
        return str(reply["MessageId"])


def ses_address(address: str) -> str:
    """The address as SES takes it: SES has no SMTPUTF8, so an internationalised domain goes as
    its ASCII form (IDNA 2008 A-labels, Punycode); the local part is ASCII already (R-REG-3)."""
    if address.isascii():
        return address
    import idna  # only for the rare internationalised domain

    local, _, domain = address.rpartition("@")
    return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"


@lru_cache(maxsize=4)
def _ses_sender(from_address: str) -> SesSender:
    # One client per warm Lambda; boto3 takes the function's own region (AWS_REGION).
    return SesSender(from_address)


def sender_for(settings: Settings) -> Sender:
    """The local outbox when ``LOCAL_OUTBOX_PATH`` is set, else SES."""
    if settings.local_outbox_path:
        return OutboxSender(settings.local_outbox_path)
    return _ses_sender(settings.email_from)


# ---------------------------------------------------------------- recording


def notify(account_id: str, type: NoticeType, to: str, now: datetime, **facts: object) -> Notification:
    """Notify (RULES.md): render the notice and save its record unsent; the notifier sends it
    from the table's stream (``deliver``). Raises only when the record cannot be rendered
    (``KeyError``) or saved."""
    record = compose(account_id, type, to, now, **facts)
    record.save(condition=Notification.notification_key.does_not_exist())
    return record


def compose(account_id: str, type: NoticeType, to: str, now: datetime, **facts: object) -> Notification:
    """The unsaved, unsent record of a notice: a caller saves it inside its own transaction (the
    notice commits with what it tells of, and the notifier sends it once committed).
    A caller sets a price-change notice's ``price_change_id``: its sent mark stamps the account.
    ``ValueError`` for a marketing type: that is ``notify_marketing``'s, which checks consent."""
    return compose_as(f"ntf_{uuid.uuid4().hex[:20]}", account_id, type, to, now, **facts)


def compose_as(
    notice_id: str, account_id: str, type: NoticeType, to: str, now: datetime, **facts: object
) -> Notification:
    """``compose`` with an id the caller derived, for a claim to name it (one notice per fact)."""
    if type in notices.MARKETING_TYPES:
        raise ValueError(f"{type} is marketing: send it with notify_marketing (R-GDPR-6, R-GDPR-8, R-GDPR-9)")
    return _composed(notice_id, account_id, type, to, now, **facts)


# Ephemeral notices are kept under this prefix, outside any account's or person's notices.
ERASED_NOTICES = "erased#"


def compose_ephemeral(
    key: str, tells_of: str, type: NoticeType, to: str, now: datetime, **facts: object
) -> Notification:
    """The unsaved record of a notice telling of an erasure, kept under ``erased#<key>`` (a
    certificate's or request's id), not under ``tells_of`` (the account or person's notices being
    erased, which the sent notice names): the notifier deletes it once sent, so no record keeps
    the address being erased."""
    record = compose_as(f"ntf_{uuid.uuid4().hex[:20]}", ERASED_NOTICES + key, type, to, now, **facts)
    record.ephemeral = True
    record.tells_of = tells_of
    return record


def _composed(
    notice_id: str, account_id: str, type: NoticeType, to: str, now: datetime, **facts: object
) -> Notification:
    settings = get_settings()
    subject, body = notices.render(type, **facts)
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


def notify_marketing(email: str, type: NoticeType, now: datetime, **facts: object) -> Notification | None:
    """R-GDPR-6, R-GDPR-8, R-GDPR-9: a marketing notice to a person, recorded only while they
    consent and have not withdrawn, objected or been restricted; None (nothing kept, a reason
    code logged) otherwise. The notifier checks consent again before it sends. The one-click
    unsubscribe link is added as ``unsubscribe_url`` and as RFC 8058 headers (``view_of``)."""
    if type not in notices.MARKETING_TYPES:
        raise ValueError(f"{type} is not marketing: send it with notify")
    if "unsubscribe_url" in facts:
        raise KeyError("unsubscribe_url is the person's own link: notify_marketing adds it")
    settings = get_settings()
    person_key = privacy.person_key(email, settings)
    reason = consents.why_not(person_key, "marketing", settings)
    if reason is not None:
        logger.info("marketing notice not sent", extra={"notice_type": type, "reason": reason})
        return None
    url = consents.unsubscribe_link(person_key, settings)
    to = privacy.normalised(email)
    notice_id = f"ntf_{uuid.uuid4().hex[:20]}"
    record = _composed(notice_id, privacy.PERSON_NOTICES + person_key, type, to, now, unsubscribe_url=url, **facts)
    record.save(condition=Notification.notification_key.does_not_exist())
    return record


# ---------------------------------------------------------------- sending

# A sender's claim on a notice lasts this long: longer than the notifier's Timeout (60 s in
# template.yaml), so a claim outlives the invocation holding it, and shorter than RETRY_AFTER, so
# the retry sweep finds a notice whose sender died with its claim expired.
SEND_LEASE = timedelta(minutes=2)


class Sent(StrEnum):
    """What ``deliver`` did with a notice."""

    SENT = "sent"  # the provider accepted it
    SKIPPED = "skipped"  # sent, being sent, withheld or gone: another sender's or nobody's to send
    FAILED = "failed"  # the send failed: kept unsent for the retry sweep
    WITHHELD = "withheld"  # marketing its person no longer consents to: never sent


def deliver(record: Notification, now: datetime, sender: Sender) -> Sent:
    """Send a saved notice at most once among concurrent senders: claim it (one conditional
    write), check a marketing notice's consent again, send, then mark it sent (an ephemeral
    one is deleted). A failed send is recorded and left for the retry sweep. DynamoDB errors
    propagate (the caller retries)."""
    if not _claim(record, now):
        logger.info("notice sent or being sent elsewhere; skipped", extra=_log_extra(record))
        return Sent.SKIPPED
    if record.type in notices.MARKETING_TYPES:
        reason = _marketing_refused(record)
        if reason is not None:
            _withhold(record, reason)
            return Sent.WITHHELD
    try:
        message_id = sender.send(view_of(record), now)
    except Exception as exc:  # any provider failure: the notice stays unsent for a retry
        _record_failure(record, exc)
        return Sent.FAILED
    if record.ephemeral:
        _forget(record)
    elif record.price_change_id:
        _mark_sent_stamping_price(record, message_id, now)
    else:
        _mark_sent(record, message_id, now)
    return Sent.SENT


def _claim(record: Notification, now: datetime) -> bool:
    """The one conditional write that makes this sender the notice's only one until the lease ends."""
    return update_if(
        record,
        [Notification.sending_until.set(now + SEND_LEASE)],
        Notification.notification_key.exists()
        & Notification.sent_at.does_not_exist()
        & Notification.unsent_shard.exists()
        & (Notification.sending_until.does_not_exist() | (Notification.sending_until <= now)),
    )


def _marketing_refused(record: Notification) -> str | None:
    """R-GDPR-6, R-GDPR-8: the consent reason code a marketing notice may not be sent for now."""
    if not record.account_id.startswith(privacy.PERSON_NOTICES):
        return "no_person"
    return consents.why_not_person(record.account_id.removeprefix(privacy.PERSON_NOTICES), "marketing")


def _withhold(record: Notification, reason: str) -> None:
    # The reason code and ids only: the record's address is the person's.
    logger.info(
        "marketing notice withheld at send time",
        extra={"notification_id": record.id, "notice_type": record.type, "reason": reason},
    )
    update_if(
        record,
        [
            Notification.withheld.set(reason),
            Notification.unsent_shard.remove(),
            Notification.sending_until.remove(),
        ],
        Notification.sent_at.does_not_exist(),
    )


def _log_extra(record: Notification, **more: object) -> dict[str, object]:
    return {"notification_id": record.id, "account_id": record.account_id, "notice_type": record.type, **more}


def _sent_actions(message_id: str, now: datetime) -> list[Any]:
    return [
        Notification.sent_at.set(now),
        Notification.provider_message_id.set(message_id),
        Notification.attempts.add(1),
        Notification.last_error.remove(),
        Notification.unsent_shard.remove(),
        Notification.sending_until.remove(),
    ]


def _mark_sent(record: Notification, message_id: str, now: datetime) -> None:
    try:
        marked = update_if(record, _sent_actions(message_id, now), Notification.sent_at.does_not_exist())
    except UpdateError:
        # The email went out; a retry may send it again, which beats losing the evidence of it.
        logger.exception("notice sent but not marked sent", extra=_log_extra(record))
        return
    if not marked:
        logger.info("notice was already marked sent", extra=_log_extra(record))


def _mark_sent_stamping_price(record: Notification, message_id: str, now: datetime) -> None:
    """R-PAY-9: a price-change notice's sent mark and the account's stamp of it, in one
    transaction; an account purged meanwhile leaves the notice marked alone."""
    change_id = str(record.price_change_id)
    account = Account(record.account_id)

    def build(tx: TransactWrite, outcome: transactions.Outcome) -> None:
        tx.update(record, actions=_sent_actions(message_id, now), condition=Notification.sent_at.does_not_exist())
        outcome.labels.append("update:notice")
        tx.update(
            account,
            actions=[
                Account.price_notices_unsent.delete({change_id}),
                Account.price_notices_sent.add({f"{change_id}@{clock.to_iso(now)}"}),
            ],
            condition=Account.id.exists(),
        )
        outcome.labels.append("update:account")

    failed = transactions.try_commit(build)
    if failed == ["update:account"]:
        _mark_sent(record, message_id, now)
    elif failed:
        logger.info("notice was already marked sent", extra=_log_extra(record))


def _forget(record: Notification) -> None:
    """An ephemeral notice, once sent, is deleted: nothing keeps the erased address."""
    try:
        delete_if(record, Notification.notification_key.exists())
    except DeleteError:
        # The email went out; the retry sweep may send it again and delete it then.
        logger.exception("ephemeral notice sent but not deleted", extra={"notification_id": record.id})


def _record_failure(record: Notification, error: Exception) -> None:
    error_name = type(error).__name__
    logger.warning("notice not sent; kept for a retry", extra=_log_extra(record, error=error_name))
    try:
        record.update(
            actions=[
                Notification.attempts.add(1),
                Notification.last_error.set(error_name),
                Notification.sending_until.remove(),
            ],
            condition=Notification.sent_at.does_not_exist(),
        )
    except UpdateError:
        # The record is still there and unsent: the retry sweep finds it once the claim expires.
        logger.exception("failed send not recorded", extra=_log_extra(record))


# ---------------------------------------------------------------- the notifier


def deliver_stream_record(image: dict[str, Any], now: datetime, sender: Sender) -> Sent:
    """The notifier's work for one INSERT of the Notifications table's stream: its new image
    (DynamoDB JSON) is the notice to deliver."""
    return deliver(Notification.from_raw_data(image), now, sender)


# ---------------------------------------------------------------- retrying

# A notice is retried once it has been unsent this long: a younger one may still be in the
# notifier's hands (the stream delivers within seconds; a claim lasts SEND_LEASE, less than this).
RETRY_AFTER = timedelta(minutes=5)
RETRY_SWEEP = "notification-retry-sweep"
RETRY_PAGE_SIZE = 100
# A notice still unsent this long after it was saved is reported (UNSENT_METRIC), and the
# template's UnsentNoticesAlarm tells the operators (docs/OPERATIONS.md).
OVERDUE_AFTER = timedelta(hours=1)
UNSENT_METRIC = "UnsentNoticesOverAnHour"


def _unsent(now: datetime) -> QueryDue:
    return due_in(Notification.unsent, Notification.created_at <= now - RETRY_AFTER, RETRY_PAGE_SIZE)


def _still_unsent(due: Notification) -> Notification | None:
    """The stored notice while it waits for a send; None once sent meanwhile or erased."""
    try:
        record = Notification.get(due.account_id, due.notification_key, consistent_read=True)
    except DoesNotExist:
        return None
    if record.sent_at is not None or record.unsent_shard is None:
        return None  # sent meanwhile, withheld, or erased (an erased notice is never sent)
    return record


def _resend(
    now: datetime, sender: Sender, overdue: list[datetime], settings: Settings
) -> Callable[[Notification], bool]:
    """The sweep's action; a notice it leaves unsent (its send failed, or the action raised)
    while older than ``OVERDUE_AFTER`` is added to ``overdue``. An ephemeral notice still unsent
    after ``purge_notice_retry_hours`` is deleted unsent: an erasure does not keep the address
    waiting on an email provider."""
    give_up_before = now - timedelta(hours=settings.purge_notice_retry_hours)

    def act(due: Notification) -> bool:
        is_overdue = due.created_at <= now - OVERDUE_AFTER
        try:
            record = _still_unsent(due)
            if record is not None and record.ephemeral and record.created_at <= give_up_before:
                logger.error("ephemeral notice not sent; deleted unsent", extra={"notification_id": record.id})
                delete_if(record, Notification.sent_at.does_not_exist())
                return False
            outcome = None if record is None else deliver(record, now, sender)
        except Exception:
            if is_overdue:
                overdue.append(due.created_at)
            raise
        if outcome is Sent.FAILED and is_overdue:
            overdue.append(due.created_at)
        return outcome is Sent.SENT

    return act


def retry_unsent(
    request: SweepRequest, now: datetime, remaining_ms: Callable[[], int], settings: Settings
) -> SweepSummary:
    """The retry sweep of notices the notifier could not send (RULES.md "Notify": never silently
    dropped): each unsent notice of the sparse ``unsent`` index, once ``RETRY_AFTER`` old, is
    sent again by ``deliver`` (the same claim as the notifier's, so it is sent once); a send that
    fails again stays unsent, its attempt counted, for the next run. ``changed`` counts the
    notices the provider accepted. Each run that acts publishes ``UNSENT_METRIC``: the notices
    it examined and left unsent past ``OVERDUE_AFTER``."""
    overdue: list[datetime] = []
    summary = run_sweep(
        shards=settings.sweep_shards,
        query_due=_unsent(now),
        act=_resend(now, sender_for(settings), overdue, settings),
        request=request,
        remaining_ms=remaining_ms,
        margin_ms=settings.sweep_time_margin_ms,
    )
    if not request.dry_run:
        metrics.add_metric(name=UNSENT_METRIC, unit=MetricUnit.Count, value=len(overdue))
    return summary


# ---------------------------------------------------------------- reading


def list_for(account_id: str) -> list[NotificationView]:
    """The account's notices, newest first, at most ``LIST_LIMIT``."""
    found = stored_notifications.newest(account_id, LIST_LIMIT)
    return [NotificationView.of(item) for item in found]


def read_for(principal: Principal, account_id: str, now: datetime) -> NotificationList:
    """``GET /accounts/{id}/notifications``: the owner's; support staff's reads are audited (R-USE-4)."""
    require_member(principal, account_id, roles=("owner",))
    audit.record_staff_access(principal, account_id, "notifications", now)
    return NotificationList(items=list_for(account_id))
