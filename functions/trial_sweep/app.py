"""The ``trial-sweep`` schedule (R-PAY-3)."""

from __future__ import annotations

from lifecycle.scheduled import sweep_handler
from lifecycle.trials import expire_trials

lambda_handler = sweep_handler("trial-sweep", expire_trials)
