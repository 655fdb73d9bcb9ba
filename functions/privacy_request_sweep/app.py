"""The ``privacy-request-sweep`` schedule (R-GDPR-10): data subject requests still open at their
due date escalated to staff, once."""

from __future__ import annotations

from lifecycle.entry.scheduled import sweep_handler
from lifecycle.requests.privacy_requests import SWEEP, escalate_overdue

lambda_handler = sweep_handler(SWEEP, escalate_overdue)
