"""The vendor's business calendar and the deadline of an emailed cancellation (R-TERM-2).

The Slovak calendar is checked day by day against an independent computation from the law:
Act No. 241/1993 Coll. on state holidays, days of rest and memorial days, as amended, with
Easter by the Anonymous Gregorian algorithm. Amendments in force for 2025-2027:
- Act No. 326/2020 Coll.: 28 October, a state holiday since 2021, is not a day of rest;
- Act No. 530/2023 Coll. (from 1 January 2024): 1 September (Constitution Day) stays a state
  holiday but is no longer a day of rest;
- Act No. 261/2025 Coll. (the 2025 consolidation act, from 1 November 2025): 17 November is no
  longer a day of rest (so already not in 2025), and in 2026 only, neither are 8 May nor
  15 September.
Sources: the National Labour Inspectorate's notice on 1 September (ip.gov.sk) and the
summaries of Act No. 261/2025 Coll. (dauc.sk, "Tretí balík konsolidačných opatrení").
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from lifecycle.core import business_days
from lifecycle.core.settings import Settings
from lifecycle.ending.cancellation import due_by

SLOVAK = Settings()


def easter_sunday(year: int) -> date:
    """The Anonymous Gregorian algorithm (Meeus, "Astronomical Algorithms"; Jones 1876, Butcher 1876)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 - the algorithm's own name
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return date(year, month, day + 1)


# Act No. 241/1993 Coll., § 1 and § 2: the days of rest besides Sundays (Easter aside).
# 1 September, 28 October and 17 November are state holidays but not days of rest in 2025-2027.
FIXED_DAYS_OF_REST = {
    (1, 1): "Day of the Establishment of the Slovak Republic",
    (1, 6): "Epiphany",
    (5, 1): "Labour Day",
    (5, 8): "Day of Victory over Fascism",
    (7, 5): "St Cyril and St Methodius",
    (8, 29): "Anniversary of the Slovak National Uprising",
    (9, 15): "Our Lady of the Seven Sorrows",
    (11, 1): "All Saints' Day",
    (12, 24): "Christmas Eve",
    (12, 25): "Christmas Day",
    (12, 26): "St Stephen's Day",
}
# Act No. 261/2025 Coll.: working days in 2026 only.
WORKING_IN_2026 = {(5, 8), (9, 15)}


def slovak_days_of_rest(year: int) -> set[date]:
    fixed = {date(year, month, day) for (month, day) in FIXED_DAYS_OF_REST}
    if year == 2026:
        fixed -= {date(year, month, day) for (month, day) in WORKING_IN_2026}
    easter = easter_sunday(year)
    return fixed | {easter - timedelta(days=2), easter + timedelta(days=1)}  # Good Friday, Easter Monday


def test_r_term_2_easter_by_the_anonymous_gregorian_algorithm_matches_the_published_dates() -> None:
    # The Catholic Church's (and Slovakia's) Easter Sundays.
    assert [easter_sunday(year) for year in (2025, 2026, 2027)] == [
        date(2025, 4, 20),
        date(2026, 4, 5),
        date(2027, 3, 28),
    ]


@pytest.mark.parametrize("year", [2025, 2026, 2027])
def test_r_term_2_the_slovak_calendar_matches_act_241_1993_day_by_day(year: int) -> None:
    expected = slovak_days_of_rest(year)
    assert business_days.public_holidays("SK", year) == frozenset(expected)
    day = date(year, 1, 1)
    while day.year == year:
        assert business_days.is_business_day(day, SLOVAK) == (day.weekday() < 5 and day not in expected), day
        day += timedelta(days=1)


def test_r_term_2_the_2026_calendar_has_11_days_of_rest_and_state_holidays_that_are_working_days() -> None:
    assert len(slovak_days_of_rest(2026)) == 11
    for working in (date(2026, 5, 8), date(2026, 9, 1), date(2026, 9, 15), date(2026, 10, 28), date(2026, 11, 17)):
        assert business_days.is_business_day(working, SLOVAK), working  # all are weekdays in 2026


def _at(local: str, offset_hours: int) -> datetime:
    """A Bratislava wall-clock time with its UTC offset (+1 in winter, +2 in summer), as UTC."""
    naive = datetime.fromisoformat(local)
    return (naive - timedelta(hours=offset_hours)).replace(tzinfo=UTC)


def _end_of(day: str, offset_hours: int) -> datetime:
    """The last microsecond of a Bratislava day, as UTC."""
    return _at(day + "T23:59:59.999999", offset_hours)


@pytest.mark.parametrize(
    ("emailed", "due", "why"),
    [
        (_at("2026-11-25T13:00", 1), _end_of("2026-11-26", 1), "an ordinary Wednesday"),
        (_at("2026-11-27T20:30", 1), _end_of("2026-11-30", 1), "Friday evening: Monday's end"),
        (_at("2026-11-26T23:59:59", 1), _end_of("2026-11-27", 1), "Thursday's last second: Friday"),
        (_at("2026-11-27T00:15", 1), _end_of("2026-11-30", 1), "just after local midnight, still Thursday in UTC"),
        (_at("2025-12-23T18:00", 1), _end_of("2025-12-29", 1), "the eve of Christmas: 24-26 Dec off, a weekend"),
        (_at("2026-12-24T10:00", 1), _end_of("2026-12-28", 1), "on Christmas Eve itself"),
        (_at("2026-04-02T20:00", 2), _end_of("2026-04-07", 2), "the eve of Good Friday: Easter Monday off too"),
        (_at("2027-03-25T20:00", 1), _end_of("2027-03-30", 2), "Easter 2027 across the change to summer time"),
        (_at("2026-08-31T09:00", 2), _end_of("2026-09-01", 2), "1 September is a working day since 2024"),
        (_at("2026-05-07T09:00", 2), _end_of("2026-05-08", 2), "8 May is a working day in 2026 only"),
        (_at("2027-05-07T09:00", 2), _end_of("2027-05-10", 2), "8 May 2027 is a Saturday; Monday the 10th"),
        (_at("2025-11-14T16:00", 1), _end_of("2025-11-17", 1), "17 November is a working day since 2025"),
    ],
)
def test_r_term_2_due_by_is_the_end_of_the_next_business_day_in_bratislava(
    emailed: datetime, due: datetime, why: str
) -> None:
    assert due_by(emailed, SLOVAK) == due, why


def test_r_term_2_the_company_days_off_are_on_top_of_the_public_holidays() -> None:
    calendar = Settings(business_holidays="2026-11-30,2026-12-01")  # type: ignore[arg-type]  # env text
    assert calendar.business_holidays == frozenset({date(2026, 11, 30), date(2026, 12, 1)})
    assert due_by(_at("2026-11-27T20:30", 1), calendar) == _end_of("2026-12-02", 1)


def test_r_term_2_a_setting_names_another_country_and_its_time_zone() -> None:
    # 28 October is a day of rest in Czechia (Act No. 245/2000 Coll.), a working day in Slovakia.
    czech = Settings(business_country="CZ", business_time_zone="Europe/Prague")
    emailed = _at("2026-10-27T12:00", 1)
    assert due_by(emailed, SLOVAK) == _end_of("2026-10-28", 1)
    assert due_by(emailed, czech) == _end_of("2026-10-29", 1)
    # Counted in the setting's zone: 23:30 UTC on a Monday is already Tuesday in Tokyo.
    tokyo = Settings(business_country="JP", business_time_zone="Asia/Tokyo")
    assert due_by(datetime(2026, 11, 30, 23, 30, tzinfo=UTC), tokyo) == datetime(
        2026, 12, 2, 14, 59, 59, 999999, tzinfo=UTC
    )


def test_r_term_2_a_country_or_zone_the_references_do_not_know_is_refused_plainly() -> None:
    with pytest.raises(ValueError, match="business_time_zone"):
        Settings(business_time_zone="Mars/Olympus")
    with pytest.raises(ValueError, match="business_country"):
        business_days.public_holidays("XX", 2026)


def test_r_term_2_each_country_year_is_computed_once() -> None:
    business_days.public_holidays.cache_clear()
    for _ in range(3):
        due_by(_at("2026-11-27T20:30", 1), SLOVAK)
    info = business_days.public_holidays.cache_info()
    assert (info.misses, info.currsize) == (1, 1)
