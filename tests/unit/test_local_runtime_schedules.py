"""The local scheduler: EventBridge rate/cron expressions and the firing thread."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from local_runtime import scheduler
from local_runtime.template import Resolver, Schedule, load, schedules

START = datetime(2026, 11, 25, 13, 20, 0, tzinfo=UTC)  # a Wednesday


def test_rate_fires_every_interval_from_its_start() -> None:
    rate = scheduler.trigger("rate(1 hour)", START)
    assert rate.next_after(START) == START + timedelta(hours=1)
    assert rate.next_after(START + timedelta(minutes=59)) == START + timedelta(hours=1)
    assert rate.next_after(START + timedelta(hours=1)) == START + timedelta(hours=2)
    assert rate.next_after(START + timedelta(hours=5, seconds=1)) == START + timedelta(hours=6)


@pytest.mark.parametrize(
    ("expression", "interval"),
    [
        ("rate(1 minute)", timedelta(minutes=1)),
        ("rate(5 minutes)", timedelta(minutes=5)),
        ("rate(2 hours)", timedelta(hours=2)),
        ("rate(1 day)", timedelta(days=1)),
        ("rate(3 days)", timedelta(days=3)),
    ],
)
def test_rate_units(expression: str, interval: timedelta) -> None:
    assert scheduler.trigger(expression, START).next_after(START) == START + interval


@pytest.mark.parametrize(
    ("aws", "five", "year"),
    [
        ("cron(0 3 * * ? *)", "0 3 * * *", "*"),
        ("cron(0 1 * * ? *)", "0 1 * * *", "*"),
        ("cron(15 10 ? * 6L 2030)", "15 10 * * L5", "2030"),
        ("cron(0 8 ? * MON-FRI *)", "0 8 * * MON-FRI", "*"),
        ("cron(0 8 ? * 2-6 *)", "0 8 * * 1-5", "*"),
        ("cron(0 8 ? * 1,7 *)", "0 8 * * 0,6", "*"),
        ("cron(0 8 ? * 2#1 *)", "0 8 * * 1#1", "*"),
        ("cron(0/15 * 1 * ? *)", "0/15 * 1 * *", "*"),
    ],
)
def test_aws_cron_to_croniter(aws: str, five: str, year: str) -> None:
    assert scheduler.to_croniter(aws) == (five, year)


def test_daily_cron_fires_at_its_hour_utc() -> None:
    cron = scheduler.trigger("cron(0 3 * * ? *)", START)
    assert cron.next_after(START) == datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    assert cron.next_after(datetime(2026, 11, 26, 2, 59, tzinfo=UTC)) == datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    assert cron.next_after(datetime(2026, 11, 26, 3, 0, tzinfo=UTC)) == datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


def test_aws_day_of_week_numbers_start_on_sunday() -> None:
    monday = scheduler.trigger("cron(0 8 ? * 2 *)", START)  # AWS 2 = MON
    assert monday.next_after(START) == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    named = scheduler.trigger("cron(0 8 ? * MON *)", START)
    assert named.next_after(START) == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def test_last_friday_of_the_month() -> None:
    last_friday = scheduler.trigger("cron(0 8 ? * 6L *)", START)
    assert last_friday.next_after(START) == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def test_year_field_limits_firing() -> None:
    assert scheduler.trigger("cron(0 3 1 1 ? 2030)", START).next_after(START) == datetime(2030, 1, 1, 3, tzinfo=UTC)
    assert scheduler.trigger("cron(0 3 * * ? 2020)", START).next_after(START) is None
    every_other = scheduler.trigger("cron(0 0 1 1 ? 2027/2)", START)
    assert every_other.next_after(START) == datetime(2027, 1, 1, tzinfo=UTC)
    assert every_other.next_after(datetime(2027, 1, 1, tzinfo=UTC)) == datetime(2029, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "expression",
    ["rate(0 minutes)", "rate(1 week)", "every hour", "cron(0 3 * * ?)", "cron(0 3 * * ? * *)", "cron(x 3 * * ? *)"],
)
def test_invalid_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        scheduler.trigger(expression, START)


def test_every_template_schedule_parses() -> None:
    template = load()
    for schedule in schedules(template, Resolver(template)):
        assert scheduler.trigger(schedule.expression, START).next_after(START) is not None


def _fast_clock() -> Callable[[], datetime]:
    # Each reading is a minute later, so every wait for the next firing is already over.
    ticks = itertools.count()
    return lambda: START + timedelta(minutes=next(ticks))


def test_scheduler_fires_and_survives_a_failing_run() -> None:
    schedule = Schedule("trial-sweep", "rate(1 minute)", "TrialSweepFunction", "functions/trial_sweep/", "app.h")
    fired: list[str] = []
    enough = threading.Event()

    def fire(due: Schedule) -> None:
        fired.append(due.name)
        if len(fired) == 1:
            raise RuntimeError("the first run fails")
        if len(fired) >= 3:
            enough.set()

    runner = scheduler.Scheduler([schedule], fire, now=_fast_clock())
    runner.start()
    try:
        assert enough.wait(5), "the scheduler stopped firing after a failed run"
    finally:
        runner.stop()
    assert fired[:3] == ["trial-sweep"] * 3


def test_scheduler_stops_promptly_while_waiting() -> None:
    schedule = Schedule("daily", "cron(0 3 * * ? *)", "F", "functions/f/", "app.h")
    runner = scheduler.Scheduler([schedule], lambda _: None)
    runner.start()
    runner.stop(timeout=2)
    assert not runner.running
