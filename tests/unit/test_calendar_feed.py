"""A therapist's calendar feed, pure: initials only, the window in the clinic's days, a valid calendar whose bytes
(and ETag) depend only on its bookings, one entry per booking that a move revises, and the token's digest."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from services.booking import calendar_feed as feed
from shared import ics
from shared.logs import loggable_path

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)
BOOKING_ID = uuid.UUID("6f1c2a52-8d0e-4c55-9b7f-3f7e2f6a0c11")


def booking(start: datetime = NOW + timedelta(days=3), changed: datetime = NOW, **kwargs) -> feed.FeedBooking:
    fields = {
        "id": BOOKING_ID,
        "start": start,
        "end": start + timedelta(hours=1),
        "treatment_name": "Deep tissue massage (60 min)",
        "customer_name": "Ada Lovelace",
        "changed_at": changed,
        "moves": 0,
        **kwargs,
    }
    return feed.FeedBooking(**fields)


def body_of(*bookings: feed.FeedBooking, now: datetime = NOW) -> bytes:
    days = feed.window(now, LONDON, 60)
    return feed.calendar("Amara Okafor", "Urban Therapy Clinic, London", LONDON, days, list(bookings))


@pytest.mark.parametrize(
    "name, expected",
    [
        ("Ada Lovelace", "A. L."),
        ("ada augusta king lovelace", "A. L."),  # middle names left out
        ("  Émile   Zola ", "É. Z."),
        ("Cher", "C."),
        ("O'Neil (Pat) 3rd", "O. R."),  # the first letter of each word, punctuation and digits skipped
        ("Seán Ó Briain", "S. B."),
        ("李小龙", "李."),
        ("", ""),
        ("12 34", ""),
        (None, ""),
    ],
)
def test_initials(name, expected):
    assert feed.initials(name) == expected


def test_the_summary_names_the_treatment_and_the_initials_only():
    assert feed.summary("Deep tissue massage", "Ada Lovelace") == "Deep tissue massage \u2014 A. L."
    assert feed.summary("Deep tissue massage", None) == "Deep tissue massage"
    assert feed.summary("Deep tissue massage", "ada@example.com") == "Deep tissue massage \u2014 A."


def test_the_window_is_whole_clinic_days_from_30_back_to_the_horizon():
    days = feed.window(NOW, LONDON, 60)
    assert (days.first, days.last) == (date(2026, 10, 26), date(2027, 1, 24))
    assert days.start == datetime(2026, 10, 26, 0, 0, tzinfo=timezone.utc)  # GMT
    assert days.end == datetime(2027, 1, 25, 0, 0, tzinfo=timezone.utc)
    # In summer (BST) the clinic's midnight is 23:00 UTC the day before; late evening UTC is already tomorrow.
    summer = feed.window(datetime(2026, 7, 1, 23, 30, tzinfo=timezone.utc), LONDON, 1)
    assert summer.first == date(2026, 6, 2) and summer.start == datetime(2026, 6, 1, 23, 0, tzinfo=timezone.utc)
    assert summer.end == datetime(2026, 7, 3, 23, 0, tzinfo=timezone.utc)


def test_the_calendar_is_valid_with_one_entry_per_booking_and_no_personal_data():
    calendar = Calendar.from_ical(body_of(booking()))
    assert calendar["VERSION"] == "2.0" and calendar["PRODID"] == ics.FEED_PRODID
    assert "METHOD" not in calendar, "the calendar itself, not an iTIP message"
    assert calendar["X-WR-CALNAME"] == "Amara Okafor \u2014 Urban Therapy Clinic, London"
    assert calendar["REFRESH-INTERVAL"].params["VALUE"] == "DURATION"
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Europe/London"]
    [event] = calendar.walk("VEVENT")
    assert event["UID"] == f"therapist-booking-{BOOKING_ID}@clinic-booking" != ics.uid_for(str(BOOKING_ID))
    assert event["SUMMARY"] == "Deep tissue massage (60 min) \u2014 A. L."
    assert event.decoded("DTSTART") == NOW + timedelta(days=3) and event["DTSTART"].to_ical().endswith(b"Z")
    assert event.decoded("DTEND") == NOW + timedelta(days=3, hours=1)
    assert event.decoded("DTSTAMP") == event.decoded("LAST-MODIFIED") == NOW
    assert event["STATUS"] == "CONFIRMED" and event["CLASS"] == "PRIVATE"
    for required in ("UID", "DTSTAMP", "DTSTART"):  # RFC 5545 §3.6.1
        assert required in event
    assert b"Lovelace" not in body_of(booking()) and b"Ada" not in body_of(booking())


def test_an_empty_calendar_still_has_a_component():
    calendar = Calendar.from_ical(body_of())
    assert calendar.walk("VEVENT") == [] and len(calendar.subcomponents) == 1, "RFC 5545: at least one component"


def test_the_same_bookings_give_the_same_bytes_and_etag_in_any_order():
    other = booking(id=uuid.uuid4(), start=NOW + timedelta(days=5), customer_name="Tom Hughes")
    first, again = body_of(booking(), other), body_of(other, booking())
    assert first == again and feed.etag(first) == feed.etag(again)
    later_the_same_day = body_of(booking(), other, now=NOW + timedelta(hours=5))
    assert later_the_same_day == first, "nothing in it depends on the time of the poll within a day"
    assert feed.etag(body_of(booking())) != feed.etag(first)


def test_a_moved_booking_is_the_same_entry_revised():
    before = Calendar.from_ical(body_of(booking()))
    moved_at = NOW + timedelta(hours=2)
    after = Calendar.from_ical(body_of(booking(start=NOW + timedelta(days=4), changed=moved_at, moves=1)))
    [old], [new] = before.walk("VEVENT"), after.walk("VEVENT")
    assert old["UID"] == new["UID"]
    assert new["SEQUENCE"] > old["SEQUENCE"]
    assert new.decoded("LAST-MODIFIED") == new.decoded("DTSTAMP") == moved_at
    assert new.decoded("DTSTART") == NOW + timedelta(days=4)


@pytest.mark.parametrize(
    "header, matches",
    [
        (None, False),
        ("", False),
        ('"abc"', True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        ("*", True),
        ('"abcd"', False),
        ("abc", False),
    ],
)
def test_if_none_match(header, matches):
    assert feed.not_modified(header, '"abc"') is matches


def test_tokens_are_256_random_bits_kept_as_a_digest():
    tokens = {feed.new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) == 43 for t in tokens)  # 32 bytes, URL-safe base64
    token = next(iter(tokens))
    assert feed.digest(token) == feed.digest(token) and len(feed.digest(token)) == 32
    assert token.encode() not in feed.digest(token)
    assert len(feed.digest("\udcff")) == 32, "any text has a digest (undecodable path bytes too)"


def test_polls_are_noted_at_most_once_a_minute():
    assert feed.should_stamp(None, NOW)
    assert not feed.should_stamp(NOW - timedelta(seconds=59), NOW)
    assert feed.should_stamp(NOW - timedelta(minutes=1), NOW)


def test_the_feed_s_path_is_logged_without_its_token():
    assert loggable_path("/api/v1/calendar/s3cr3t-token.ics") == "/api/v1/calendar/[redacted]"
    assert loggable_path("/api/v1/calendar/") == "/api/v1/calendar/[redacted]"
    assert loggable_path("/api/v1/clinics/urban-therapy") == "/api/v1/clinics/urban-therapy"
    assert loggable_path("/api/v1/calendars") == "/api/v1/calendars"
