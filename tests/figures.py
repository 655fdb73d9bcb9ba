"""Figures the hardening tests produce, printed at the end of the pytest run.

Each hardening test records what it did ("authorization matrix: 55 routes x 6 identities
= 330 requests, 0 unexpected"); ``tests/conftest.py`` prints them under "hardening
figures", and the README's reliability section quotes them. ``HARDENING=1`` (``make
hardening``) selects the long runs; ``make test`` runs the fast subsets.
"""

from __future__ import annotations

import os

_lines: list[str] = []


def long_run() -> bool:
    """True under ``make hardening`` (``HARDENING=1``)."""
    return os.environ.get("HARDENING", "") not in {"", "0", "false"}


def scale(fast: int, long: int) -> int:
    """``fast`` in ``make test``, ``long`` in ``make hardening``."""
    return long if long_run() else fast


def record(line: str) -> None:
    """One figure line, e.g. ``record(f"fuzzing: {n} requests, 0 server errors")``."""
    _lines.append(line)


def recorded() -> list[str]:
    return list(_lines)
