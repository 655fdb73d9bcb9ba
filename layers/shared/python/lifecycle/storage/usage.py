"""The Usage table: what an account's help desk used, one item per calendar month (R-FAIR-1..2). Counters
(tickets, queries) are ADDed, levels (storage, end users) set; the usage and enterprise (R-PAY-10) flags
are each set once by a conditional update, which puts the item into its sparse index for staff.
"""

from __future__ import annotations

from collections.abc import Iterator

from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model


class UsageFlagIndex(GlobalSecondaryIndex["Usage"]):  # type: ignore[no-untyped-call]  # pynamodb
    """Sparse: only months whose usage crossed the limits (R-FAIR-2), by month, oldest flag first."""

    class Meta:
        index_name = "usage-flags"
        projection = AllProjection()

    usage_flag_period = UnicodeAttribute(hash_key=True)
    usage_flagged_at = UTCDateTimeAttribute(range_key=True)


class EnterpriseFlagIndex(GlobalSecondaryIndex["Usage"]):  # type: ignore[no-untyped-call]  # pynamodb
    """Sparse: only months flagged for an enterprise offer (R-PAY-10), by month, oldest flag first."""

    class Meta:
        index_name = "enterprise-flags"
        projection = AllProjection()

    enterprise_flag_period = UnicodeAttribute(hash_key=True)
    enterprise_flagged_at = UTCDateTimeAttribute(range_key=True)


class Usage(Model):
    class Meta:
        table_name = "usage"

    account_id = UnicodeAttribute(hash_key=True)
    # The calendar month in UTC, "YYYY-MM": a new month starts from zero.
    period = UnicodeAttribute(range_key=True)
    tickets = NumberAttribute(default=0)
    queries = NumberAttribute(default=0)
    # Levels, as last reported this month; None until reported.
    storage_bytes = NumberAttribute(null=True)
    end_users = NumberAttribute(null=True)
    reports = NumberAttribute(default=0)
    reported_at = UTCDateTimeAttribute(null=True)
    # R-FAIR-2: set once per month; the evidence is the usage and limits that crossed.
    usage_flag_period = UnicodeAttribute(null=True)
    usage_flagged_at = UTCDateTimeAttribute(null=True)
    usage_flag_evidence = MapAttribute[str, object](null=True)  # type: ignore[no-untyped-call]  # pynamodb
    # R-PAY-10: set once per month; the evidence is the end users, queries and agents seen.
    enterprise_flag_period = UnicodeAttribute(null=True)
    enterprise_flagged_at = UTCDateTimeAttribute(null=True)
    enterprise_flag_evidence = MapAttribute[str, object](null=True)  # type: ignore[no-untyped-call]  # pynamodb

    usage_flags = UsageFlagIndex()
    enterprise_flags = EnterpriseFlagIndex()


def usage_flagged(period: str, limit: int) -> Iterator[Usage]:
    """The month's usage flags (R-FAIR-2), oldest first, at most ``limit`` (its sparse index)."""
    return Usage.usage_flags.query(period, limit=limit, page_size=limit)


def enterprise_flagged(period: str, limit: int) -> Iterator[Usage]:
    """The month's enterprise flags (R-PAY-10), oldest first, at most ``limit`` (its sparse index)."""
    return Usage.enterprise_flags.query(period, limit=limit, page_size=limit)
