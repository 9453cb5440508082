"""The customer's date of birth as the booking page asks it (pure: no I/O): GOV.UK's date input, a day, a month and a
year typed in three boxes, into the booking API's "YYYY-MM-DD", or why not in a sentence and which boxes are at
fault (GOV.UK's "date input" and its error messages). Optional: three empty boxes are no date. The API checks again
(422 `invalid_date_of_birth`); the bounds here are the API's (services/booking/privacy_rules.date_of_birth)."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

PARTS = ("day", "month", "year")
MAX_AGE_YEARS = 120
LABEL = "Date of birth"
# A month may be typed as its name or its first three letters ("march", "Mar"), as GOV.UK's pattern allows.
MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name} | {
    name.lower(): number for number, name in enumerate(calendar.month_abbr) if name
}
_NUMBER = re.compile(r"\d{1,2}")
_YEAR = re.compile(r"\d{4}")


@dataclass(frozen=True)
class BirthDate:
    value: str | None  # "YYYY-MM-DD" for the API; None if none was given (or it is wrong)
    error: str | None = None  # the sentence beside the field and in the error summary
    faulty: tuple[str, ...] = ()  # the boxes at fault ("day", "month", "year"), the first one linked to


def _anniversary(day: date, years: int) -> date:
    """As the API counts it: 29 February becomes 1 March in a year without one."""
    year = day.year + years
    if day.month == 2 and day.day == 29 and not calendar.isleap(year):
        return date(year, 3, 1)
    return day.replace(year=year)


def parse(day: str, month: str, year: str, today: date) -> BirthDate:
    """The three boxes as typed (spaces around ignored), checked against `today` (the clinic's)."""
    typed = {"day": day.strip(), "month": month.strip(), "year": year.strip()}
    if not any(typed.values()):
        return BirthDate(None)
    missing = [part for part in PARTS if not typed[part]]
    if missing:  # "Date of birth must include a month and year"
        return BirthDate(None, f"{LABEL} must include a {' and '.join(missing)}", tuple(missing))
    month_number = int(typed["month"]) if _NUMBER.fullmatch(typed["month"]) else MONTHS.get(typed["month"].lower(), 0)
    faulty = tuple(
        part
        for part, ok in (
            ("day", _NUMBER.fullmatch(typed["day"]) is not None and 1 <= int(typed["day"]) <= 31),
            ("month", 1 <= month_number <= 12),
            ("year", True),
        )
        if not ok
    )
    if not _YEAR.fullmatch(typed["year"]):
        return BirthDate(None, "Year of birth must include 4 numbers, like 2010", faulty + ("year",))
    if faulty:
        return BirthDate(None, f"{LABEL} must be a real date, like 27 3 2010", faulty)
    try:
        born = date(int(typed["year"]), month_number, int(typed["day"]))
    except ValueError:  # 31 April, 29 February of a common year
        return BirthDate(None, f"{LABEL} must be a real date, like 27 3 2010", PARTS)
    if born >= today:
        return BirthDate(None, f"{LABEL} must be in the past", PARTS)
    if born < _anniversary(today, -MAX_AGE_YEARS):
        return BirthDate(None, f"{LABEL} must be less than {MAX_AGE_YEARS} years ago", ("year",))
    return BirthDate(born.isoformat())
