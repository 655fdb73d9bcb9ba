"""The ``trial-sweep`` schedule (R-PAY-3)."""

from __future__ import annotations

from lifecycle.entry.scheduled import sweep_handler
from lifecycle.subscriptions.trials import expire_trials

lambda_handler = sweep_handler("trial-sweep", expire_trials)
