"""The RateLimits table: fixed-window counters for public routes (R-REG-2).

One item per subject and window (``signup:ip:203.0.113.7:29012345``), incremented with
an atomic ADD and gone by TTL once the window is over.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute

from lifecycle.storage.base import LeanModel


class RateCounter(LeanModel):
    class Meta:
        table_name = "rate-limits"

    key = UnicodeAttribute(hash_key=True)
    hits = NumberAttribute(default=0)
    expires_at = TTLAttribute(null=True)
