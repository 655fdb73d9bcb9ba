"""The Accounts table: one item per customer account."""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model


class TrialDueIndex(GlobalSecondaryIndex["Account"]):  # type: ignore[no-untyped-call]  # pynamodb
    """Sparse: only trialing accounts without a payment method carry ``trial_sweep``.

    The trial sweep (R-PAY-3) queries each shard for ``trial_ends_at <= now``.
    """

    class Meta:
        index_name = "trial-due"
        projection = KeysOnlyProjection()

    trial_sweep = UnicodeAttribute(hash_key=True)
    trial_ends_at = UTCDateTimeAttribute(range_key=True)


class Account(Model):
    class Meta:
        table_name = "accounts"

    id = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute()
    plan = UnicodeAttribute()
    billing_period = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    # None while access is full; otherwise the reason shown as ``access`` (API.md).
    access_blocked_reason = UnicodeAttribute(null=True)
    trial_ends_at = UTCDateTimeAttribute(null=True)
    trial_sweep = UnicodeAttribute(null=True)
    has_payment_method = BooleanAttribute(default=False)

    trial_due = TrialDueIndex()
