"""The ``inactivity-sweep`` schedule (R-TERM-6)."""

from __future__ import annotations

from lifecycle.ending.inactivity import sweep
from lifecycle.entry.scheduled import sweep_handler

lambda_handler = sweep_handler("inactivity-sweep", sweep)
