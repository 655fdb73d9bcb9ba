"""The Terms table: the published versions of the Terms of Service (R-TERMS-1, R-TERMS-3)."""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model

TERMS_OF_SERVICE = "terms-of-service"


class TermsVersion(Model):
    """One item per publication; the newest ``published_at`` is the current version."""

    class Meta:
        table_name = "terms"

    document = UnicodeAttribute(hash_key=True)
    published_at = UTCDateTimeAttribute(range_key=True)
    version = UnicodeAttribute()
    published_by = UnicodeAttribute()
