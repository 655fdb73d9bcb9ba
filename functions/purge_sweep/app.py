"""The ``purge-sweep`` schedule (R-TERM-3): ended accounts deleted, with a deletion certificate."""

from __future__ import annotations

from lifecycle.ending.purge import SWEEP, purge_due
from lifecycle.entry.scheduled import sweep_handler

lambda_handler = sweep_handler(SWEEP, purge_due)
