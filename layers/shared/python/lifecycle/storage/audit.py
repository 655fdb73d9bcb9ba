"""The Audit table: lifecycle events and staff access per account (R-USE-4), newest last."""

from __future__ import annotations

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
