"""The ``retention-sweep`` schedule (R-GDPR-2): kept personal data erased when its time comes."""

from __future__ import annotations

from lifecycle.entry.scheduled import sweep_handler
from lifecycle.privacy.retention import SWEEP, erase_due

lambda_handler = sweep_handler(SWEEP, erase_due)
