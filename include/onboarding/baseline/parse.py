"""Reading a historical onboardings export, row by row, into rows to load and rows refused.

The export is a CSV file with a header, as a CRM or a spreadsheet writes it.
Columns (names are matched without case; the aliases in :data:`COLUMNS` work too):

==================  =========  ====================================================
column              required   what it holds
==================  =========  ====================================================
account             yes        the customer account's name
tier                yes        the onboarding tier (its name or a CRM value routing to it)
segment             no         the sales segment
region              yes        a region of ``settings.yaml`` (its holiday calendar counts the days)
signed_date         yes        when the order was signed
first_value_date    no         when setup was complete (the customer could first use the product)
live_date           no         when the account went live
touches             no         status emails or manual touches for the account, a whole number
checklist_tracked   no         yes/no: whether the account's checklist completeness was visible
==================  =========  ====================================================

Dates may be ISO (``2026-02-03``, a time after it is ignored), numeric with
slashes, dots or dashes (``02/03/2026``: read day first or month first, as
``baseline.day_first`` says), or with the month's name (``3 Feb 2026``,
``February 3, 2026``).  Every problem names the line of the file (the header
is line 1), the column and why; a row with a problem is not loaded.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from include.onboarding.config import OnboardingConfig

COLUMNS: dict[str, tuple[str, ...]] = {
    "account": ("account", "account_name", "company", "company_name", "customer"),
    "tier": ("tier", "onboarding_tier"),
    "segment": ("segment",),
    "region": ("region",),
    "signed_date": ("signed_date", "signed", "signed_on", "close_date", "closedate"),
    "first_value_date": ("first_value_date", "first_value", "first_value_on", "setup_complete_date"),
    "live_date": ("live_date", "live", "live_on", "go_live_date"),
    "touches": ("touches", "status_emails", "manual_touches", "status_checks"),
    "checklist_tracked": ("checklist_tracked", "checklist_visible"),
}
REQUIRED = ("account", "tier", "region", "signed_date")
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)

_MONTHS = {
    name: n
    for n, names in enumerate(
        (
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
            ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
            ("oct", "october"), ("nov", "november"), ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}  # fmt: skip
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$")
_NUMERIC = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_DAY_MONTH = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?[ -]([A-Za-z]+)\.?,?[ -](\d{4})$")
_MONTH_DAY = re.compile(r"^([A-Za-z]+)\.? (\d{1,2})(?:st|nd|rd|th)?,? (\d{4})$")
_YES = {"yes", "y", "true", "1", "x"}
_NO = {"no", "n", "false", "0", ""}


class BaselineFileError(ValueError):
    """The file cannot be read as an export at all (no header, a required column missing)."""


@dataclass(frozen=True)
class Problem:
    line: int
    column: str
    value: str | None
    problem: str

    def __str__(self) -> str:
        shown = f" {self.value!r}" if self.value not in (None, "") else ""
        return f"line {self.line}, {self.column}{shown}: {self.problem}"


@dataclass(frozen=True)
class BaselineRow:
    line: int
    account: str
    account_key: str
    tier: str
    segment: str | None
    region: str
    signed_on: date
    first_value_on: date | None
    live_on: date | None
    touches: int | None
    checklist_tracked: bool | None


@dataclass
class Parsed:
    rows: list[BaselineRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    read: int = 0
    columns: tuple[str, ...] = ()
    """The optional columns the file has, besides the required ones."""

    @property
    def rejected_lines(self) -> list[int]:
        return sorted({p.line for p in self.problems})


def account_key(name: str) -> str:
    """The account as the baseline is keyed: trimmed, inner spaces collapsed, case folded."""
    return " ".join(name.split()).casefold()


def parse_date(text: str, day_first: bool) -> date:
    """A date in one of the accepted forms; ``ValueError`` saying why not."""
    value = text.strip()
    found = _ISO.match(value)
    if found:
        year, month, day = (int(g) for g in found.groups())
        return _checked(year, month, day, value)
    found = _NUMERIC.match(value)
    if found:
        first, second, year = (int(g) for g in found.groups())
        day, month = (first, second) if day_first else (second, first)
        order = "day first" if day_first else "month first"
        try:
            return _checked(year, month, day, value)
        except ValueError as exc:
            raise ValueError(f"{exc} (read {order}, as baseline.day_first is {str(day_first).lower()})") from None
    found = _DAY_MONTH.match(value)
    if found:
        return _named(int(found.group(1)), found.group(2), int(found.group(3)), value)
    found = _MONTH_DAY.match(value)
    if found:
        return _named(int(found.group(2)), found.group(1), int(found.group(3)), value)
    raise ValueError("not a date: use 2026-02-03, 03/02/2026 or 3 Feb 2026")


def _named(day: int, month_name: str, year: int, value: str) -> date:
    month = _MONTHS.get(month_name.casefold())
    if month is None:
        raise ValueError(f"{month_name!r} is not a month name")
    return _checked(year, month, day, value)


def _checked(year: int, month: int, day: int, value: str) -> date:
    try:
        result = date(year, month, day)
    except ValueError:
        raise ValueError(f"no such day (year {year}, month {month}, day {day})") from None
    if not EARLIEST <= result <= LATEST:
        raise ValueError(f"outside the accepted range {EARLIEST.isoformat()} to {LATEST.isoformat()}")
    return result


def _header_map(fieldnames: Iterable[str] | None) -> dict[str, str]:
    """Our column -> the file's header, for the columns the file has."""
    if not fieldnames:
        raise BaselineFileError("the file is empty: a header line naming the columns comes first")
    present = {name.strip().casefold().replace(" ", "_").replace("-", "_"): name for name in fieldnames if name}
    mapping: dict[str, str] = {}
    for column, aliases in COLUMNS.items():
        for alias in aliases:
            if alias in present:
                mapping[column] = present[alias]
                break
    missing = [c for c in REQUIRED if c not in mapping]
    if missing:
        raise BaselineFileError(
            f"the header has no column {', '.join(missing)} (found: {', '.join(n for n in fieldnames if n)};"
            f" required: {', '.join(REQUIRED)})"
        )
    return mapping


def parse(text: str, config: OnboardingConfig, day_first: bool | None = None) -> Parsed:
    """Every row of an export, checked: the rows to load and every problem found."""
    first = config.settings.baseline.day_first if day_first is None else day_first
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    mapping = _header_map(reader.fieldnames)
    parsed = Parsed(columns=tuple(c for c in mapping if c not in REQUIRED))
    seen: dict[tuple[str, date], int] = {}
    for record in reader:
        line = reader.line_num
        values = {column: (record.get(header) or "").strip() for column, header in mapping.items()}
        if not any(values.values()):
            continue  # a blank line at the end of a spreadsheet export
        parsed.read += 1
        row = _row(line, values, config, first, parsed.problems)
        if row is None:
            continue
        key = (row.account_key, row.signed_on)
        if key in seen:
            parsed.problems.append(
                Problem(
                    line,
                    "account",
                    row.account,
                    f"duplicate of line {seen[key]}: the same account signed on {row.signed_on.isoformat()}",
                )
            )
            continue
        seen[key] = line
        parsed.rows.append(row)
    return parsed


def _row(
    line: int, values: dict[str, str], config: OnboardingConfig, day_first: bool, problems: list[Problem]
) -> BaselineRow | None:
    """One row checked; ``None`` (and its problems added) when anything is wrong with it."""
    found: list[Problem] = []

    def problem(column: str, why: str) -> None:
        found.append(Problem(line, column, values.get(column), why))

    account = " ".join(values["account"].split())
    if not account:
        problem("account", "missing: the account's name is needed")
    tier = _tier(values["tier"], config, problem)
    region = _region(values["region"], config, problem)
    dates: dict[str, date | None] = {}
    for column in ("signed_date", "first_value_date", "live_date"):
        text = values.get(column, "")
        if not text:
            if column == "signed_date":
                problem(column, "missing: the signing date is needed")
            dates[column] = None
            continue
        try:
            dates[column] = parse_date(text, day_first)
        except ValueError as exc:
            problem(column, str(exc))
            dates[column] = None
    _date_order(dates, problem)
    touches = _touches(values.get("touches", ""), problem)
    tracked = _yes_no(values.get("checklist_tracked", ""), problem)
    if found:
        problems.extend(found)
        return None
    assert tier is not None and region is not None and dates["signed_date"] is not None
    return BaselineRow(
        line, account, account_key(account), tier, values.get("segment") or None, region, dates["signed_date"],
        dates["first_value_date"], dates["live_date"], touches, tracked,
    )  # fmt: skip


def _tier(text: str, config: OnboardingConfig, problem: Any) -> str | None:
    if not text:
        problem("tier", "missing: the tier is needed to compare like with like")
        return None
    if text.casefold() in config.tiers:
        return text.casefold()
    routed = config.tier_for_crm_value(text)
    if routed is None:
        problem("tier", f"unknown tier (known: {', '.join(sorted(config.tiers))}, or a CRM value routing to one)")
        return None
    return routed.key


def _region(text: str, config: OnboardingConfig, problem: Any) -> str | None:
    if not text:
        problem("region", "missing: the region's holiday calendar counts the business days")
        return None
    for name in config.settings.regions:
        if name.casefold() == text.casefold():
            return name
    problem("region", f"unknown region (known: {', '.join(sorted(config.settings.regions))})")
    return None


def _date_order(dates: dict[str, date | None], problem: Any) -> None:
    signed, first, live = dates["signed_date"], dates["first_value_date"], dates["live_date"]
    if signed is not None and live is not None and live < signed:
        problem("live_date", f"{live.isoformat()} is before the signing date {signed.isoformat()}")
    if signed is not None and first is not None and first < signed:
        problem("first_value_date", f"{first.isoformat()} is before the signing date {signed.isoformat()}")
    if first is not None and live is not None and live < first and (signed is None or live >= signed):
        problem("first_value_date", f"{first.isoformat()} is after the live date {live.isoformat()}")


def _touches(text: str, problem: Any) -> int | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        problem("touches", "not a number")
        return None
    if value < 0 or value != int(value):
        problem("touches", "must be a whole number, 0 or more")
        return None
    return int(value)


def _yes_no(text: str, problem: Any) -> bool | None:
    folded = text.casefold()
    if folded in _YES:
        return True
    if folded in _NO:
        return False if folded else None
    problem("checklist_tracked", "use yes or no")
    return None


def read_text(raw: bytes) -> str:
    """The file's text: UTF-8 (with or without a byte order mark), else Windows-1252 as Excel saves it."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")
