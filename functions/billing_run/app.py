"""The ``billing-run`` schedule (R-PAY-1, R-VOUCH-6/8/9/10, R-USE-2, R-PAY-11)."""

from __future__ import annotations

from lifecycle.billing.billing_run import run
from lifecycle.entry.scheduled import sweep_handler

lambda_handler = sweep_handler("billing-run", run)
