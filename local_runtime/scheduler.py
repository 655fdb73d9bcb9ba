"""Fires template.yaml's schedules on their EventBridge expressions while the runtime runs.

Firing follows the real wall clock, never ``lifecycle.core.clock``: a set clock stands still
until set again (API.md), so a schedule waiting for the set clock would never fire. The
handler still sees the set clock through ``clock.now()`` and the event's ``time``. To
run a schedule at a chosen business time, set the clock and call
``POST /_local/schedules/{name}``.

EventBridge evaluates cron expressions in UTC; so does this.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from croniter import croniter

from local_runtime.template import Schedule

log = logging.getLogger("local_runtime.scheduler")

_RATE = re.compile(r"rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)\Z")
_CRON = re.compile(r"cron\((.+)\)\Z")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
# croniter has no year field; this many years ahead is "never" for a local run.
_YEARS_AHEAD = 200


class Trigger(Protocol):
    def next_after(self, after: datetime) -> datetime | None:
        """The first firing strictly after ``after``; None when it never fires again."""
        ...


@dataclass(frozen=True)
class Rate:
    """``rate(N unit)``: every interval counted from when the rule started, as EventBridge does."""

    interval: timedelta
    anchor: datetime

    def next_after(self, after: datetime) -> datetime:
        if after < self.anchor:
            return self.anchor + self.interval
        elapsed = (after - self.anchor) // self.interval
        return self.anchor + (elapsed + 1) * self.interval


def _years(field: str) -> Callable[[int], bool]:
    """AWS's year field (``*``, ``2030``, ``2030-2035``, ``2030/2``, lists of these) as a predicate."""
    if field in {"*", "?"}:
        return lambda _year: True
    allowed: list[Callable[[int], bool]] = []
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            first, last = 1970, 2199
        elif "-" in base:
            first, last = (int(value) for value in base.split("-", 1))
        else:
            first = int(base)
            last = first if not step_text else 2199
        allowed.append(_year_range(first, last, step))
    return lambda year: any(check(year) for check in allowed)


def _year_range(first: int, last: int, step: int) -> Callable[[int], bool]:
    def check(year: int) -> bool:
        return first <= year <= last and (year - first) % step == 0

    return check


def _dow_value(value: str) -> str:
    """One day-of-week value: AWS numbers SUN-SAT 1-7, croniter 0-6; names pass through."""
    return str(int(value) - 1) if value.isdigit() else value


def _dow_field(field: str) -> str:
    if field == "?":
        return "*"
    converted = []
    for part in field.split(","):
        if part.endswith("L") and part[:-1].isdigit():  # "6L": the month's last Friday
            converted.append(f"L{_dow_value(part[:-1])}")
            continue
        if "#" in part:  # "2#1": the month's first Monday
            day, nth = part.split("#", 1)
            converted.append(f"{_dow_value(day)}#{nth}")
            continue
        base, slash, step = part.partition("/")
        base = "-".join(_dow_value(value) for value in base.split("-")) if base != "*" else base
        converted.append(base + slash + step)
    return ",".join(converted)


def to_croniter(expression: str) -> tuple[str, str]:
    """``cron(min hour dom month dow year)`` as a 5-field croniter expression and AWS's year field."""
    matched = _CRON.match(expression.strip())
    if not matched:
        raise ValueError(f"not a cron expression: {expression!r}")
    fields = matched.group(1).split()
    if len(fields) != 6:
        raise ValueError(f"AWS cron takes 6 fields (min hour dom month dow year): {expression!r}")
    minute, hour, day_of_month, month, day_of_week, year = fields
    day_of_month = "*" if day_of_month == "?" else day_of_month
    five = " ".join([minute, hour, day_of_month, month, _dow_field(day_of_week)])
    if not croniter.is_valid(five):
        raise ValueError(f"unsupported cron expression: {expression!r}")
    return five, year


@dataclass(frozen=True)
class Cron:
    five_fields: str
    year_field: str

    def next_after(self, after: datetime) -> datetime | None:
        in_year = _years(self.year_field)
        candidates = croniter(self.five_fields, after.astimezone(UTC))
        limit = after.year + _YEARS_AHEAD
        while True:
            candidate: datetime = candidates.get_next(datetime)
            if candidate.year > limit:
                return None
            if in_year(candidate.year):
                return candidate


def trigger(expression: str, started_at: datetime) -> Trigger:
    """The trigger of an EventBridge schedule expression; ``started_at`` anchors ``rate``."""
    text = expression.strip()
    rate = _RATE.match(text)
    if rate:
        count, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if count < 1:
            raise ValueError(f"a rate needs a positive value: {expression!r}")
        return Rate(timedelta(seconds=count * _UNIT_SECONDS[unit]), started_at)
    if text.startswith("cron("):
        return Cron(*to_croniter(text))
    raise ValueError(f"not an EventBridge schedule expression: {expression!r}")


def wall_clock() -> datetime:
    # Real time on purpose (see the module docstring); the handler's time is lifecycle.core.clock.
    return datetime.now(UTC)


class Scheduler:
    """A daemon thread that runs ``fire(schedule)`` whenever a schedule is due.

    Runs are sequential: a run that overruns the next firing delays it rather than
    overlapping it (EventBridge would overlap; locally, one at a time is easier to read).
    A failing run is logged and the thread carries on.
    """

    def __init__(
        self,
        schedules: list[Schedule],
        fire: Callable[[Schedule], object],
        now: Callable[[], datetime] = wall_clock,
    ) -> None:
        self._fire = fire
        self._now = now
        started = now()
        self._triggers = [(schedule, trigger(schedule.expression, started)) for schedule in schedules]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="local-scheduler", daemon=True)

    def start(self) -> None:
        for schedule, _ in self._triggers:
            log.info("schedule %s: %s -> %s", schedule.name, schedule.expression, schedule.function)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _due(self, after: datetime) -> list[tuple[datetime, Schedule]]:
        upcoming = [(t.next_after(after), schedule) for schedule, t in self._triggers]
        return sorted(((when, schedule) for when, schedule in upcoming if when is not None), key=lambda x: x[0])

    def _run(self) -> None:
        after = self._now()
        while not self._stop.is_set():
            upcoming = self._due(after)
            if not upcoming:
                return
            when = upcoming[0][0]
            if self._stop.wait(max(0.0, (when - self._now()).total_seconds())):
                return
            for _, schedule in (item for item in upcoming if item[0] == when):
                self._run_one(schedule)
            after = max(when, self._now())

    def _run_one(self, schedule: Schedule) -> None:
        try:
            log.info("schedule %s fired", schedule.name)
            self._fire(schedule)
        except Exception:  # a failing sweep must not stop the others
            log.exception("schedule %s failed", schedule.name)
