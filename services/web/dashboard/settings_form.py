"""The Settings page's form as the dashboard reads it (pure: no I/O): the clinic API's settings object
(GET /api/v1/clinic/settings) into what the inputs show, what was typed back into a PATCH body of the settings that
changed (reminders typed in hours before the visit become minutes, voucher amounts in pounds become pence, the
embedding websites one a line become a list), and the API's 422 details beside the inputs they are about, in words.

The API decides (its rules are the booking service's clinic_settings); the page checks only what it must to build
a request: that a number is a number, an amount an amount."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from shared.money import money

Errors = dict[str, str]
CURRENCY = "GBP"  # every clinic's, for now: the amounts are typed in pounds


@dataclass(frozen=True)
class Setting:
    api: str  # the API's field
    input: str  # the form's input (its id and name)
    noun: str  # how a message names it: "The booking horizon"
    kind: str = "text"  # text | multiline | whole | pounds | hours | lines
    unit: str = ""  # a whole number's unit, for its message


SETTINGS: tuple[Setting, ...] = (
    Setting("name", "name", "The clinic's name"),
    Setting("address", "address", "The address", "multiline"),
    Setting("email", "email", "The contact email"),
    Setting("phone", "phone", "The contact phone number"),
    Setting("timezone", "timezone", "The time zone"),
    Setting("booking_horizon_days", "booking_horizon_days", "The booking horizon", "whole", "days"),
    Setting("min_notice_minutes", "min_notice_minutes", "The minimum notice", "whole", "minutes"),
    Setting("slot_step_minutes", "slot_step_minutes", "The time between start times", "whole", "minutes"),
    Setting("hold_minutes", "hold_minutes", "The time a chosen slot is held", "whole", "minutes"),
    Setting("change_window_hours", "change_window_hours", "The change window", "whole", "hours"),
    Setting("reminder_offsets_minutes", "reminder_hours", "Each reminder", "hours"),
    Setting("policy_message", "policy_message", "The cancellation policy", "multiline"),
    Setting("voucher_validity_months", "voucher_validity_months", "How long a voucher is valid", "whole", "months"),
    Setting("voucher_min_amount", "voucher_min_amount", "The smallest voucher amount", "pounds"),
    Setting("voucher_max_amount", "voucher_max_amount", "The largest voucher amount", "pounds"),
    Setting("embed_origins", "embed_origins", "Each website", "lines"),
)
BY_API = {s.api: s for s in SETTINGS}
INPUTS = tuple(s.input for s in SETTINGS)
# Settings the API clears with an empty text (and shows as null).
CLEARABLE = frozenset({"address", "email", "phone"})
TEXT_MAX = 5000  # more than any setting takes (the API says each one's limit): only to bound the work here

_WHOLE = re.compile(r"\d{1,9}")
_POUNDS = re.compile(r"£?\s*(\d{1,7})(?:\.(\d{1,2}))?")
_HOURS = re.compile(r"\d{1,5}(?:\.\d{1,2})?")
_AT_LEAST = re.compile(r"greater than or equal to (\d+)")
_AT_MOST = re.compile(r"less than or equal to (\d+)")
_MULTIPLE = re.compile(r"multiple of (\d+)")
_CHARS_MAX = re.compile(r"String should have at most (\d+) characters?")
_ITEMS_MAX = re.compile(r"List should have at most (\d+) items?")


# --- the settings into the form ------------------------------------------------------------------------------------


def pounds(pence: int) -> str:
    """What an amount input shows: '25.00' (the label says pounds)."""
    return f"{pence // 100}.{pence % 100:02d}"


def hours(minutes: int) -> str:
    """A reminder's offset as hours: 1440 → '24', 30 → '0.5', 25 → '0.42' (typed back, it is 25 minutes again)."""
    if minutes % 60 == 0:
        return str(minutes // 60)
    return str((Decimal(minutes) / 60).quantize(Decimal("0.01"), ROUND_HALF_UP).normalize())


def form_values(settings: Mapping[str, Any]) -> dict[str, str]:
    """The inputs' values for the settings as they are."""
    values = {}
    for setting in SETTINGS:
        value = settings.get(setting.api)
        if setting.kind == "pounds":
            values[setting.input] = pounds(int(value or 0))
        elif setting.kind == "hours":
            values[setting.input] = ", ".join(hours(int(m)) for m in value or ())
        elif setting.kind == "lines":
            values[setting.input] = "\n".join(value or ())
        else:
            values[setting.input] = "" if value is None else str(value)
    return values


# --- the form into a change ----------------------------------------------------------------------------------------


def _text(raw: str) -> str:
    """Browsers send a text area's lines with CRLF; the API keeps them as LF."""
    return raw[:TEXT_MAX].replace("\r\n", "\n").replace("\r", "\n").strip()


@dataclass(frozen=True)
class Read:
    values: dict[str, str]  # what was typed, to show again
    body: dict[str, Any]  # every setting, as the API's body names it (only when there are no errors)
    errors: Errors


def read_form(form: Mapping[str, str]) -> Read:
    """What was typed, as the API's values; the page's own message for what cannot be sent at all."""
    values: dict[str, str] = {}
    body: dict[str, Any] = {}
    errors: Errors = {}
    for setting in SETTINGS:
        raw = str(form.get(setting.input, ""))
        text = _text(raw)
        values[setting.input] = text
        if setting.kind == "whole":
            if _WHOLE.fullmatch(text) is None:
                errors[setting.input] = f"Enter {_lower(setting.noun)} as a whole number of {setting.unit}"
            else:
                body[setting.api] = int(text)
        elif setting.kind == "pounds":
            match = _POUNDS.fullmatch(text.replace(",", ""))
            if match is None:
                errors[setting.input] = f"Enter {_lower(setting.noun)} in pounds, like 25 or 25.50"
            else:
                body[setting.api] = int(match[1]) * 100 + int((match[2] or "0").ljust(2, "0"))
        elif setting.kind == "hours":
            parts = [part.strip() for part in text.split(",") if part.strip()]
            if not parts:
                errors[setting.input] = "Enter when reminders are sent, in hours before the visit, like 24, 2"
            elif not all(_HOURS.fullmatch(part) for part in parts):
                errors[setting.input] = (
                    "Enter the hours before the visit as numbers separated by commas, like 24, 2 or 0.5"
                )
            else:
                body[setting.api] = [int((Decimal(part) * 60).quantize(Decimal(1), ROUND_HALF_UP)) for part in parts]
        elif setting.kind == "lines":
            body[setting.api] = [line.strip() for line in text.split("\n") if line.strip()]
        else:
            body[setting.api] = text
    return Read(values, body if not errors else {}, errors)


def changes(body: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The settings the form changes, as a PATCH body: a field the owner left as it was is not sent (its rules are
    then not judged again, as the API does for a field not given)."""
    changed = {}
    for name, value in body.items():
        now = current.get(name)
        if name in CLEARABLE:
            now = now or ""
        if name == "reminder_offsets_minutes":
            same = sorted(set(value), reverse=True) == list(now or ())
        else:
            same = value == now
        if not same:
            changed[name] = value
    return changed


# --- the API's refusal beside the inputs ------------------------------------------------------------------------


def _lower(noun: str) -> str:
    return noun[:1].lower() + noun[1:]


def _duration(minutes: int) -> str:
    if minutes % 1440 == 0:
        return f"{minutes // 1440} day{'s' if minutes != 1440 else ''}"
    if minutes % 60 == 0:
        return f"{minutes // 60} hour{'s' if minutes != 60 else ''}"
    return f"{minutes} minutes"


def _bound(setting: Setting, number: int, least: bool) -> str:
    if setting.kind == "pounds":
        return f"must be {money(number, CURRENCY)} or {'more' if least else 'less'}"
    if setting.kind == "hours":
        return f"must be {'at least' if least else 'at most'} {_duration(number)} before the visit"
    unit = f" {setting.unit.removesuffix('s') if number == 1 else setting.unit}" if setting.unit else ""
    return f"must be {number}{unit} or {'more' if least else 'less'}"


def _words(setting: Setting, message: str, kind: str, index: int | None, values: Mapping[str, str]) -> str:
    """One detail of the API's 422 as a sentence about the input."""
    if kind == "voucher_amounts_crossed":
        return "The smallest voucher amount must not be more than the largest"
    if kind == "notice_beyond_horizon":
        return "The minimum notice must be shorter than the booking horizon, or nothing could be booked online"
    subject = setting.noun
    if setting.kind == "lines" and index is not None:
        lines = [line.strip() for line in values.get(setting.input, "").split("\n") if line.strip()]
        shown = f" ({lines[index]})" if index < len(lines) else ""
        subject = f"The website on line {index + 1}{shown}"
    if match := _ITEMS_MAX.search(message):
        what = "reminders" if setting.kind == "hours" else "websites"
        return f"You can have at most {match[1]} {what}"
    if kind == "too_short" and setting.kind == "hours":
        return "Enter when reminders are sent, in hours before the visit, like 24, 2"
    if kind == "string_too_short":
        return f"{subject} must not be empty"
    if match := _CHARS_MAX.search(message):
        return f"{subject} must be {match[1]} characters or fewer"
    if match := _AT_LEAST.search(message):
        return f"{subject} {_bound(setting, int(match[1]), True)}"
    if match := _AT_MOST.search(message):
        return f"{subject} {_bound(setting, int(match[1]), False)}"
    if match := _MULTIPLE.search(message):
        return f"{subject} must be a multiple of {match[1]}{' ' + setting.unit if setting.unit else ''}"
    message = message.strip()
    if message.startswith(("must", "has ")):
        return f"{subject} {message}"
    return f"{subject}: {message}" if message else f"{subject} is not valid"


def api_errors(details: Any, values: Mapping[str, str]) -> Errors:
    """The API's 422 `details` ([{field, message, type}]) beside the inputs, the first per input, in the form's
    order; a detail about no setting of the form is left out (the caller says something went wrong if none is left)."""
    found: Errors = {}
    for detail in details if isinstance(details, Sequence) and not isinstance(details, str) else ():
        if not isinstance(detail, Mapping):
            continue
        parts = str(detail.get("field", "")).split(".")
        setting = BY_API.get(parts[0])
        if setting is None or setting.input in found:
            continue
        index = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        found[setting.input] = _words(
            setting, str(detail.get("message", "")), str(detail.get("type", "")), index, values
        )
    return {name: found[name] for name in INPUTS if name in found}
