"""The ``retention-sweep`` schedule (R-GDPR-2): kept personal data erased when its time comes."""

from __future__ import annotations

from lifecycle.retention import SWEEP, erase_due
from lifecycle.scheduled import sweep_handler

lambda_handler = sweep_handler(SWEEP, erase_due)
