"""Free slots, computed from weekly hours, breaks, time off and busy ranges. Pure: no I/O, no clock.

Times are UTC `datetime`s everywhere except the clinic's weekly hours and breaks, which are wall times
in the clinic's zone. Slots are stepped in wall time (a 10:00, 10:15, … grid stays a grid across a DST
change), a wall time that does not exist (the spring-forward gap) is never offered, and a wall time
that happens twice (the autumn repeated hour) is offered once, at its first occurrence. Durations are
real elapsed minutes.
"""

from __future__ import annotations

import uuid
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Iterable, Iterator, Sequence
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Interval:
    """A half-open UTC interval [start, end), start <= end."""

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
    busy: tuple[Interval, ...] = ()  # blocked ranges (with buffers) of live holds and bookings


@dataclass(frozen=True)
class Timing:
    """How long a treatment occupies the therapist."""

    duration_minutes: int
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0

    def blocked(self, start: datetime) -> Interval:
        return Interval(
            start - timedelta(minutes=self.buffer_before_minutes),
            start + timedelta(minutes=self.duration_minutes + self.buffer_after_minutes),
        )

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
    local = datetime.combine(day, wall.replace(fold=0), tzinfo=zone)  # fold=0: first occurrence
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


# --- free slots, fast -------------------------------------------------------------------------------
# Instants are integer microseconds since the epoch here: exact, and cheap to step, compare and bisect;
# only the slots found become datetimes again. On a day the clinic's clocks keep one UTC offset (all but
# two days a year), a wall time of the day is its local midnight's instant plus the time since midnight,
# so that day's working intervals and breaks are plain arithmetic and its wall-time grid is a UTC grid.
# On a day the clocks change, every wall time is converted on its own, by the definitions above.

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_ORDINAL = _EPOCH.toordinal()
_MICROSECOND = timedelta(microseconds=1)
_US_PER_MINUTE = 60_000_000
_US_PER_DAY = 86_400_000_000


def _us(instant: datetime) -> int:
    return (instant - _EPOCH) // _MICROSECOND


def _instant(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _since_midnight(wall: time) -> int:
    return ((wall.hour * 60 + wall.minute) * 60 + wall.second) * 1_000_000 + wall.microsecond


def _utc_offset(moment: datetime) -> timedelta:
    offset = moment.utcoffset()
    assert offset is not None, "an aware datetime (it has a zone) has an offset"
    return offset


def _steady_midnights(first: date, last: date, zone: ZoneInfo) -> list[tuple[date, int | None]]:
    """Each day from `first` to `last` with the instant of its local midnight if the clocks keep one
    UTC offset all through the day, else None. The midnights bounding a day are read with fold 0 and
    1: a change within the day shows as different offsets, one at midnight as a skipped or repeated
    midnight. (To slip through, a zone would have to change its clocks twice in one day and end where
    it started; none does.)"""
    readings = [
        (day, {_utc_offset(datetime.combine(day, time(fold=fold), tzinfo=zone)) for fold in (0, 1)})
        for day in _days(first, last + timedelta(days=1))
    ]
    days = []
    for (day, offsets), (_, next_offsets) in zip(readings, readings[1:]):
        offsets = offsets | next_offsets
        midnight = None
        if len(offsets) == 1:
            midnight = (day.toordinal() - _EPOCH_ORDINAL) * _US_PER_DAY - offsets.pop() // _MICROSECOND
        days.append((day, midnight))
    return days


def _starts_wall_by_wall(day: date, hours: WeeklyTime, zone: ZoneInfo, step: int, duration: int) -> list[int]:
    """A working interval's starts on a day the clocks change: each wall time of its grid converted on
    its own (skipped ones dropped, repeated ones at their first occurrence), kept if the treatment fits
    inside the interval. Ascending."""
    window = _hours_window(day, hours, zone)
    opening, closing = _us(window.start), _us(window.end)
    starts = []
    for wall in _grid(day, hours, timedelta(microseconds=step)):
        instant = wall_to_utc(day, wall, zone)
        if instant is not None and opening <= (start := _us(instant)) and start + duration <= closing:
            starts.append(start)
    return starts


def _day_plan(
    schedule: Schedule, day: date, midnight: int | None, zone: ZoneInfo, step: int, duration: int
) -> tuple[list[Sequence[int]], list[tuple[int, int]]]:
    """For each working interval of the day, the starts on its grid whose treatment fits inside it
    (ascending); and for each break, the starts whose treatment would overlap it, as an open interval."""
    weekday = day.weekday()
    windows: list[Sequence[int]]
    if midnight is not None:
        windows = []
        for hours in schedule.hours:
            if hours.weekday == weekday:
                opening, closing = midnight + _since_midnight(hours.start), midnight + _since_midnight(hours.end)
                windows.append(range(opening, min(closing, closing - duration + 1), step))
        breaks = [
            (midnight + _since_midnight(b.start) - duration, midnight + _since_midnight(b.end))
            for b in schedule.breaks
            if b.weekday == weekday
        ]
    else:
        windows = [
            _starts_wall_by_wall(day, hours, zone, step, duration)
            for hours in schedule.hours
            if hours.weekday == weekday
        ]
        breaks = [(_us(b.start) - duration, _us(b.end)) for b in _breaks(schedule, day, zone)]
    return windows, breaks


def _merged(intervals: Iterable[Interval]) -> list[tuple[int, int]]:
    """The union of intervals as disjoint ascending ones. An interval overlaps one of the given ones
    exactly when it overlaps one of these (joining touching ones keeps that true: overlapping is strict
    at both ends)."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted((_us(i.start), _us(i.end)) for i in intervals):
        end = max(start, end)
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _outside(candidates: Sequence[int], forbidden: Iterable[tuple[int, int]]) -> Sequence[int]:
    """The ascending candidates that lie in none of the open intervals `forbidden` (ascending by their
    lower ends), by skipping over each interval rather than testing every candidate against each."""
    free: list[int] = []
    i = 0
    for low, high in forbidden:
        allowed = bisect_right(candidates, low, i)  # up to `low`: clear of this and the later ones
        free.extend(candidates[i:allowed])
        i = max(allowed, bisect_left(candidates, high, allowed))
    if i == 0:
        return candidates
    free.extend(candidates[i:])
    return free


def free_slots(
    schedules: Iterable[Schedule], timing: Timing, rules: Rules, first_day: date, last_day: date, now: datetime
) -> list[Slot]:
    """Every bookable slot of these therapists between two local dates (inclusive), by start time.

    A slot starts on the wall-time grid of a working interval, its treatment fits inside the interval
    and misses the breaks, it starts within the notice and the horizon, and its blocked time (the
    treatment with its buffers) misses the time off and the busy ranges."""
    zone = rules.zone
    step = rules.slot_step_minutes * _US_PER_MINUTE
    duration = timing.duration_minutes * _US_PER_MINUTE
    before, after = timing.buffer_before_minutes * _US_PER_MINUTE, timing.buffer_after_minutes * _US_PER_MINUTE
    earliest = _us(now + timedelta(minutes=rules.min_notice_minutes))
    latest = _us(now + timedelta(days=rules.horizon_days))
    days = _steady_midnights(first_day, last_day, zone)
    found: list[tuple[int, str, uuid.UUID]] = []
    for schedule in schedules:
        therapist_id, sort_id = schedule.therapist_id, str(schedule.therapist_id)
        # The starts whose blocked time would overlap time off or a busy range, as open intervals; both
        # ends ascend, as the merged ranges do.
        blocked = [
            (start - duration - after, end + before) for start, end in _merged(schedule.busy + schedule.time_off)
        ]
        lows, highs = [low for low, _ in blocked], [high for _, high in blocked]
        for day, midnight in days:
            windows, breaks = _day_plan(schedule, day, midnight, zone, step, duration)
            for starts in windows:
                starts = starts[bisect_left(starts, earliest) : bisect_right(starts, latest)]
                if not starts:
                    continue
                # Only intervals reaching past the first start and beginning before the last can matter.
                first = bisect_right(highs, starts[0])
                forbidden = blocked[first : bisect_left(lows, starts[-1], first)]
                if breaks:
                    forbidden = sorted(forbidden + breaks)
                found.extend((start, sort_id, therapist_id) for start in _outside(starts, forbidden))
    found.sort(key=lambda f: (f[0], f[1]))
    length = timedelta(minutes=timing.duration_minutes)
    slots = []
    for start, _, therapist_id in found:
        instant = _instant(start)
        slots.append(Slot(therapist_id, instant, instant + length))
    return slots


def _on_grid(local: datetime, day: date, hours: WeeklyTime, step: timedelta) -> bool:
    """Is this clinic wall time one of the walls `_grid` steps through for these hours?"""
    wall, opening = local.replace(tzinfo=None), datetime.combine(day, hours.start)
    return opening <= wall < datetime.combine(day, hours.end) and (wall - opening) % step == timedelta(0)


def refusal(schedule: Schedule, timing: Timing, rules: Rules, start: datetime, now: datetime) -> str | None:
    """Why `start` cannot be booked by the clinic's rules (not counting other reservations), or None.

    None exactly when `free_slots` (ignoring busy ranges) would offer `start`: checked directly, on
    the start's own day, without generating that day's other slots."""
    if start <= now:
        return "start_in_past"
    if start < now + timedelta(minutes=rules.min_notice_minutes):
        return "too_little_notice"
    if start > now + timedelta(days=rules.horizon_days):
        return "beyond_horizon"
    if any(timing.blocked(start).overlaps(off) for off in schedule.time_off):
        return "therapist_unavailable"
    zone = rules.zone
    local = start.astimezone(zone)
    day = local.date()
    treatment = Interval(start, timing.end(start))
    fitting = [
        h
        for h in schedule.hours
        if h.weekday == day.weekday()
        and (window := _hours_window(day, h, zone)).start <= start
        and treatment.end <= window.end
    ]
    if not fitting:
        return "outside_hours"
    if any(treatment.overlaps(b) for b in _breaks(schedule, day, zone)):
        return "therapist_unavailable"
    step = timedelta(minutes=rules.slot_step_minutes)
    # On the grid, and the first occurrence of its wall time (the one a repeated hour offers).
    if any(_on_grid(local, day, h, step) for h in fitting) and wall_to_utc(day, local.time(), zone) == start:
        return None
    return "off_grid"
