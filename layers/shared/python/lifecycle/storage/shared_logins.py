"""The SharedLoginDetections table: shared-login evidence (R-USE-1) and fees (R-USE-2) in the account's
partition under the period's key: a detection day ``"<period start>#<user_id>#<day>"`` (put once, then
extended; IP prefixes only) and the period's fee ``"<period start>#fee"`` (marked once). A query with
``begins_with("<period start>#")`` reads a period whole.
"""

from __future__ import annotations

from collections.abc import Iterator

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute, UTCDateTimeAttribute
from pynamodb.exceptions import DoesNotExist

from lifecycle.storage.base import LeanModel

DETECTION = "detection"
FEE = "fee"


class SharedLoginDetection(LeanModel):
    class Meta:
        table_name = "shared-login-detections"

    account_id = UnicodeAttribute(hash_key=True)
    detection_key = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()  # DETECTION or FEE
    period_start = UTCDateTimeAttribute()
    period_end = UTCDateTimeAttribute()

    # A detection day.
    user_id = UnicodeAttribute(null=True)
    day = UnicodeAttribute(null=True)  # "YYYY-MM-DD", UTC
    devices = UnicodeSetAttribute(null=True)
    networks = UnicodeSetAttribute(null=True)  # "203.0.113.0/24", "2001:db8:1::/48"
    first_seen = UTCDateTimeAttribute(null=True)
    last_seen = UTCDateTimeAttribute(null=True)
    windows = NumberAttribute(null=True)  # activities that found concurrent use that day

    # The period's fee.
    status = UnicodeAttribute(null=True)  # "pending" → invoiced by billing, or "waived" by staff
    amount = NumberAttribute(null=True)  # integer cents
    currency = UnicodeAttribute(null=True)
    users = UnicodeSetAttribute(null=True)  # the users whose detection days reached the setting
    detection_days = NumberAttribute(null=True)  # the first such user's days when it was marked
    marked_at = UTCDateTimeAttribute(null=True)
    notice_id = UnicodeAttribute(null=True)
    waived_at = UTCDateTimeAttribute(null=True)
    waived_by = UnicodeAttribute(null=True)
    waive_reason = UnicodeAttribute(null=True)
    invoice_id = UnicodeAttribute(null=True)  # the invoice that billed the fee ("invoiced")
    invoiced_at = UTCDateTimeAttribute(null=True)


def fee(account_id: str, period_key: str) -> SharedLoginDetection | None:
    """The fee item of one period, if marked (one consistent GetItem)."""
    try:
        return SharedLoginDetection.get(account_id, f"{period_key}#{FEE}", consistent_read=True)
    except DoesNotExist:
        return None


def newest(account_id: str, limit: int) -> Iterator[SharedLoginDetection]:
    """The account's detection days and fees, newest period first, at most ``limit`` (one Query)."""
    return SharedLoginDetection.query(account_id, scan_index_forward=False, limit=limit, page_size=limit)


def keyed_from(account_id: str, prefix: str) -> Iterator[SharedLoginDetection]:
    """The account's items whose key starts with ``prefix`` (one consistent Query)."""
    return SharedLoginDetection.query(
        account_id, SharedLoginDetection.detection_key.startswith(prefix), consistent_read=True
    )


def naming(account_id: str, user_id: str, page_size: int) -> Iterator[SharedLoginDetection]:
    """The account's detections that name ``user_id`` (as the user or among the users
    sharing a login), oldest first (one consistent Query, paged, filtered)."""
    named = (SharedLoginDetection.user_id == user_id) | SharedLoginDetection.users.contains(user_id)
    return SharedLoginDetection.query(account_id, consistent_read=True, page_size=page_size, filter_condition=named)
