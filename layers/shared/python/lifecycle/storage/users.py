"""The Users table: the people of an account (owner, admins, agents)."""

from __future__ import annotations

from collections.abc import Iterator

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection

from lifecycle.storage.base import LeanModel


class UserEmailIndex(GlobalSecondaryIndex["User"]):  # type: ignore[no-untyped-call]  # pynamodb
    """Users by their (normalised) email, across accounts: a data subject's memberships
    (R-GDPR-3..5) without a Scan."""

    class Meta:
        index_name = "by-email"
        projection = KeysOnlyProjection()

    email = UnicodeAttribute(hash_key=True)


class User(LeanModel):
    class Meta:
        table_name = "users"

    account_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(range_key=True)
    role = UnicodeAttribute()
    full_name = UnicodeAttribute()
    email = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    # Written at most once a minute per user, so activity stays one cheap update.
    last_active_at = UTCDateTimeAttribute(null=True)
    # The key of the user's open extra-seat interval (R-VOUCH-6), so removal can close it.
    seat_interval_key = UnicodeAttribute(null=True)

    by_email = UserEmailIndex()


def of_account(account_id: str) -> Iterator[User]:
    """The account's users (one consistent Query, paged)."""
    return User.query(account_id, consistent_read=True)


def keys_by_email(email: str) -> Iterator[User]:
    """Keys of the users with ``email`` (normalised), across accounts (the ``by-email`` index:
    eventually consistent, keys only; read each user again)."""
    return User.by_email.query(email)
