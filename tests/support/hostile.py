"""What an attacker, a fuzzer or a careless script sends: strategies and fixed examples of hostile input."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from hypothesis import strategies as st

NASTY_TEXT = (
    "\x00",
    "Ada\x00Lovelace",
    "\ud800",
    "b\udfffc",
    "\u202eevil\u202c",
    "\u200f\u05e9\u05dc\u05d5\u05dd",
    "'; DROP TABLE bookings; --",
    "Robert'); DELETE FROM payments; --",
    "%00",
    "\\u0000",
    "\x1b[2J",
    "name\r\nBcc: victim@example.com",
    "\u2028",
    "\ufeffbom",
    "😀" * 40,
    "\x7f",
    "\x85",
    "\uffff",
    "\t",
    " ",
    "{{7*7}}",
    "<script>alert(1)</script>",
)

# Any code point at all (surrogates and controls included), alone or around a nasty one.
any_character = st.characters(codec=None, exclude_categories=())
hostile_text = st.one_of(
    st.sampled_from(NASTY_TEXT),
    st.text(any_character, min_size=1, max_size=30),
    st.builds(
        lambda before, nasty, after: before + nasty + after,
        st.text(max_size=8),
        st.sampled_from(NASTY_TEXT),
        st.text(max_size=8),
    ),
)


def clean(text: str) -> str:
    """What a field stores of `text` if it is accepted (the models strip surrounding whitespace)."""
    return text.strip()


def url_segment(text: str) -> str:
    """`text` percent-encoded for a path segment or query value (lone surrogates as their raw bytes)."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


# ISO 8601 instants anywhere in years 1..9999 with any offset up to ±23:59: some of them leave the
# representable range once moved to UTC.
def _instant(moment: datetime, offset_minutes: int) -> str:
    zone = timezone(timedelta(minutes=offset_minutes))
    return moment.replace(tzinfo=zone).isoformat()


extreme_instants = st.one_of(
    st.sampled_from(
        [
            "9999-12-31T23:59:59-12:00",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59.999999-23:59",
            "0001-01-01T00:00:00+23:59",
            "1970-01-01T00:00:00Z",
            "2199-12-31T23:59:59-12:00",
        ]
    ),
    st.builds(
        _instant,
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59)),
        st.integers(min_value=-1439, max_value=1439),
    ),
)
extreme_days = st.one_of(
    st.sampled_from(["0001-01-01", "9999-12-31", "1969-12-31", "2200-01-01"]), st.dates().map(lambda d: d.isoformat())
)


def nested_array(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def nested_in_extra_field(depth: int) -> bytes:
    return b'{"extra": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}"
