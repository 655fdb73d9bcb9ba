"""The Notifications table: every notice sent to an account, kept as evidence (RULES.md "Notify").

A notice is saved before it is sent (the notifier sends it from the table's stream). While it
is unsent it carries ``unsent_shard``, so the sparse ``unsent`` index holds exactly the notices
a retry sweep still has to send. An ephemeral notice tells of an erasure: it is deleted once
sent, so no record keeps what was erased.
"""

from __future__ import annotations

from collections.abc import Iterator

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection

from lifecycle.storage.base import LeanModel


class UnsentIndex(GlobalSecondaryIndex["Notification"]):  # type: ignore[no-untyped-call]  # pynamodb
    """Sparse: only notices not yet accepted by the email provider carry ``unsent_shard``."""

    class Meta:
        index_name = "unsent"
        projection = KeysOnlyProjection()

    unsent_shard = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class Notification(LeanModel):
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
    # A sender's claim: until then one sender has it in hand, and no other sends it.
    sending_until = UTCDateTimeAttribute(null=True)
    # Deleted once sent instead of kept (it would keep personal data being erased).
    ephemeral = BooleanAttribute(null=True)
    # An ephemeral notice's account (or person's notices key) it tells of, kept under another key.
    tells_of = UnicodeAttribute(null=True)
    # R-GDPR-6, R-GDPR-8: the consent reason code a marketing notice was not sent for.
    withheld = UnicodeAttribute(null=True)
    # R-PAY-9: the price change a notice tells of; its sent mark stamps the account.
    price_change_id = UnicodeAttribute(null=True)

    unsent = UnsentIndex()


def newest(account_id: str, limit: int) -> Iterator[Notification]:
    """The account's notices, newest first, at most ``limit`` (one Query)."""
    return Notification.query(account_id, scan_index_forward=False, limit=limit, page_size=limit)


def of_account(account_id: str, page_size: int | None = None) -> Iterator[Notification]:
    """The notices under ``account_id`` (an account's, or a person's under their notices key),
    oldest first (one consistent Query, paged)."""
    return Notification.query(account_id, consistent_read=True, page_size=page_size)
