"""What a request may carry, decided once for every service (pure: no I/O, no web framework).

- JSON no deeper than MAX_JSON_DEPTH, checked on the raw bytes before a recursive parser sees them.
- Text that PostgreSQL can store and that a page, a log line or an email header shows as it is: no NUL
  (a `text` column cannot hold it), no unpaired surrogates (not encodable as UTF-8), no other control
  characters; line breaks and tabs only where a field is meant to span lines.
- Instants and days in a window where date arithmetic cannot overflow (a `9999-12-31T23:59:59-12:00`
  is a valid ISO 8601 string, and one past what Python and PostgreSQL can hold once in UTC).

`StrictModel` is the base of every request body: it applies the text rules to every string it holds
(dict keys and list items included), and `Instant` / `Day` are the only datetime and date field types.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from itertools import accumulate
from typing import Annotated, Any, ClassVar, Iterator

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

MAX_JSON_DEPTH = 32
# The largest value of a PostgreSQL `integer`: the bound of every count or amount a client may send.
PG_INTEGER_MAX = 2**31 - 1

# The window of every instant and day a client may send. Wide enough for any booking, filter or
# voucher; narrow enough that a day's worth of padding, a year of validity or a time zone never overflows.
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2200, 1, 1, tzinfo=timezone.utc)
FIRST_DAY = EARLIEST.date()
LAST_DAY = date(2199, 12, 31)

# C0 and C1 controls, DEL, unpaired surrogates and the two non-characters U+FFFE/U+FFFF are refused in
# all text; a one-line field (a name, an email, a phone) also refuses line and paragraph separators.
_NOT_IN_TEXT = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff"
_NOT_IN_LINE = re.compile(f"[{_NOT_IN_TEXT}\t\n\r\u2028\u2029]")
_NOT_IN_MULTILINE = re.compile(f"[{_NOT_IN_TEXT}]")
_LINE_BREAKS = frozenset("\n\r\u2028\u2029")
_SURROGATE = re.compile("[\ud800-\udfff]")

# JSON string literals (escapes included): their brackets are text, not structure.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_too_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Does this JSON text nest arrays and objects more than `limit` deep? Linear, and no recursion:
    for bodies json.loads and pydantic would otherwise recurse into until they fail."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # the usual body: too few brackets to be that deep
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    return max(accumulate(_DEPTH_STEP[b] for b in brackets), default=0) > limit


def _described(char: str) -> str:
    if char == "\x00":
        return "a NUL character"
    if "\ud800" <= char <= "\udfff":
        return "an unpaired surrogate"
    if char in _LINE_BREAKS:
        return "a line break"
    if char == "\t":
        return "a tab"
    return "a control character"


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why this text may not be stored, or None if it may."""
    found = (_NOT_IN_MULTILINE if multiline else _NOT_IN_LINE).search(value)
    if found is None:
        return None
    char = found.group()
    return f"must not contain {_described(char)} (U+{ord(char):04X} at character {found.start() + 1})"


def strings_in(value: Any) -> Iterator[str]:
    """Every string inside a parsed JSON value or validated field: itself, list items, dict keys and values."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            pending.extend(item)


def surrogate_path(value: Any) -> str | None:
    """Where in a parsed JSON value a string (or key) holds an unpaired surrogate, as a dotted field path
    (`customer.name`, `answers.<key>`); None if nowhere. Such text has no UTF-8 form at all."""
    pending: list[tuple[Any, str]] = [(value, "")]
    while pending:
        item, path = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return path or "(body)"
        elif isinstance(item, dict):
            for key, inner in item.items():
                key_path = f"{path}.{key}" if path else str(key)
                if _SURROGATE.search(key):
                    return path or "(body)"
                pending.append((inner, key_path))
        elif isinstance(item, list):
            pending.extend((inner, f"{path}.{i}" if path else str(i)) for i, inner in enumerate(item))
    return None


def first_text_problem(value: Any, *, multiline: bool = False) -> str | None:
    for text in strings_in(value):
        if (problem := text_problem(text, multiline=multiline)) is not None:
            return problem
    return None


def _utc_in_window(value: datetime) -> datetime:
    try:
        utc = value.astimezone(timezone.utc)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise PydanticCustomError(
            "datetime_out_of_range",
            "Give a time between {earliest} and {latest} (UTC)",
            {"earliest": EARLIEST.isoformat(), "latest": LATEST.isoformat()},
        )
    return utc


def in_day_window(day: date) -> bool:
    return FIRST_DAY <= day <= LAST_DAY


def _day_in_window(value: date) -> date:
    if not in_day_window(value):
        raise PydanticCustomError(
            "date_out_of_range",
            "Give a date between {first} and {last}",
            {"first": FIRST_DAY.isoformat(), "last": LAST_DAY.isoformat()},
        )
    return value


# An instant with its offset, normalised to UTC, inside [EARLIEST, LATEST).
Instant = Annotated[AwareDatetime, AfterValidator(_utc_in_window)]
# A calendar day inside [FIRST_DAY, LAST_DAY].
Day = Annotated[date, AfterValidator(_day_in_window)]


class StrictModel(BaseModel):
    """The base of request bodies: unknown fields refused, strings stripped, and every string held,
    however nested, checked by the text rules. Strings are one line unless their field is listed in
    `multiline`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    multiline: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any, info: ValidationInfo) -> Any:
        problem = first_text_problem(value, multiline=info.field_name in cls.multiline)
        if problem is not None:
            raise PydanticCustomError("text_not_allowed", problem)
        return value
