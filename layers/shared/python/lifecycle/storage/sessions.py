"""The Sessions table: logins and uses of the help desk (API.md "Activity").

Kept for shared-login detection (R-USE-1) and as the activity that resets inactivity
(R-TERM-6); network data, so each item expires by TTL after the retention setting.
"""

from __future__ import annotations

from collections.abc import Iterator

from pynamodb.attributes import TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute

from lifecycle.storage.base import LeanModel


class Session(LeanModel):
    class Meta:
        table_name = "sessions"

    account_id = UnicodeAttribute(hash_key=True)
    # "<user_id>#<ISO instant>#<uuid>": one user's sessions sort together, by time.
    session_key = UnicodeAttribute(range_key=True)
    user_id = UnicodeAttribute()
    device_id = UnicodeAttribute()
    ip = UnicodeAttribute()
    user_agent = UnicodeAttribute()
    at = UTCDateTimeAttribute()
    expires_at = TTLAttribute()


def between(account_id: str, low: str, high: str) -> Iterator[Session]:
    """The account's sessions keyed from ``low`` to ``high`` (one consistent Query)."""
    return Session.query(account_id, Session.session_key.between(low, high), consistent_read=True)


def of_user(account_id: str, user_id: str, page_size: int) -> Iterator[Session]:
    """The account's sessions of one user (one consistent Query, paged, filtered by user)."""
    return Session.query(
        account_id, consistent_read=True, page_size=page_size, filter_condition=Session.user_id == user_id
    )
