"""The rules of therapists' schedules as a clinic edits them (services/booking/schedules.py): what a week of
hours and breaks or a piece of time off may not be, and which reservations a change leaves outside working time."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from services.booking.availability import Interval, WeeklyTime
from services.booking.schedules import (
    MAX_TIME_OFF,
    Reserved,
    inside,
    outside_hours,
    parse_clock,
    time_off_problems,
    week_problems,
)

LONDON = ZoneInfo("Europe/London")
THERAPIST = uuid.uuid4()


def span(weekday: int, start: str, end: str) -> WeeklyTime:
    return WeeklyTime(weekday, parse_clock(start), parse_clock(end))


def fields(problems) -> list[tuple[str, str]]:
    return [(p.field, p.type) for p in problems]


@pytest.mark.parametrize(
    ("text", "wall"), [("09:00", time(9)), ("00:00", time(0)), ("23:59", time(23, 59)), ("13:05", time(13, 5))]
)
def test_a_wall_time_is_hh_mm_on_the_24_hour_clock(text, wall):
    assert parse_clock(text) == wall


@pytest.mark.parametrize("text", ["24:00", "9:00", "09:60", "0900", "09:00:00", "", "ab:cd", "٠٩:٠٠", "09:00\n"])
def test_anything_else_is_not_a_wall_time(text):
    assert parse_clock(text) is None


def test_the_seeded_kind_of_week_is_fine():
    hours = [span(d, "09:00", "18:00") for d in range(5)] + [span(5, "10:00", "14:00")]
    breaks = [span(d, "13:00", "14:00") for d in range(5)]
    assert week_problems(hours, breaks) == []
    # Two intervals a day with a gap between them, and a break at the very start of one, are fine too.
    assert week_problems([span(0, "08:00", "12:00"), span(0, "13:00", "17:00")], [span(0, "13:00", "13:30")]) == []


def test_an_interval_must_end_after_it_starts():
    problems = week_problems([span(0, "17:00", "09:00"), span(1, "09:00", "09:00")], [span(2, "12:00", "11:00")])
    assert fields(problems) == [
        ("breaks.0.end", "end_not_after_start"),
        ("hours.0.end", "end_not_after_start"),
        ("hours.1.end", "end_not_after_start"),
    ]
    assert problems[1].message == "must be after the start (17:00)"


def test_hours_of_one_day_may_neither_overlap_nor_meet():
    overlapping = [span(1, "09:00", "13:00"), span(1, "12:00", "17:00")]
    [problem] = week_problems(overlapping, [])
    assert (problem.field, problem.type) == ("hours.1", "hours_overlap")
    assert "Tuesday 09:00–13:00 (hours.0)" in problem.message
    meeting = [span(1, "13:00", "17:00"), span(1, "09:00", "13:00")]
    assert fields(week_problems(meeting, [])) == [("hours.0", "hours_overlap")]  # the later one, as sent
    # The same times on different days are no overlap.
    assert week_problems([span(1, "09:00", "13:00"), span(2, "12:00", "17:00")], []) == []


def test_every_interval_inside_a_long_one_is_reported_against_it():
    hours = [span(3, "09:00", "17:00"), span(3, "10:00", "11:00"), span(3, "12:00", "13:00")]
    assert fields(week_problems(hours, [])) == [("hours.1", "hours_overlap"), ("hours.2", "hours_overlap")]


def test_a_break_lies_within_its_days_hours():
    hours = [span(0, "09:00", "13:00"), span(0, "14:00", "18:00")]
    assert week_problems(hours, [span(0, "09:00", "13:00"), span(0, "15:00", "15:30")]) == []
    problems = week_problems(hours, [span(0, "12:30", "14:30"), span(0, "08:00", "09:30"), span(6, "10:00", "11:00")])
    assert fields(problems) == [
        ("breaks.0", "break_outside_hours"),
        ("breaks.1", "break_outside_hours"),
        ("breaks.2", "break_outside_hours"),
    ]
    assert problems[0].message == "must lie within Monday's working hours (09:00–13:00, 14:00–18:00)"
    assert problems[2].message == "is on Sunday, which has no working hours"


def test_breaks_of_one_day_may_meet_but_not_overlap():
    hours = [span(4, "09:00", "18:00")]
    assert week_problems(hours, [span(4, "12:00", "12:30"), span(4, "12:30", "13:00")]) == []
    [problem] = week_problems(hours, [span(4, "12:00", "13:00"), span(4, "12:45", "13:15")])
    assert (problem.field, problem.type) == ("breaks.1", "breaks_overlap")


def test_problems_come_in_the_order_of_the_fields():
    hours = [span(0, "10:00", "09:00")] * 11
    assert [p.field for p in week_problems(hours, [])] == [f"hours.{i}.end" for i in range(11)]


def test_a_break_is_judged_against_valid_hours_only():
    """Hours refused for ending before they start do not also make a break 'outside' them look right."""
    problems = week_problems([span(0, "18:00", "09:00")], [span(0, "12:00", "13:00")])
    assert fields(problems) == [("breaks.0", "break_outside_hours"), ("hours.0.end", "end_not_after_start")]


def test_time_off_ends_after_it_starts_and_lasts_at_most_a_year():
    start = datetime(2027, 3, 1, tzinfo=timezone.utc)
    assert time_off_problems(start, start + timedelta(hours=2)) == []
    assert time_off_problems(start, start + MAX_TIME_OFF) == []
    assert fields(time_off_problems(start, start)) == [("end", "end_not_after_start")]
    assert fields(time_off_problems(start, start - timedelta(days=1))) == [("end", "end_not_after_start")]
    assert fields(time_off_problems(start, start + MAX_TIME_OFF + timedelta(seconds=1))) == [
        ("end", "time_off_too_long")
    ]


# --- what a change leaves outside working time -----------------------------------------------------------


def reserved(start: datetime, minutes: int = 60, after: int = 15, status: str = "confirmed") -> Reserved:
    start = start.astimezone(timezone.utc)
    end = start + timedelta(minutes=minutes)
    return Reserved(
        id=uuid.uuid4(),
        status=status,
        start=start,
        end=end,
        blocked=Interval(start, end + timedelta(minutes=after)),
        treatment="Deep tissue massage (60 min)",
        customer_name="Ada Lovelace",
        series_id=None,
    )


TUESDAY = datetime(2027, 3, 9)  # GMT


def at(hour: int, minute: int = 0, day: datetime = TUESDAY) -> datetime:
    return day.replace(hour=hour, minute=minute, tzinfo=LONDON)


def test_a_booking_inside_the_new_hours_and_clear_of_breaks_is_not_in_the_way():
    ten, four = reserved(at(10)), reserved(at(16))  # 16:00–17:00, its buffer after to 17:15
    hours = [span(1, "09:00", "17:00")]
    assert outside_hours([ten, four], THERAPIST, hours, [], "Europe/London") == []


def test_shorter_hours_a_removed_day_or_a_new_break_leave_bookings_outside():
    ten, three = reserved(at(10)), reserved(at(15))
    later_start = [span(1, "12:00", "17:00")]
    assert outside_hours([ten, three], THERAPIST, later_start, [], "Europe/London") == [ten]
    assert outside_hours([ten, three], THERAPIST, [span(2, "09:00", "17:00")], [], "Europe/London") == [ten, three]
    a_break = [span(1, "15:30", "16:00")]
    assert outside_hours([ten, three], THERAPIST, [span(1, "09:00", "17:00")], a_break, "Europe/London") == [three]


def test_wall_times_are_the_clinics_across_a_clock_change():
    """On the Tuesday after the clocks went forward (BST), 09:00 in London is 08:00 UTC: a booking at 09:00
    London time fits hours starting at 09:00, though its UTC time is 08:00."""
    after_change = datetime(2027, 3, 30)
    nine = reserved(at(9, day=after_change))
    assert nine.start.hour == 8
    assert outside_hours([nine], THERAPIST, [span(1, "09:00", "17:00")], [], "Europe/London") == []
    assert outside_hours([nine], THERAPIST, [span(1, "09:30", "17:00")], [], "Europe/London") == [nine]


def test_time_off_catches_a_booking_whose_time_or_buffer_it_overlaps():
    ten = reserved(at(10))  # 10:00–11:00, blocked to 11:15
    assert inside([ten], Interval(at(11, 10), at(12))) == [ten], "its buffer after is the therapist's time too"
    assert inside([ten], Interval(at(11, 15), at(12))) == []
    assert inside([ten], Interval(at(8), at(10))) == []
    assert inside([ten], Interval(at(8), at(10, 1))) == [ten]
