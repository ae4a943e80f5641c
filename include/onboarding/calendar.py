"""Business time: working days and hours on a region's public-holiday calendar.

Activation targets and stage SLAs are promised in business time, so a weekend,
a bank holiday or the night never counts against the team.  Calendars come from
the ``holidays`` package; arithmetic is numpy's vectorised business-day
functions, so the same code serves one account or fifty thousand.

:class:`WorkingTime` measures SLA clocks: working seconds between two instants
inside the region's business hours (local wall-clock time, so daylight saving
changes nothing), and the instant a given amount of working time runs out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from functools import lru_cache
from typing import Any, cast

import numpy as np
import pandas as pd

from include.onboarding.config import BusinessHours, Region


class BusinessCalendar:
    """Mon-Fri working days minus the public holidays of one country/subdivision."""

    def __init__(self, country: str, subdivision: str | None = None, first_year: int = 2020, last_year: int = 2035):
        import holidays

        self.country = country
        self.subdivision = subdivision
        days = holidays.country_holidays(country, subdiv=subdivision, years=range(first_year, last_year + 1))
        self.holidays: np.ndarray = np.array(sorted(days.keys()), dtype="datetime64[D]")
        self.busdaycal = np.busdaycalendar(weekmask="1111100", holidays=self.holidays)
        self._calendar = self.busdaycal

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


_DAY = np.timedelta64(1, "D")


def utc_ns(instants: Any) -> np.ndarray:
    """Instants (any zone, NaT allowed) as naive UTC datetime64[ns], whatever resolution pandas chose."""
    index = pd.DatetimeIndex(pd.to_datetime(instants, utc=True))
    return np.asarray(index.tz_localize(None).to_numpy(dtype="datetime64[ns]"))


def as_utc(values: np.ndarray) -> pd.DatetimeIndex:
    """Naive UTC datetime64 values as a UTC DatetimeIndex."""
    return cast(pd.DatetimeIndex, pd.DatetimeIndex(values.astype("datetime64[ns]")).tz_localize("UTC"))


class WorkingTime:
    """Working seconds on one region's business days between its business hours.

    Every method takes and returns arrays, one element per account: the
    escalation pass measures fifty thousand SLA clocks in one call.
    Instants are timezone-aware (any zone); results are UTC.
    """

    def __init__(self, calendar: BusinessCalendar, tz: str, hours: BusinessHours):
        self.calendar = calendar
        self.tz = tz
        self.open = hours.start_seconds
        self.close = hours.end_seconds
        self.day_seconds = hours.day_seconds

    def _local(self, instants: Any) -> tuple[np.ndarray, np.ndarray]:
        """(local date as datetime64[D], seconds since local midnight) of each instant."""
        local = pd.DatetimeIndex(pd.to_datetime(instants, utc=True)).tz_convert(self.tz).tz_localize(None)
        wall = local.to_numpy(dtype="datetime64[s]")
        days = wall.astype("datetime64[D]")
        return days, (wall - days.astype("datetime64[s]")).astype(np.int64).astype(np.float64)

    def _is_busday(self, days: np.ndarray) -> np.ndarray:
        return np.is_busday(days, busdaycal=self.calendar.busdaycal)

    def elapsed(self, start: Any, end: Any) -> np.ndarray:
        """Working seconds in ``[start, end]`` (zero where ``end`` is not after ``start``)."""
        d0, s0 = self._local(start)
        d1, s1 = self._local(end)
        c0 = np.clip(s0, self.open, self.close)
        c1 = np.clip(s1, self.open, self.close)
        b0 = self._is_busday(d0)
        b1 = self._is_busday(d1)
        same_day = np.where(b0, np.maximum(c1 - c0, 0.0), 0.0)
        between = np.where(
            d1 > d0 + _DAY,
            np.busday_count(np.minimum(d0 + _DAY, d1), np.maximum(d1, d0 + _DAY), busdaycal=self.calendar.busdaycal),
            0,
        )
        spanning = np.where(b0, self.close - c0, 0.0) + np.where(b1, c1 - self.open, 0.0) + between * self.day_seconds
        return np.where(d1 > d0, spanning, np.where(d1 == d0, same_day, 0.0))

    def add(self, start: Any, seconds: Any) -> pd.DatetimeIndex:
        """The instant at which ``seconds`` of working time after ``start`` have passed (UTC)."""
        d0, s0 = self._local(start)
        need = np.maximum(np.asarray(seconds, dtype=np.float64), 0.0)
        c0 = np.clip(s0, self.open, self.close)
        first = np.where(self._is_busday(d0), self.close - c0, 0.0)
        within_first = need <= first
        rest = need - first
        later_days = np.maximum(np.ceil(rest / self.day_seconds), 1).astype(np.int64)
        day = np.busday_offset(d0 + _DAY, later_days - 1, roll="forward", busdaycal=self.calendar.busdaycal)
        tod = self.open + rest - (later_days - 1) * self.day_seconds
        local = np.where(
            within_first,
            d0.astype("datetime64[s]") + (c0 + need).astype("timedelta64[s]"),
            day.astype("datetime64[s]") + tod.astype("timedelta64[s]"),
        )
        # Zero working time is the start itself, even outside business hours.
        utc = pd.DatetimeIndex(local).tz_localize(self.tz, ambiguous="NaT", nonexistent="shift_forward")
        utc = utc.tz_convert("UTC")
        exact = pd.DatetimeIndex(pd.to_datetime(start, utc=True)).tz_localize(None).to_numpy(dtype="datetime64[ns]")
        computed = utc.tz_localize(None).to_numpy(dtype="datetime64[ns]")
        result = pd.DatetimeIndex(np.where(need == 0, exact, computed)).tz_localize("UTC")
        return cast(pd.DatetimeIndex, result)

    def back(self, end: Any, seconds: Any) -> pd.DatetimeIndex:
        """The latest instant from which exactly ``seconds`` of working time remain until ``end`` (UTC).

        The mirror of :meth:`add`: ``elapsed(back(end, s), end) == s``.  "The
        rest of the path needs 3 business days" becomes the last moment it can
        still start and finish by ``end``.
        """
        d1, s1 = self._local(end)
        need = np.maximum(np.asarray(seconds, dtype=np.float64), 0.0)
        c1 = np.clip(s1, self.open, self.close)
        first = np.where(self._is_busday(d1), c1 - self.open, 0.0)
        within_first = need <= first
        rest = need - first
        earlier_days = np.maximum(np.ceil(rest / self.day_seconds), 1).astype(np.int64)
        day = np.busday_offset(d1 - _DAY, -(earlier_days - 1), roll="backward", busdaycal=self.calendar.busdaycal)
        tod = self.close - (rest - (earlier_days - 1) * self.day_seconds)
        local = np.where(
            within_first,
            d1.astype("datetime64[s]") + (c1 - need).astype("timedelta64[s]"),
            day.astype("datetime64[s]") + tod.astype("timedelta64[s]"),
        )
        utc = pd.DatetimeIndex(local).tz_localize(self.tz, ambiguous="NaT", nonexistent="shift_forward")
        exact = pd.DatetimeIndex(pd.to_datetime(end, utc=True)).tz_localize(None).to_numpy(dtype="datetime64[ns]")
        computed = utc.tz_convert("UTC").tz_localize(None).to_numpy(dtype="datetime64[ns]")
        # Zero working time is the end itself, even outside business hours.
        return cast(pd.DatetimeIndex, pd.DatetimeIndex(np.where(need == 0, exact, computed)).tz_localize("UTC"))

    def elapsed_outside(self, start: Any, end: Any, pause_start: Any, pause_end: Any) -> np.ndarray:
        """Working seconds in ``[start, end]`` outside the pause ``[pause_start, pause_end]``.

        A NaT ``pause_start`` means no pause; a NaT ``pause_end`` means still paused at ``end``.
        The pause only counts where it overlaps ``[start, end]``.
        """
        s, e = utc_ns(start), utc_ns(end)
        ps, pe = utc_ns(pause_start), utc_ns(pause_end)
        paused = ~np.isnat(ps)
        p0 = np.maximum(np.where(paused, ps, s), s)
        p1 = np.where(paused, np.minimum(np.where(np.isnat(pe), e, pe), e), s)
        p1 = np.maximum(p1, p0)
        worked = self.elapsed(as_utc(s), as_utc(e)) - np.where(paused, self.elapsed(as_utc(p0), as_utc(p1)), 0.0)
        return np.asarray(np.maximum(worked, 0.0))

    def business_days_until(self, start: Sequence[date] | np.ndarray, end: Sequence[date] | np.ndarray) -> np.ndarray:
        """Business days in ``[start, end)``."""
        return np.busday_count(
            np.asarray(start, dtype="datetime64[D]"),
            np.asarray(end, dtype="datetime64[D]"),
            busdaycal=self.calendar.busdaycal,
        )

    def local_dates(self, instants: Any) -> np.ndarray:
        return self._local(instants)[0]


def by_region(
    frame: pd.DataFrame, regions: Mapping[str, Region]
) -> Iterator[tuple[pd.Index, pd.DataFrame, Region, WorkingTime]]:
    """The rows of ``frame`` per ``region`` column value that names a configured region, with its clock."""
    for key, index in frame.groupby("region").groups.items():
        region = regions.get(str(key))
        if region is not None:
            yield index, frame.loc[index], region, region_working_time(region)


def region_working_time(region: Region) -> WorkingTime:
    return _working_time(region.country, region.subdivision, region.timezone, region.business_hours)


@lru_cache(maxsize=64)
def _working_time(country: str, subdivision: str | None, tz: str, hours: BusinessHours) -> WorkingTime:
    return WorkingTime(calendar_for(country, subdivision), tz, hours)
