"""Deletion certificates (R-TERM-3, R-GDPR-5: counts per table, what was kept and why, what each
processor deleted, no personal data)
and the retention schedule (R-GDPR-2: when kept personal data is erased, read through the sparse
``retention-due`` index).
"""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection

from lifecycle.storage.base import LeanModel


class DeletionCertificate(LeanModel):
    class Meta:
        table_name = "deletion-certificates"

    id = UnicodeAttribute(hash_key=True)  # "del_<hex>"
    # The deleted account's id: an opaque identifier, not personal data.
    account_id = UnicodeAttribute(null=True)
    reason = UnicodeAttribute()  # "cancelled", "terminated", "inactivity", "erasure_request", "retention"
    started_at = UTCDateTimeAttribute()
    completed_at = UTCDateTimeAttribute(null=True)
    # Point-in-time recovery ages out: after this instant no backup holds the deleted data.
    unrecoverable_after = UTCDateTimeAttribute(null=True)
    # When the owner was told (``account_deleted``); the address itself is not kept.
    notified_at = UTCDateTimeAttribute(null=True)
    # {"<table>": <items deleted>}
    deleted = JSONAttribute(default=dict)
    # [{"table", "items", "legal_basis", "personal_data": bool, "erase_at"}]
    kept = JSONAttribute(default=list)
    # [{"processor", "record", "outcome"}]: what was deleted outside the tables (no references).
    processors = JSONAttribute(null=True, default=list)


class RetentionDueIndex(GlobalSecondaryIndex["RetentionItem"]):  # type: ignore[no-untyped-call]  # pynamodb
    class Meta:
        index_name = "retention-due"
        projection = KeysOnlyProjection()

    retention_shard = UnicodeAttribute(hash_key=True)
    erase_at = UTCDateTimeAttribute(range_key=True)


class RetentionItem(LeanModel):
    class Meta:
        table_name = "retention"

    # "account#<id>" (an ended customer's kept records) or "person#<hash>" (a non-customer).
    subject_key = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()  # "ended_customer" or "non_customer"
    basis = UnicodeAttribute()  # why it was kept until now
    ended_at = UTCDateTimeAttribute()  # end of use, or the consent's date
    erase_at = UTCDateTimeAttribute()
    # Sparse: removed once erased, so the index holds only what is still due.
    retention_shard = UnicodeAttribute(null=True)
    erased_at = UTCDateTimeAttribute(null=True)
    certificate_id = UnicodeAttribute(null=True)

    retention_due = RetentionDueIndex()
