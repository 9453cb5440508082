"""The .ics invites, read back with icalendar: one calendar entry per booking, updated then removed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from icalendar import Calendar

from services.notifications.emails import rendering as emails
from shared import ics
from tests.support.notifications import booking_event

MAIL_FROM = "Urban Therapy bookings <bookings@urban.example>"
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)


def parsed(email: emails.RenderedEmail):
    [attachment] = email.attachments
    calendar = Calendar.from_ical(attachment.content)
    [event] = calendar.walk("VEVENT")
    return attachment, calendar, event


def test_confirmation_invite_is_a_request_for_the_booking():
    start = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
    event = booking_event(start=start, occurred_at=T0)
    attachment, calendar, vevent = parsed(emails.booking_confirmed(event.data, changed_at=T0, mail_from=MAIL_FROM))

    assert attachment.filename == "invite.ics" and attachment.content_type == "text/calendar; method=REQUEST"
    assert calendar["METHOD"] == "REQUEST" and calendar["VERSION"] == "2.0"
    assert vevent["UID"] == f"booking-{event.data['booking_id']}@clinic-booking"
    assert vevent.decoded("DTSTART") == start and vevent.decoded("DTEND") == start + timedelta(hours=1)
    assert vevent["DTSTART"].to_ical().endswith(b"Z"), "in UTC"
    assert vevent["SUMMARY"] == "Deep tissue massage (60 min) with Amara Okafor"
    assert vevent["LOCATION"] == "Urban Therapy Clinic, London"
    assert vevent["STATUS"] == "CONFIRMED"
    assert str(vevent["ORGANIZER"]) == "mailto:bookings@urban.example"
    assert vevent["ORGANIZER"].params["CN"] == "Urban Therapy Clinic, London"
    assert str(vevent["ATTENDEE"]) == "mailto:ada@example.com" and vevent["ATTENDEE"].params["CN"] == "Ada Lovelace"
    assert event.data["manage_url"] in vevent["DESCRIPTION"] and str(vevent["URL"]) == event.data["manage_url"]


def test_reschedule_updates_the_same_entry_with_a_higher_sequence_and_cancel_removes_it():
    first = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
    moved = datetime(2026, 12, 3, 15, 30, tzinfo=timezone.utc)
    confirmed = booking_event(start=first)
    rescheduled = booking_event("booking.rescheduled", start=moved, previous_start=first)
    cancelled = booking_event("booking.cancelled", start=moved)

    _, _, v1 = parsed(emails.booking_confirmed(confirmed.data, changed_at=T0))
    _, c2, v2 = parsed(emails.booking_rescheduled(rescheduled.data, changed_at=T0 + timedelta(hours=3)))
    a3, c3, v3 = parsed(emails.booking_cancelled(cancelled.data, changed_at=T0 + timedelta(days=1)))

    assert v1["UID"] == v2["UID"] == v3["UID"], "one calendar entry for the booking's whole life"
    assert v1["SEQUENCE"] < v2["SEQUENCE"] < v3["SEQUENCE"]
    assert c2["METHOD"] == "REQUEST" and v2.decoded("DTSTART") == moved
    assert c3["METHOD"] == "CANCEL" and v3["STATUS"] == "CANCELLED"
    assert a3.content_type == "text/calendar; method=CANCEL"
    assert v2.decoded("DTSTAMP") == T0 + timedelta(hours=3)


def test_sequence_orders_changes_a_second_apart_and_fits_a_32_bit_integer():
    assert ics.sequence_for(T0 + timedelta(seconds=1)) == ics.sequence_for(T0) + 1
    assert ics.sequence_for(datetime(2090, 12, 31, tzinfo=timezone.utc)) < 2**31
    assert ics.sequence_for(datetime(2000, 1, 1, tzinfo=timezone.utc)) == 0


def test_times_on_a_dst_change_day_are_exact_instants():
    # 25 October 2026: London's clocks go back at 02:00 BST. 01:30 local happens twice; UTC does not.
    start = datetime(2026, 10, 25, 1, 30, tzinfo=timezone.utc)  # 01:30 GMT, the second 01:30 in London
    _, _, vevent = parsed(emails.booking_confirmed(booking_event(start=start).data, changed_at=T0))
    assert vevent["DTSTART"].to_ical() == b"20261025T013000Z"
