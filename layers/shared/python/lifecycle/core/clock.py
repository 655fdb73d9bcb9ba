"""The one clock. Nothing else in the service calls ``datetime.now()``.

In AWS the clock is the system's. The local runtime and tests may set it (a set clock
stands still until set again, per API.md ``PUT /_local/clock``); only code outside the
layer's deployed paths does that.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

_lock = threading.Lock()
_fixed: datetime | None = None


def now() -> datetime:
    """The current instant, timezone-aware UTC, to the microsecond."""
    with _lock:
        fixed = _fixed
    return fixed if fixed is not None else datetime.now(UTC)


def set_now(instant: datetime | None) -> None:
    """Stand the clock still at ``instant``; ``None`` returns to real time."""
    global _fixed
    if instant is not None and instant.tzinfo is None:
        raise ValueError("the clock takes timezone-aware instants only")
    with _lock:
        _fixed = instant.astimezone(UTC) if instant is not None else None


def is_set() -> bool:
    with _lock:
        return _fixed is not None


def to_iso(instant: datetime) -> str:
    """ISO 8601 UTC with ``Z``, seconds precision, as API.md prescribes."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    """An ISO 8601 instant with ``Z`` or an offset, as UTC."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"not an instant (no offset): {text!r}")
    return parsed.astimezone(UTC)
