"""The shared input rules: JSON depth on raw bytes, storable text, and the windows of instants and days."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.input import (
    EARLIEST,
    LAST_DAY,
    LATEST,
    MAX_JSON_DEPTH,
    Day,
    Instant,
    StrictModel,
    json_too_deep,
    surrogate_path,
    text_problem,
)


def depth(value) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\,:ab \n'),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\a', max_size=3), inner, max_size=3)
    ),
    max_leaves=60,
)


@given(json_values, st.integers(min_value=0, max_value=8))
def test_depth_is_measured_on_the_raw_bytes_as_a_parser_would(value, limit):
    # Brackets and quotes inside strings are text, not structure.
    assert json_too_deep(json.dumps(value).encode(), limit) == (depth(value) > limit)


def test_hostile_depths_are_refused_without_recursion():
    assert json_too_deep(b"[" * 100_000 + b"]" * 100_000)
    assert json_too_deep(b'{"hold": "x", "extra": ' + b'{"a": ' * 20_000 + b"1" + b"}" * 20_001)
    assert json_too_deep(b"[" * 100_000)  # unterminated: still too deep, not a crash
    assert not json_too_deep(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)
    assert not json_too_deep(b"[]" * 100_000)  # wide is fine


@pytest.mark.parametrize(
    "text, multiline",
    [
        ("Ada\x00Lovelace", False),
        ("Ada\x00Lovelace", True),
        ("\ud800", False),
        ("a\udfffb", True),
        ("bell\x07", True),
        ("esc\x1b[31m", False),
        ("del\x7f", False),
        ("c1\x85", True),
        ("line\nbreak", False),
        ("carriage\rreturn", False),
        ("tab\there", False),
        ("sep\u2028", False),
        ("\uffff", True),
    ],
)
def test_text_that_cannot_be_stored_or_shown_safely_is_refused(text, multiline):
    assert text_problem(text, multiline=multiline) is not None


@pytest.mark.parametrize(
    "text",
    [
        "Ada Lovelace",
        "Zoë O'Brien-Smith",
        "محمد",
        "\u200fRTL mark",
        "'; DROP TABLE bookings; --",
        "😀",
        "a" * 10_000,
    ],
)
def test_ordinary_text_in_any_script_passes(text):
    assert text_problem(text) is None


def test_a_message_may_span_lines_and_the_problem_names_the_character():
    assert text_problem("Happy birthday!\r\nLove, Sam\tx", multiline=True) is None
    assert text_problem("ab\x00", multiline=True) == "must not contain a NUL character (U+0000 at character 3)"


class Body(StrictModel):
    name: str
    tags: list[str] = []
    answers: dict[str, bool] = {}
    note: str = ""
    at: Instant | None = None
    on: Day | None = None
    multiline = frozenset({"note"})


def errors(payload: dict) -> list[tuple[str, str]]:
    with pytest.raises(pydantic.ValidationError) as caught:
        Body.model_validate(payload)
    return [(".".join(map(str, e["loc"])), e["type"]) for e in caught.value.errors()]


def test_every_string_a_model_holds_is_checked_with_its_field_named():
    assert errors({"name": "a\x00"}) == [("name", "text_not_allowed")]
    assert errors({"name": "a", "tags": ["ok", "b\x01"]}) == [("tags", "text_not_allowed")]
    assert errors({"name": "a", "answers": {"q\x00": True}}) == [("answers", "text_not_allowed")]
    assert errors({"name": "a", "note": "x\x00"}) == [("note", "text_not_allowed")]
    assert errors({"name": "a\ud800"}) == [("name", "string_unicode")]
    assert Body.model_validate({"name": "a", "note": "two\nlines"}).note == "two\nlines"


@pytest.mark.parametrize(
    "moment",
    [
        "9999-12-31T23:59:59-12:00",
        "0001-01-01T00:00:00+14:00",
        "1999-12-31T23:59:59+00:00",
        "2200-01-01T00:00:00+00:00",
    ],
)
def test_instants_outside_the_window_are_refused_before_any_arithmetic(moment):
    assert errors({"name": "a", "at": moment}) == [("at", "datetime_out_of_range")]


def test_instants_are_normalised_to_utc():
    body = Body.model_validate({"name": "a", "at": "2026-12-14T10:30:00+01:00"})
    assert body.at == datetime(2026, 12, 14, 9, 30, tzinfo=timezone.utc) and body.at.utcoffset() == timedelta(0)
    assert EARLIEST < body.at < LATEST


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1999-12-31", "2200-01-01"])
def test_days_outside_the_window_are_refused(day):
    assert errors({"name": "a", "on": day}) == [("on", "date_out_of_range")]


def test_days_inside_the_window_pass():
    assert Body.model_validate({"name": "a", "on": LAST_DAY.isoformat()}).on == LAST_DAY == date(2199, 12, 31)


def test_an_unpaired_surrogate_is_found_with_its_field_path():
    assert surrogate_path({"customer": {"name": "ok", "phone": "a\ud800"}}) == "customer.phone"
    assert surrogate_path({"starts": ["x", "\udfff"]}) == "starts.1"
    assert surrogate_path({"answers": {"q\ud800": True}}) == "answers"
    assert surrogate_path({"name": "😀 fine"}) is None
