"""The ``privacy-request-sweep`` schedule (R-GDPR-10): data subject requests still open at their
due date escalated to staff, once."""

from __future__ import annotations

from lifecycle.privacy_requests import SWEEP, escalate_overdue
from lifecycle.scheduled import sweep_handler

lambda_handler = sweep_handler(SWEEP, escalate_overdue)
