"""Wall-clock time in a named time zone (the IANA database, ``zoneinfo``), as the rules state
deadlines: where a local day begins and ends, and what instant a local time names.

A day ends where the next one begins: ``day_end`` is an exclusive bound. Callers that show
a deadline as its last second or microsecond subtract that from it (docs/ARCHITECTURE.md,
"Cancellation" and "Time and money").
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class NonexistentLocalTime(ValueError):
    """A wall-clock time the zone skips (the spring-forward gap): no instant has it."""


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ``ValueError`` for a name the database does not have."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def local_date(instant: datetime, tz: ZoneInfo) -> date:
    """The calendar date in ``tz`` at ``instant`` (timezone-aware)."""
    return instant.astimezone(tz).date()


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of ``day`` in ``tz``, as UTC.

    Where clocks jump forward at midnight (America/Havana, Asia/Beirut) 00:00 does not exist
    and the day begins at the jump: ``fold=0`` reads a skipped time with the offset before the
    transition, which puts 00:00 exactly on it.
    """
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def day_end(day: date, tz: ZoneInfo) -> datetime:
    """Where ``day`` ends in ``tz``, as UTC: the start of the next day, an exclusive bound."""
    return day_start(day + timedelta(days=1), tz)


def instant_of(local: datetime, tz: ZoneInfo) -> datetime:
    """The instant, as UTC, that the naive wall-clock time ``local`` names in ``tz``.

    R-VOUCH-3: a time in the spring-forward gap names no instant (``NonexistentLocalTime``);
    one in the autumn fold names two, and means the later (``fold=1``).
    """
    earlier = local.replace(tzinfo=tz, fold=0)
    if earlier.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != local:
        raise NonexistentLocalTime(f"{local.isoformat()} does not exist in {tz.key}: the clocks skip it")
    return local.replace(tzinfo=tz, fold=1).astimezone(UTC)
