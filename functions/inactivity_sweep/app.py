"""The ``inactivity-sweep`` schedule (R-TERM-6)."""

from __future__ import annotations

from lifecycle.inactivity import sweep
from lifecycle.scheduled import sweep_handler

lambda_handler = sweep_handler("inactivity-sweep", sweep)
