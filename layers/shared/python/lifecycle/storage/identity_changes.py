"""The IdentityChanges table: what the identity provider (the stack's Cognito user pool) still has to
be told, recorded in the transaction of the state change it follows (a user added, an account
suspended, …), applied right after the commit and deleted once done.

While a change waits it carries ``pending_shard`` (the shard of its user, so one user's changes share
a shard and sort by ``due_at``), and the sparse ``pending`` index holds exactly the changes the
``identity-sync`` schedule still has to apply. The id starts with the user id, so a keys-only read of
the index tells whose change it is. No account id in the key: the purge's own deletes outlive the
account's items.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection

from lifecycle.storage.base import LeanModel


class PendingIndex(GlobalSecondaryIndex["IdentityChange"]):  # type: ignore[no-untyped-call]  # pynamodb
    """Sparse: only changes not yet applied carry ``pending_shard``."""

    class Meta:
        index_name = "pending"
        projection = KeysOnlyProjection()

    pending_shard = UnicodeAttribute(hash_key=True)
    due_at = UTCDateTimeAttribute(range_key=True)


class IdentityChange(LeanModel):
    class Meta:
        table_name = "identity-changes"

    # "<user id>#<ISO instant>#<hex>": whose change it is, in the order made.
    id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    # create | disable | enable | delete | email (lifecycle.accounts.identities)
    action = UnicodeAttribute()
    # The address the person signs in with (the one to create, or the one to find them by).
    email = UnicodeAttribute()
    # An email change's new address.
    new_email = UnicodeAttribute(null=True)
    # A create's role (owner, admin, agent).
    role = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    due_at = UTCDateTimeAttribute()
    attempts = NumberAttribute(default=0)
    # The failing exception's class name only: provider messages may quote the address.
    last_error = UnicodeAttribute(null=True)
    pending_shard = UnicodeAttribute(null=True)

    pending = PendingIndex()
