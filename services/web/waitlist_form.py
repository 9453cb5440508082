"""The waitlist's words and its join form (pure): what a customer asked for (days, times of day) in words, as the
confirmation page and the dashboard say it; the form read and checked, field by field, into the waitlist API's body;
and the API's refusal put beside the field it is about."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")  # 0 = Monday, as the API
# The API's times of day (clinic wall time), each with its label and its hours in words.
TIMES_OF_DAY = (
    ("morning", "Morning", "before 12:00"),
    ("afternoon", "Afternoon", "12:00 to 17:00"),
    ("evening", "Evening", "from 17:00"),
)
ANY_THERAPIST = "any"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_NAME = 200
MAX_EMAIL = 254
STATUS_LABELS = {
    "waiting": "Waiting",
    "offered": "Offered a time",
    "booked": "Booked",
    "left": "Left the waitlist",
    "removed": "Removed",
}
# The API's fields (or the last part of their path, e.g. customer.email) → the form's.
API_FIELDS = {
    "email": "email",
    "name": "name",
    "therapist": "therapist",
    "weekdays": "weekdays",
    "times_of_day": "times_of_day",
}


class Form(Protocol):
    """A posted form: one value of a name, or all of them (aiohttp's MultiDict)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def getall(self, key: str, default: Any = ...) -> list[Any]: ...


def _or(words: Sequence[str]) -> str:
    """'a', 'a or b', 'a, b or c'."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def weekdays_in_words(weekdays: Iterable[int]) -> str:
    """'Mondays or Wednesdays'; none chosen (or all seven): 'any day'."""
    chosen = sorted({day for day in weekdays if 0 <= day < len(WEEKDAYS)})
    if not chosen or len(chosen) == len(WEEKDAYS):
        return "any day"
    return _or([f"{WEEKDAYS[day]}s" for day in chosen])


def times_in_words(times_of_day: Iterable[str]) -> str:
    """'mornings (before 12:00) or evenings (from 17:00)'; none chosen (or all three): 'any time of day'."""
    chosen = set(times_of_day)
    named = [f"{label.lower()}s ({hours})" for value, label, hours in TIMES_OF_DAY if value in chosen]
    if not named or len(named) == len(TIMES_OF_DAY):
        return "any time of day"
    return _or(named)


def wishes_in_words(weekdays: Iterable[int], times_of_day: Iterable[str]) -> str:
    """'Mondays or Wednesdays, mornings (before 12:00)'; nothing chosen: 'Any day, any time of day'."""
    words = f"{weekdays_in_words(weekdays)}, {times_in_words(times_of_day)}"
    return words[0].upper() + words[1:]


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status.replace("_", " ").capitalize())


@dataclass(frozen=True)
class Join:
    """The join form read: what was typed (shown again after an error), each field's error, and when there is
    none, the body for POST /api/v1/waitlist."""

    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None


def read_join(form: Form, clinic: str, treatment: str, therapists: Collection[str]) -> Join:
    """The form of the join page for `treatment` at `clinic`, whose therapists (ids) giving it are `therapists`."""
    therapist = str(form.get("therapist", ANY_THERAPIST) or ANY_THERAPIST)
    day_values = [str(v) for v in form.getall("weekdays", [])]
    time_values = [str(v) for v in form.getall("times_of_day", [])]
    values: dict[str, Any] = {
        "therapist": therapist,
        "weekdays": day_values,
        "times_of_day": time_values,
        "name": str(form.get("name", "")).strip(),
        "email": str(form.get("email", "")).strip(),
    }
    errors: dict[str, str] = {}
    if therapist != ANY_THERAPIST and therapist not in therapists:
        errors["therapist"] = "Choose a therapist, or no preference"
    days = sorted({int(v) for v in day_values if v.isdigit() and int(v) < len(WEEKDAYS)})
    if len(days) != len(set(day_values)):
        errors["weekdays"] = "Choose days from the list"
    known_times = [value for value, _, _ in TIMES_OF_DAY]
    times = [value for value in known_times if value in time_values]
    if len(times) != len(set(time_values)):
        errors["times_of_day"] = "Choose times of day from the list"
    if not values["name"]:
        errors["name"] = "Enter your full name"
    elif len(values["name"]) > MAX_NAME:
        errors["name"] = f"Your name must be {MAX_NAME} characters or fewer"
    if not values["email"]:
        errors["email"] = "Enter your email address"
    elif not EMAIL.match(values["email"]) or len(values["email"]) > MAX_EMAIL:
        errors["email"] = "Enter an email address like name@example.com"
    if errors:
        return Join(values, errors)
    body: dict[str, Any] = {
        "clinic": clinic,
        "treatment": treatment,
        "weekdays": days,
        "times_of_day": times,
        "customer": {"name": values["name"], "email": values["email"]},
    }
    if therapist != ANY_THERAPIST:
        body["therapist"] = therapist
    return Join(values, body=body)


def refused_errors(message: str, details: Any) -> dict[str, str]:
    """The API's refusal (422) beside the fields it names (its details: [{field, message}]); a refusal that names
    no field of the form goes beside the email (e.g. too many places on waitlists for one address)."""
    errors: dict[str, str] = {}
    for detail in details if isinstance(details, list) else ():
        if not isinstance(detail, dict):
            continue
        name = API_FIELDS.get(str(detail.get("field", "")).rsplit(".", 1)[-1].split("[", 1)[0])
        if name and name not in errors:
            errors[name] = str(detail.get("message") or message or "Check this")
    return errors or {"email": message or "Check this"}
