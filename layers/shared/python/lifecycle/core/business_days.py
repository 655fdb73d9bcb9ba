"""The vendor's business calendar (R-TERM-2): Monday to Friday, except the public holidays of the
vendor's country and the company's own days off, counted in the vendor's time zone.

Public holidays come from the ``holidays`` package, its public category: the days off by law
(Slovakia's Act No. 241/1993 Coll. as amended; state holidays that are working days, such as
1 September since 2024, are in its ``workday`` category and are business days here). Settings:
``business_country``, ``business_time_zone``, ``business_holidays``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cache

from lifecycle.core import local_time
from lifecycle.core.settings import Settings


@cache
def public_holidays(country: str, year: int) -> frozenset[date]:
    """The days off by law in ``country`` in ``year``, computed once per country and year."""
    # Imported here: ~200 ms, and ~140 ms more per country-year, paid only by the code that
    # computes a deadline (docs/PERFORMANCE.md), never at a function's cold start.
    import holidays

    try:
        calendar = holidays.country_holidays(country, years=year, categories=(holidays.PUBLIC,))
    except NotImplementedError as exc:
        raise ValueError(f"setting business_country: the holidays package has no calendar for {country!r}") from exc
    return frozenset(calendar)


def is_business_day(day: date, settings: Settings) -> bool:
    """Monday to Friday, not a public holiday of ``business_country`` nor a ``business_holidays`` day."""
    return (
        day.weekday() < 5
        and day not in settings.business_holidays
        and day not in public_holidays(settings.business_country, day.year)
    )


def next_business_day(instant: datetime, settings: Settings) -> date:
    """The first business day after the local day (in ``business_time_zone``) of ``instant``."""
    day = local_time.local_date(instant, local_time.zone(settings.business_time_zone))
    while True:
        day += timedelta(days=1)
        if is_business_day(day, settings):
            return day
