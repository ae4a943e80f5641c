"""Business time: working days on a region's public-holiday calendar.

Activation targets and stage SLAs are promised in business days, so a weekend or
a bank holiday never counts against the team.  Calendars come from the
``holidays`` package; arithmetic is numpy's vectorised business-day functions,
so the same code serves one account or fifty thousand.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import numpy as np

from include.onboarding.config import Region


class BusinessCalendar:
    """Mon-Fri working days minus the public holidays of one country/subdivision."""

    def __init__(self, country: str, subdivision: str | None = None, first_year: int = 2020, last_year: int = 2035):
        import holidays

        self.country = country
        self.subdivision = subdivision
        days = holidays.country_holidays(country, subdiv=subdivision, years=range(first_year, last_year + 1))
        self.holidays: np.ndarray = np.array(sorted(days.keys()), dtype="datetime64[D]")
        self._calendar = np.busdaycalendar(weekmask="1111100", holidays=self.holidays)

    def is_business_day(self, day: date) -> bool:
        return bool(np.is_busday(np.datetime64(day, "D"), busdaycal=self._calendar))

    def add_business_days(self, start: date, days: int) -> date:
        """The date ``days`` business days after ``start``.

        A start on a weekend or holiday first rolls forward to the next business
        day, so "signed on Saturday, 10 business days" counts from Monday.
        """
        result = np.busday_offset(np.datetime64(start, "D"), days, roll="forward", busdaycal=self._calendar)
        return date.fromisoformat(str(result))

    def business_days_between(self, start: date, end: date) -> int:
        """Business days in ``[start, end)``; negative when ``end`` is before ``start``."""
        return int(np.busday_count(np.datetime64(start, "D"), np.datetime64(end, "D"), busdaycal=self._calendar))


@lru_cache(maxsize=64)
def calendar_for(country: str, subdivision: str | None = None) -> BusinessCalendar:
    return BusinessCalendar(country, subdivision)


def region_calendar(region: Region) -> BusinessCalendar:
    return calendar_for(region.country, region.subdivision)
