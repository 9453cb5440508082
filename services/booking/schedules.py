"""Therapists' schedules as a clinic edits them: the week's hours and breaks, and time off (pure: no I/O, no
clock). What a change may not be (overlapping hours, a break outside the hours, an end before its start, time
off longer than a year), and which reservations a change would leave outside the therapist's working time.

Hours and breaks are wall times of the clinic's zone, `HH:MM` on the 24-hour clock (00:00 to 23:59), weekday
0 = Monday; an interval ends before midnight of the day it starts. Time off is a span of instants.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Sequence

from services.booking.availability import Interval, Rules, Schedule, Timing, WeeklyTime, refusal

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# How many intervals of hours, and of breaks, one week may have (a few a day is plenty).
MAX_WEEKLY_ITEMS = 50
# The longest time off one entry may cover: more is a typo (a year too far) rather than a plan.
MAX_TIME_OFF = timedelta(days=366)
MAX_REASON_LENGTH = 200

_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
CLOCK_PATTERN = "^" + _CLOCK.pattern + "$"
CLOCK_MESSAGE = "must be a time of day like 09:00 (24-hour clock, 00:00 to 23:59)"


def parse_clock(text: str) -> time | None:
    """`HH:MM` as a wall time, or None if it is not one."""
    found = _CLOCK.fullmatch(text)
    return time(int(found.group(1)), int(found.group(2))) if found else None


def clock(wall: time) -> str:
    return wall.strftime("%H:%M")


def _span(item: WeeklyTime) -> str:
    return f"{WEEKDAYS[item.weekday]} {clock(item.start)}–{clock(item.end)}"


@dataclass(frozen=True)
class Problem:
    """Why one field of a request is refused, as the 422 details name it (shared.errors.validation_details)."""

    field: str
    message: str
    type: str

    def detail(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message, "type": self.type}


def _overlapping(items: Sequence[tuple[int, WeeklyTime]], *, touching: bool) -> list[tuple[int, int]]:
    """(later, earlier) positions of the intervals of one day that overlap (or, with `touching`, also meet) one
    before them in start order: each later one is reported once, against the earlier one reaching furthest."""
    found = []
    furthest: tuple[int, WeeklyTime] | None = None
    for position, item in sorted(items, key=lambda entry: (entry[1].start, entry[0])):
        if furthest is not None:
            reach = furthest[1].end
            if item.start < reach or (touching and item.start == reach):
                found.append((position, furthest[0]))
        if furthest is None or item.end > furthest[1].end:
            furthest = (position, item)
    return found


def week_problems(hours: Sequence[WeeklyTime], breaks: Sequence[WeeklyTime]) -> list[Problem]:
    """What is wrong with a week of hours and breaks (positions as sent), or nothing.

    An interval must end after it starts. Hours of one day may neither overlap nor meet (09:00–13:00 and
    13:00–17:00 is one interval, 09:00–17:00, with a break: no treatment could span the two). A break lies
    within one interval of its day's hours, and breaks of a day do not overlap."""
    problems = []
    for kind, items in (("hours", hours), ("breaks", breaks)):
        for i, item in enumerate(items):
            if item.end <= item.start:
                problems.append(
                    Problem(f"{kind}.{i}.end", f"must be after the start ({clock(item.start)})", "end_not_after_start")
                )
    valid_hours = [(i, h) for i, h in enumerate(hours) if h.end > h.start]
    valid_breaks = [(i, b) for i, b in enumerate(breaks) if b.end > b.start]
    for day in range(len(WEEKDAYS)):
        for later, earlier in _overlapping([e for e in valid_hours if e[1].weekday == day], touching=True):
            problems.append(
                Problem(
                    f"hours.{later}",
                    f"overlaps or meets {_span(hours[earlier])} (hours.{earlier}): make them one interval "
                    "(with a break if needed) or leave a gap",
                    "hours_overlap",
                )
            )
        for later, earlier in _overlapping([e for e in valid_breaks if e[1].weekday == day], touching=False):
            problems.append(
                Problem(f"breaks.{later}", f"overlaps {_span(breaks[earlier])} (breaks.{earlier})", "breaks_overlap")
            )
    for i, pause in valid_breaks:
        day_hours = [h for _, h in valid_hours if h.weekday == pause.weekday]
        if any(h.start <= pause.start and pause.end <= h.end for h in day_hours):
            continue
        name = WEEKDAYS[pause.weekday]
        if day_hours:
            shown = ", ".join(f"{clock(h.start)}–{clock(h.end)}" for h in sorted(day_hours, key=lambda h: h.start))
            message = f"must lie within {name}'s working hours ({shown})"
        else:
            message = f"is on {name}, which has no working hours"
        problems.append(Problem(f"breaks.{i}", message, "break_outside_hours"))
    return sorted(problems, key=_field_order)


def _field_order(problem: Problem) -> list[tuple[int, str]]:
    """`hours.2.end` before `hours.10`: positions compared as numbers."""
    return [(int(part), "") if part.isdigit() else (-1, part) for part in problem.field.split(".")]


def time_off_problems(start: datetime, end: datetime) -> list[Problem]:
    """What is wrong with time off from `start` to `end` (aware instants), or nothing."""
    if end <= start:
        return [Problem("end", "must be after the start", "end_not_after_start")]
    if end - start > MAX_TIME_OFF:
        return [Problem("end", f"time off may last at most {MAX_TIME_OFF.days} days", "time_off_too_long")]
    return []


# --- what a change would leave outside working time ----------------------------------------------------


@dataclass(frozen=True)
class Reserved:
    """A live reservation of the therapist (a hold, a booking awaiting payment, a confirmed one) that has not
    started yet, with what the clinic needs to recognise it."""

    id: uuid.UUID
    status: str
    start: datetime
    end: datetime
    blocked: Interval  # the treatment with its buffers
    treatment: str
    customer_name: str | None
    series_id: uuid.UUID | None

    @property
    def is_hold(self) -> bool:
        """Still only held: nobody has given their details yet (a hold lasts minutes)."""
        return self.status == "held"


def _whole_minutes(span: timedelta) -> int:
    return -(-span // timedelta(minutes=1))  # rounded up: never narrower than the reservation


# What availability.refusal says when the hours or breaks, not the clock or the grid, rule a time out.
_OUTSIDE_WORKING_TIME = frozenset({"outside_hours", "therapist_unavailable"})


def outside_hours(
    reserved: Sequence[Reserved],
    therapist_id: uuid.UUID,
    hours: Sequence[WeeklyTime],
    breaks: Sequence[WeeklyTime],
    timezone: str,
) -> list[Reserved]:
    """The reservations that these weekly hours and breaks leave outside the therapist's working time: exactly
    those whose time a hold would now be refused for its hours or breaks (availability.refusal, the rule holds
    and availability follow, DST included), judged without notice, horizon or slot grid, which concern only new
    reservations. Time off is not considered: each piece of it was checked when it was added."""
    schedule = Schedule(therapist_id, tuple(hours), tuple(breaks))
    # Notice 0 and a start a microsecond after "now": the clock's rules pass; 1-minute steps: so does the grid.
    rules = Rules(timezone, slot_step_minutes=1, min_notice_minutes=0, horizon_days=1)
    found = []
    for r in reserved:
        timing = Timing(
            _whole_minutes(r.end - r.start),
            _whole_minutes(r.start - r.blocked.start),
            _whole_minutes(r.blocked.end - r.end),
        )
        if refusal(schedule, timing, rules, r.start, r.start - timedelta(microseconds=1)) in _OUTSIDE_WORKING_TIME:
            found.append(r)
    return found


def inside(reserved: Sequence[Reserved], period: Interval) -> list[Reserved]:
    """The reservations whose time (buffers included, as availability counts it) overlaps `period`."""
    return [r for r in reserved if r.blocked.overlaps(period)]
