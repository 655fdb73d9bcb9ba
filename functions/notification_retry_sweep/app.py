"""The ``notification-retry-sweep`` schedule: notices whose send failed (the email provider was
down or throttled) are sent again until it accepts them; a notice is never silently dropped."""

from __future__ import annotations

from lifecycle.entry.scheduled import sweep_handler
from lifecycle.notifications import RETRY_SWEEP, retry_unsent

lambda_handler = sweep_handler(RETRY_SWEEP, retry_unsent)
