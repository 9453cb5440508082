"""The catalogue's and the therapists' forms as the dashboard reads them (pure: no I/O): what was typed turned into
the clinic API's request bodies (a price in pounds into pence, credentials one a line, a week of time inputs into
hours and breaks, time off in the clinic's wall time into instants with their offset), the page's own messages
for what cannot be sent at all, and the API's 422 details put beside the inputs they are about.

The API decides (its rules are the booking service's); the page checks only what it must to build a request,
and the bounds it states in words (a price's least and most) so an owner reads pounds, not pence."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from shared.clinic_time import zone_name
from shared.money import money

Errors = dict[str, str]
Form = Mapping[str, str]

CURRENCY = "GBP"  # every clinic's, for now (the API refuses another)
# The booking API's bounds of a price, in pence (catalogue_admin.MIN_CARD_AMOUNT, MAX_PRICE): said in pounds here.
LEAST_PRICE = 50
MOST_PRICE = 500_000
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Rows the week's editor shows a day at least (more if the therapist has more): two periods (a split shift) and
# two breaks cover nearly every clinic without JavaScript to add rows.
ROWS_A_DAY = 2

_PRICE = re.compile(r"£?\s*(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?")
_WHOLE = re.compile(r"\d{1,6}")
_CLOCK = re.compile(r"([01]?[0-9]|2[0-3])[:.]?([0-5][0-9])")
_DAY_UK = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")
_PERIOD_INPUT = re.compile(r"([hb])([0-6])_(\d{1,2})_(start|end)")
_INTERNAL_REF = re.compile(r" \((?:hours|breaks)\.\d+\)")


# --- words --------------------------------------------------------------------------------------------------


def pounds(pence: int) -> str:
    """What a price input shows: '65.00' (no sign: the label says pounds)."""
    return f"{pence // 100}.{pence % 100:02d}"


def _api_words(message: str) -> str:
    """A pydantic message as a sentence's end: 'Input should be greater than …' → 'must be greater than …'."""
    message = _INTERNAL_REF.sub("", message.strip())
    return re.sub(r"^(Input|Value) should\b", "must", message) or "is not valid"


def api_errors(details: Any, fields: Mapping[str, tuple[str, str]], fallback: str) -> Errors:
    """The API's 422 `details` (`[{field, message}]`) beside the form's inputs: `fields` maps an API field (or the
    start of one: `price` takes `price.amount`) to (input name, its label); a field not known goes to `fallback`."""
    errors: Errors = {}
    for detail in details if isinstance(details, list) else ():
        if not isinstance(detail, dict):
            continue
        field = str(detail.get("field", ""))
        name, label = _field_of(field, fields) or (fallback, "")
        if name not in errors:
            words = _api_words(str(detail.get("message") or ""))
            if sentence := bound_sentence(name, words):
                errors[name] = sentence
            elif not label:
                errors[name] = words[:1].upper() + words[1:]
            else:  # "Price must be …", "Slug: another treatment has …"
                errors[name] = f"{label} {words}" if words.startswith(("must ", "is ")) else f"{label}: {words}"
    return errors


# How a number's limit is said, by the form's input: its subject, and the unit it counts (None: the price, in pence).
NUMBER_SUBJECTS: dict[str, tuple[str, str | None]] = {
    "duration": ("The length", "minute"),
    "buffer_before": ("The time kept free before", "minute"),
    "buffer_after": ("The time kept free after", "minute"),
    "sessions": ("The number of sessions", ""),
    "min_days": ("The fewest days between sessions", "day"),
    "max_days": ("The most days between sessions", "day"),
    "price": ("The price", None),
}
_BOUND = re.compile(r"must be (greater|less) than( or equal to)? (-?\d+)")


def bound_sentence(name: str, words: str) -> str | None:
    """The API's limit on a number ('must be greater than or equal to 5') as a receptionist says it ('The length
    must be at least 5 minutes'); None for an input or words it is not about."""
    found, subject = _BOUND.fullmatch(words), NUMBER_SUBJECTS.get(name)
    if found is None or subject is None:
        return None
    noun, unit = subject
    above, inclusive, limit = found.group(1) == "greater", bool(found.group(2)), int(found.group(3))
    if not inclusive:  # whole numbers: more than 4 is at least 5
        limit += 1 if above else -1
    if unit is None:
        amount = money(limit, CURRENCY)
    else:
        amount = f"{limit} {unit}{'' if limit == 1 or not unit else 's'}".strip()
    return f"{noun} must be at least {amount}" if above else f"{noun} must be {amount} or less"


def _field_of(field: str, fields: Mapping[str, tuple[str, str]]) -> tuple[str, str] | None:
    parts = field.split(".")
    for end in range(len(parts), 0, -1):
        if (found := fields.get(".".join(parts[:end]))) is not None:
            return found
    return None


# --- numbers and money --------------------------------------------------------------------------------------


def price_pence(text: str) -> tuple[int | None, str | None]:
    """'65', '65.5', '65.00', '£1,250.00' → pence; else (None, the message)."""
    text = text.strip()
    if not text:
        return None, "Enter the price in pounds, like 65.00"
    if text.lstrip("£ ").startswith("-"):
        return None, "The price must be 0.00 (free) or more"
    found = _PRICE.fullmatch(text)
    if found is None:
        return None, "Enter the price in pounds and pence, like 65.00"
    pence = int(found.group(1).replace(",", "")) * 100 + int((found.group(2) or "0").ljust(2, "0"))
    if 0 < pence < LEAST_PRICE:
        return None, f"The price must be 0.00 (free) or at least {pounds(LEAST_PRICE)}, the least a card can pay"
    if pence > MOST_PRICE:
        return None, f"The price must be {money(MOST_PRICE, CURRENCY)} or less"
    return pence, None


def whole_number(text: str, label: str) -> tuple[int | None, str | None]:
    """A count typed in (minutes, days, sessions): digits only."""
    text = text.strip()
    if not text:
        return None, f"Enter {label}"
    if not _WHOLE.fullmatch(text):
        return None, f"{label[:1].upper()}{label[1:]} must be a whole number, like 60"
    return int(text), None


def _numbers(form: Form, wanted: Iterable[tuple[str, str]], errors: Errors) -> dict[str, int]:
    found = {}
    for name, label in wanted:
        value, problem = whole_number(form.get(name, ""), label)
        if problem:
            errors[name] = problem
        elif value is not None:
            found[name] = value
    return found


def _optional_slug(form: Form) -> dict[str, str]:
    slug = form.get("slug", "").strip()
    return {"slug": slug} if slug else {}


# --- treatments and courses ---------------------------------------------------------------------------------

TREATMENT_FIELDS = {
    "name": ("name", "Name"),
    "slug": ("slug", "Web address name"),
    "description": ("description", "Description"),
    "duration_minutes": ("duration", "Length in minutes"),
    "buffer_before_minutes": ("buffer_before", "Minutes kept free before"),
    "buffer_after_minutes": ("buffer_after", "Minutes kept free after"),
    "price": ("price", "Price"),
    "requires_screening": ("requires_screening", "Health questions"),
}
COURSE_FIELDS = {
    "name": ("name", "Name"),
    "slug": ("slug", "Web address name"),
    "description": ("description", "Description"),
    "treatment": ("treatment", "Treatment"),
    "sessions": ("sessions", "Number of sessions"),
    "spacing.min_days_between": ("min_days", "Fewest days between sessions"),
    "spacing.max_days_between": ("max_days", "Most days between sessions"),
    "spacing": ("max_days", "Most days between sessions"),
    "price": ("price", "Price"),
}


def _named(form: Form, errors: Errors, what: str) -> str:
    name = form.get("name", "").strip()
    if not name:
        errors["name"] = f"Enter the {what}'s name"
    return name


def _price(form: Form, errors: Errors) -> dict[str, Any]:
    pence, problem = price_pence(form.get("price", ""))
    if problem:
        errors["price"] = problem
        return {}
    return {"price": {"amount": pence, "currency": CURRENCY}}


def treatment_body(form: Form) -> tuple[dict[str, Any], Errors]:
    """A treatment's request body (create and change alike: a change gives every field) and the page's errors."""
    errors: Errors = {}
    name = _named(form, errors, "treatment")
    numbers = _numbers(
        form,
        (
            ("duration", "the length in minutes"),
            ("buffer_before", "the minutes to keep free before (0 for none)"),
            ("buffer_after", "the minutes to keep free after (0 for none)"),
        ),
        errors,
    )
    body: dict[str, Any] = {
        "name": name,
        **_optional_slug(form),
        "description": form.get("description", "").strip(),
        "requires_screening": form.get("requires_screening") == "yes",
        **_price(form, errors),
    }
    for name_, api_name in (
        ("duration", "duration_minutes"),
        ("buffer_before", "buffer_before_minutes"),
        ("buffer_after", "buffer_after_minutes"),
    ):
        if name_ in numbers:
            body[api_name] = numbers[name_]
    return body, errors


def course_body(form: Form, *, new: bool) -> tuple[dict[str, Any], Errors]:
    """A course's request body; its treatment only when it is made (a course keeps the treatment it is of)."""
    errors: Errors = {}
    name = _named(form, errors, "course")
    numbers = _numbers(
        form,
        (
            ("sessions", "the number of sessions"),
            ("min_days", "the fewest days between sessions"),
            ("max_days", "the most days between sessions"),
        ),
        errors,
    )
    body: dict[str, Any] = {
        "name": name,
        **_optional_slug(form),
        "description": form.get("description", "").strip(),
        **_price(form, errors),
    }
    if new:
        treatment = form.get("treatment", "").strip()
        if not treatment:
            errors["treatment"] = "Choose the treatment the course is of"
        body["treatment"] = treatment
    if "sessions" in numbers:
        body["sessions"] = numbers["sessions"]
    if "min_days" in numbers and "max_days" in numbers:
        body["spacing"] = {"min_days_between": numbers["min_days"], "max_days_between": numbers["max_days"]}
    return body, errors


def treatment_values(treatment: Mapping[str, Any]) -> dict[str, str]:
    """A treatment as its edit form shows it."""
    return {
        "name": treatment["name"],
        "slug": treatment["slug"],
        "description": treatment.get("description") or "",
        "duration": str(treatment["duration_minutes"]),
        "buffer_before": str(treatment["buffer_before_minutes"]),
        "buffer_after": str(treatment["buffer_after_minutes"]),
        "price": pounds(treatment["price"]["amount"]),
        "requires_screening": "yes" if treatment["requires_screening"] else "",
    }


def course_values(course: Mapping[str, Any]) -> dict[str, str]:
    return {
        "name": course["name"],
        "slug": course["slug"],
        "description": course.get("description") or "",
        "treatment": course["treatment"],
        "sessions": str(course["sessions"]),
        "min_days": str(course["spacing"]["min_days_between"]),
        "max_days": str(course["spacing"]["max_days_between"]),
        "price": pounds(course["price"]["amount"]),
    }


def moved(ids: Sequence[str], one: str, direction: str) -> list[str] | None:
    """The list with `one` moved a place up or down; None if it is not there or cannot move that way."""
    if one not in ids or direction not in ("up", "down"):
        return None
    at = list(ids).index(one)
    to = at - 1 if direction == "up" else at + 1
    if not 0 <= to < len(ids):
        return None
    order = list(ids)
    order[at], order[to] = order[to], order[at]
    return order


# --- therapists' profiles -----------------------------------------------------------------------------------

THERAPIST_FIELDS = {
    "name": ("name", "Name"),
    "slug": ("slug", "Web address name"),
    "bio": ("bio", "About them"),
    "credentials": ("credentials", "Qualifications"),
    "treatments": ("treatments", "Treatments"),
}


def credential_lines(text: str) -> list[str]:
    """One a line, blank lines and repeats left out."""
    return list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))


def therapist_body(form: Form, treatments: Sequence[str]) -> tuple[dict[str, Any], Errors]:
    errors: Errors = {}
    name = _named(form, errors, "therapist")
    body = {
        "name": name,
        **_optional_slug(form),
        "bio": form.get("bio", "").strip(),
        "credentials": credential_lines(form.get("credentials", "")),
        "treatments": list(dict.fromkeys(treatments)),
    }
    return body, errors


# --- a week of hours and breaks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Day:
    """One weekday of the editor: its rows of working periods and of breaks (each row's input prefix)."""

    weekday: int
    name: str
    periods: tuple[str, ...]
    breaks: tuple[str, ...]


def _prefix(kind: str, weekday: int, row: int) -> str:
    return f"{kind}{weekday}_{row}"


def week_values(hours: Iterable[Mapping[str, Any]], breaks: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The API's week as the editor's inputs: each day's periods and breaks in start order."""
    values: dict[str, str] = {}
    for kind, items in (("h", hours), ("b", breaks)):
        rows = [0] * len(WEEKDAYS)
        for item in sorted(items, key=lambda i: (i["weekday"], i["start"])):
            prefix = _prefix(kind, item["weekday"], rows[item["weekday"]])
            rows[item["weekday"]] += 1
            values[f"{prefix}_start"], values[f"{prefix}_end"] = item["start"], item["end"]
    return values


def week_days(values: Mapping[str, str]) -> list[Day]:
    """The editor's days, with at least ROWS_A_DAY rows of each kind, and a row for every value given."""
    rows = {(kind, day): ROWS_A_DAY for kind in "hb" for day in range(len(WEEKDAYS))}
    for name in values:
        if found := _PERIOD_INPUT.fullmatch(name):
            key = (found.group(1), int(found.group(2)))
            rows[key] = max(rows[key], int(found.group(3)) + 1)
    return [
        Day(
            day,
            WEEKDAYS[day],
            tuple(_prefix("h", day, row) for row in range(rows["h", day])),
            tuple(_prefix("b", day, row) for row in range(rows["b", day])),
        )
        for day in range(len(WEEKDAYS))
    ]


def week_inputs(form: Form) -> dict[str, str]:
    """The editor's inputs as sent (only its own, trimmed), to show again or to send again."""
    return {name: str(value).strip() for name, value in form.items() if _PERIOD_INPUT.fullmatch(name)}


def clock(text: str) -> str | None:
    """'9:00', '09:00', '0900', '9.00' → '09:00'; None if it is not a time of day."""
    found = _CLOCK.fullmatch(text.strip())
    return f"{int(found.group(1)):02d}:{found.group(2)}" if found else None


def _row_label(kind: str, weekday: int, row: int) -> str:
    what = "working period" if kind == "h" else "break"
    return f"{WEEKDAYS[weekday]}, {what} {row + 1}"


@dataclass(frozen=True)
class Week:
    """A week's request body, and for each of its hours and breaks (by position) the input row it came from."""

    body: dict[str, Any]
    rows: dict[str, list[tuple[str, str]]]  # "hours"/"breaks" → [(input prefix, its label)]


def week_body(values: Mapping[str, str]) -> tuple[Week, Errors]:
    """The week the inputs say (a row with neither time is no period), or the page's errors: a time that is not
    one, or a row with one time of two. Whether periods overlap or breaks fit is the API's to say."""
    errors: Errors = {}
    body: dict[str, list[dict[str, Any]]] = {"hours": [], "breaks": []}
    rows: dict[str, list[tuple[str, str]]] = {"hours": [], "breaks": []}
    for day in week_days(values):
        for kind, prefixes in (("h", day.periods), ("b", day.breaks)):
            for row, prefix in enumerate(prefixes):
                label = _row_label(kind, day.weekday, row)
                start_text, end_text = values.get(f"{prefix}_start", ""), values.get(f"{prefix}_end", "")
                if not start_text and not end_text:
                    continue
                start, end = clock(start_text), clock(end_text)
                for name, text, parsed, which in (
                    (f"{prefix}_start", start_text, start, "start"),
                    (f"{prefix}_end", end_text, end, "end"),
                ):
                    if not text:
                        errors[name] = f"{label}: enter the {which} time too, or leave both empty"
                    elif parsed is None:
                        errors[name] = f"{label}: enter the {which} time like 09:00 or 17:30"
                if start and end:
                    key = "hours" if kind == "h" else "breaks"
                    body[key].append({"weekday": day.weekday, "start": start, "end": end})
                    rows[key].append((prefix, label))
    return Week(dict(body), rows), errors


def week_api_errors(details: Any, week: Week) -> Errors:
    """The API's 422 about `hours.3.end`, `breaks.1`, … beside the inputs they came from ('hours.3' alone:
    its start)."""
    errors: Errors = {}
    for detail in details if isinstance(details, list) else ():
        if not isinstance(detail, dict):
            continue
        parts = str(detail.get("field", "")).split(".")
        if len(parts) < 2 or parts[0] not in week.rows or not parts[1].isdigit():
            continue
        position = int(parts[1])
        if position >= len(week.rows[parts[0]]):
            continue
        prefix, label = week.rows[parts[0]][position]
        name = f"{prefix}_{'end' if parts[2:3] == ['end'] else 'start'}"
        words = _api_words(str(detail.get("message") or ""))
        if parts[0] == "hours" and detail.get("type") == "end_not_after_start":
            words += past_midnight(int(prefix[1]))
        errors.setdefault(name, f"{label}: {words}")
    return errors


def past_midnight(weekday: int) -> str:
    """How to enter hours that run past midnight (an end before its start, e.g. 22:00 to 02:00), which the API
    cannot take as one period: a day's hours end by its midnight."""
    return (
        f". A day's hours end by midnight: for hours past it, end this period at 23:59 and add one from 00:00 on "
        f"{WEEKDAYS[(weekday + 1) % len(WEEKDAYS)]}"
    )


# --- time off, in the clinic's wall time --------------------------------------------------------------------

TIME_OFF_INPUTS = ("off_from_day", "off_from_time", "off_to_day", "off_to_time", "off_reason")


def parse_day(text: str) -> date | None:
    """'2026-12-24' (a date input) or '24/12/2026' (typed where dates are text)."""
    text = text.strip()
    try:
        if found := _DAY_UK.fullmatch(text):
            return date(int(found.group(3)), int(found.group(2)), int(found.group(1)))
        return date.fromisoformat(text)
    except ValueError:
        return None


def wall_instant(day: date, wall: time, zone: ZoneInfo) -> datetime | None:
    """The instant the clinic's clocks show `wall` on `day` (the first, when the clocks go back and show it twice);
    None if they never show it (the hour skipped when they go forward)."""
    local = datetime.combine(day, wall, tzinfo=zone)
    if local.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        return None
    return local


def time_off_body(form: Form, zone: ZoneInfo) -> tuple[dict[str, Any], Errors]:
    """Time off from the first day (at its time, or its start) to the last day (at its time, or its end), in the
    clinic's zone, as instants with their offset (DST-correct: each end its own offset)."""
    errors: Errors = {}
    values = {name: form.get(name, "").strip() for name in TIME_OFF_INPUTS}
    first = parse_day(values["off_from_day"])
    if not values["off_from_day"]:
        errors["off_from_day"] = "Enter the first day of the time off"
    elif first is None:
        errors["off_from_day"] = "Enter the first day as a real date, like 24/12/2026"
    last = parse_day(values["off_to_day"]) if values["off_to_day"] else first
    if values["off_to_day"] and last is None:
        errors["off_to_day"] = "Enter the last day as a real date, like 28/12/2026"
    walls: dict[str, time | None] = {}
    for name in ("off_from_time", "off_to_time"):
        text = values[name]
        parsed = clock(text) if text else None
        if text and parsed is None:
            errors[name] = "Enter the time like 09:00 or 17:30, or leave it empty for the whole day"
        walls[name] = time.fromisoformat(parsed) if parsed else None
    if errors or first is None or last is None:
        return {}, errors
    start = wall_instant(first, walls["off_from_time"] or time(0), zone)
    to_wall = walls["off_to_time"]
    end = wall_instant(last, to_wall, zone) if to_wall else wall_instant(last + timedelta(days=1), time(0), zone)
    for name, instant, day, wall in (
        ("off_from_time", start, first, walls["off_from_time"]),
        ("off_to_time", end, last, to_wall),
    ):
        if instant is None:
            shown = wall.strftime("%H:%M") if wall else "00:00"
            errors[name] = (
                f"{shown} does not happen on {day.day} {day:%B %Y} in {zone_name(zone)}: the clocks go forward an "
                "hour then. Choose a time outside that hour"
            )
    if start is None or end is None:
        return {}, errors
    if end <= start:
        errors["off_to_day" if not to_wall else "off_to_time"] = "The time off must end after it starts"
        return {}, errors
    return {"start": start.isoformat(), "end": end.isoformat(), "reason": values["off_reason"]}, errors


TIME_OFF_FIELDS = {
    "start": ("off_from_day", "Start"),
    "end": ("off_to_day", "End"),
    "reason": ("off_reason", "Reason"),
}
