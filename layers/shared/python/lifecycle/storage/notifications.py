"""The Notifications table: every notice sent to an account, kept as evidence (RULES.md "Notify").

A notice is saved before it is sent. While it is unsent it carries ``unsent_shard``, so
the sparse ``unsent`` index holds exactly the notices a retry sweep still has to send.
"""

from __future__ import annotations

from collections.abc import Iterator

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model


class UnsentIndex(GlobalSecondaryIndex["Notification"]):  # type: ignore[no-untyped-call]  # pynamodb
    """Sparse: only notices not yet accepted by the email provider carry ``unsent_shard``."""

    class Meta:
        index_name = "unsent"
        projection = KeysOnlyProjection()

    unsent_shard = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class Notification(Model):
    class Meta:
        table_name = "notifications"

    account_id = UnicodeAttribute(hash_key=True)
    # "<ISO instant>#<id>": an account's notices sort by time, unique under concurrency.
    notification_key = UnicodeAttribute(range_key=True)
    id = UnicodeAttribute()
    type = UnicodeAttribute()
    to = UnicodeAttribute()
    subject = UnicodeAttribute()
    body = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    sent_at = UTCDateTimeAttribute(null=True)
    provider_message_id = UnicodeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    # The failing exception's class name only: provider messages may quote the address.
    last_error = UnicodeAttribute(null=True)
    unsent_shard = UnicodeAttribute(null=True)
    # A ``price_change_notice``'s change (R-PAY-9): its sent mark is also the owner's.
    price_change_id = UnicodeAttribute(null=True)

    unsent = UnsentIndex()


def newest(account_id: str, limit: int) -> Iterator[Notification]:
    """The account's notices, newest first, at most ``limit`` (one Query)."""
    return Notification.query(account_id, scan_index_forward=False, limit=limit, page_size=limit)


def of_account(account_id: str, page_size: int | None = None) -> Iterator[Notification]:
    """The notices under ``account_id`` (an account's, or a person's under their notices key),
    oldest first (one consistent Query, paged)."""
    return Notification.query(account_id, consistent_read=True, page_size=page_size)
