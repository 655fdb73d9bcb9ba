"""The ``cancellation-sla-sweep`` schedule (R-TERM-2): overdue emailed cancellations escalated to staff."""

from __future__ import annotations

from lifecycle.ending.cancellation import SWEEP, escalate_overdue
from lifecycle.entry.scheduled import sweep_handler

lambda_handler = sweep_handler(SWEEP, escalate_overdue)
