"""The Terms table: the published versions of the Terms of Service (R-TERMS-1, R-TERMS-3)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute

from lifecycle.storage.base import LeanModel

TERMS_OF_SERVICE = "terms-of-service"


class TermsVersion(LeanModel):
    """One item per publication; the newest ``published_at`` is the current version."""

    class Meta:
        table_name = "terms"

    document = UnicodeAttribute(hash_key=True)
    published_at = UTCDateTimeAttribute(range_key=True)
    version = UnicodeAttribute()
    published_by = UnicodeAttribute()


def published() -> Iterator[TermsVersion]:
    """Every published version of the terms, newest first (one Query; the claims live in other partitions)."""
    return TermsVersion.query(TERMS_OF_SERVICE, scan_index_forward=False)


def newest_published(at: datetime) -> TermsVersion | None:
    """The newest version published at or before ``at`` (one Query, one item)."""
    newest = TermsVersion.query(
        TERMS_OF_SERVICE,
        TermsVersion.published_at <= at,
        scan_index_forward=False,
        limit=1,
        consistent_read=True,
    )
    return next(iter(newest), None)
