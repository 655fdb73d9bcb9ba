"""The Audit table: lifecycle events and staff access per account (R-USE-4), newest last."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from pynamodb.attributes import MapAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model


class AuditEvent(Model):
    class Meta:
        table_name = "audit"

    account_id = UnicodeAttribute(hash_key=True)
    # "<ISO instant>#<uuid>": sorts by time, unique under concurrency.
    event_key = UnicodeAttribute(range_key=True)
    type = UnicodeAttribute()
    actor = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    # Facts without personal data (ids, codes of outcomes), shown to the owner as is.
    details = MapAttribute[str, object](default=dict)  # type: ignore[no-untyped-call]  # pynamodb


def newest(account_id: str, limit: int) -> Iterator[AuditEvent]:
    """The account's events, newest first, at most ``limit`` (one Query)."""
    return AuditEvent.query(account_id, scan_index_forward=False, limit=limit, page_size=limit)


def of_type(account_id: str, type_: str, after: datetime | None = None) -> Iterator[AuditEvent]:
    """The account's events of one type, oldest first; with ``after``, those after that instant (one Query)."""
    if after is None:
        return AuditEvent.query(account_id, consistent_read=True, filter_condition=AuditEvent.type == type_)
    return AuditEvent.query(
        account_id,
        AuditEvent.event_key > after.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        filter_condition=AuditEvent.type == type_,
        consistent_read=True,
    )


def by_actor(account_id: str, actor: str, page_size: int) -> Iterator[AuditEvent]:
    """The account's events done by ``actor``, oldest first (one consistent Query, paged)."""
    return AuditEvent.query(
        account_id, consistent_read=True, page_size=page_size, filter_condition=AuditEvent.actor == actor
    )
