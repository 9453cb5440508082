"""Free slots, computed from weekly hours, breaks, time off and busy ranges. Pure: no I/O, no clock.

Times are UTC `datetime`s everywhere except the clinic's weekly hours and breaks, which are wall times
in the clinic's zone. Slots are stepped in wall time (a 10:00, 10:15, … grid stays a grid across a DST
change), a wall time that does not exist (the spring-forward gap) is never offered, and a wall time
that happens twice (the autumn repeated hour) is offered once, at its first occurrence. Durations are
real elapsed minutes.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable, Iterator
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Interval:
    """A half-open UTC interval [start, end)."""
    start: datetime
    end: datetime

    def overlaps(self, other: "Interval") -> bool:
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class WeeklyTime:
    """Wall-clock hours on one weekday (0 = Monday), e.g. Tuesday 09:00–17:30, or a break."""
    weekday: int
    start: time
    end: time


@dataclass(frozen=True)
class Schedule:
    """What decides one therapist's free time."""
    therapist_id: uuid.UUID
    hours: tuple[WeeklyTime, ...]
    breaks: tuple[WeeklyTime, ...] = ()
    time_off: tuple[Interval, ...] = ()
    busy: tuple[Interval, ...] = ()      # blocked ranges (with buffers) of live holds and bookings


@dataclass(frozen=True)
class Timing:
    """How long a treatment occupies the therapist."""
    duration_minutes: int
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0

    def blocked(self, start: datetime) -> Interval:
        return Interval(start - timedelta(minutes=self.buffer_before_minutes),
                        start + timedelta(minutes=self.duration_minutes + self.buffer_after_minutes))

    def end(self, start: datetime) -> datetime:
        return start + timedelta(minutes=self.duration_minutes)


@dataclass(frozen=True)
class Rules:
    """The clinic's booking settings."""
    timezone: str
    slot_step_minutes: int = 15
    min_notice_minutes: int = 120
    horizon_days: int = 60

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Slot:
    therapist_id: uuid.UUID
    start: datetime
    end: datetime


def wall_to_utc(day: date, wall: time, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of a wall time on a day; None if the clock skips it; the first if it repeats."""
    local = datetime.combine(day, wall, tzinfo=zone)  # fold=0: first occurrence
    instant = local.astimezone(timezone.utc)
    if instant.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        return None
    return instant


def _edge_to_utc(day: date, wall: time, zone: ZoneInfo, *, later: bool) -> datetime:
    """An edge of hours or a break as a UTC instant. Where the wall time is skipped or repeated, the
    two readings (fold 0 and 1) differ; taking the later one for opening and the earlier one for
    closing keeps every slot inside the wall-clock hours, whatever the clock did that night."""
    readings = [datetime.combine(day, wall, tzinfo=zone).replace(fold=f).astimezone(timezone.utc) for f in (0, 1)]
    return max(readings) if later else min(readings)


def _hours_window(day: date, hours: WeeklyTime, zone: ZoneInfo) -> Interval:
    return Interval(_edge_to_utc(day, hours.start, zone, later=True), _edge_to_utc(day, hours.end, zone, later=False))


def _break_window(day: date, pause: WeeklyTime, zone: ZoneInfo) -> Interval:
    # A break is widened rather than narrowed: never offer a slot that might touch it.
    return Interval(_edge_to_utc(day, pause.start, zone, later=False), _edge_to_utc(day, pause.end, zone, later=True))


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _grid(day: date, hours: WeeklyTime, step: timedelta) -> Iterator[time]:
    wall = datetime.combine(day, hours.start)
    end = datetime.combine(day, hours.end)
    while wall < end:
        yield wall.time()
        wall += step


def _breaks(schedule: Schedule, day: date, zone: ZoneInfo) -> list[Interval]:
    return [_break_window(day, b, zone) for b in schedule.breaks if b.weekday == day.weekday()]


def day_candidates(schedule: Schedule, timing: Timing, rules: Rules, day: date) -> Iterator[Slot]:
    """Starts on the grid of each working interval whose treatment fits inside it (busy-ness ignored)."""
    zone, step = rules.zone, timedelta(minutes=rules.slot_step_minutes)
    breaks = _breaks(schedule, day, zone)
    for hours in schedule.hours:
        if hours.weekday != day.weekday():
            continue
        window = _hours_window(day, hours, zone)
        for wall in _grid(day, hours, step):
            start = wall_to_utc(day, wall, zone)
            if start is None or start < window.start or timing.end(start) > window.end:
                continue
            treatment = Interval(start, timing.end(start))
            if any(treatment.overlaps(b) for b in breaks):
                continue
            yield Slot(schedule.therapist_id, start, treatment.end)


def _bookable_time(start: datetime, rules: Rules, now: datetime) -> bool:
    return now + timedelta(minutes=rules.min_notice_minutes) <= start <= now + timedelta(days=rules.horizon_days)


def free_slots(schedules: Iterable[Schedule], timing: Timing, rules: Rules, first_day: date, last_day: date,
               now: datetime) -> list[Slot]:
    """Every bookable slot of these therapists between two local dates (inclusive), by start time."""
    found = []
    for schedule in schedules:
        blockers = schedule.busy + schedule.time_off
        for day in _days(first_day, last_day):
            for slot in day_candidates(schedule, timing, rules, day):
                if not _bookable_time(slot.start, rules, now):
                    continue
                if any(timing.blocked(slot.start).overlaps(b) for b in blockers):
                    continue
                found.append(slot)
    found.sort(key=lambda s: (s.start, str(s.therapist_id)))
    return found


def refusal(schedule: Schedule, timing: Timing, rules: Rules, start: datetime, now: datetime) -> str | None:
    """Why `start` cannot be booked by the clinic's rules (not counting other reservations), or None."""
    if start <= now:
        return "start_in_past"
    if start < now + timedelta(minutes=rules.min_notice_minutes):
        return "too_little_notice"
    if start > now + timedelta(days=rules.horizon_days):
        return "beyond_horizon"
    if any(timing.blocked(start).overlaps(off) for off in schedule.time_off):
        return "therapist_unavailable"
    zone = rules.zone
    day = start.astimezone(zone).date()
    if any(slot.start == start for slot in day_candidates(schedule, timing, rules, day)):
        return None
    treatment = Interval(start, timing.end(start))
    within_hours = any(
        h.weekday == day.weekday() and _hours_window(day, h, zone).start <= start
        and treatment.end <= _hours_window(day, h, zone).end for h in schedule.hours)
    if not within_hours:
        return "outside_hours"
    if any(treatment.overlaps(b) for b in _breaks(schedule, day, zone)):
        return "therapist_unavailable"
    return "off_grid"
