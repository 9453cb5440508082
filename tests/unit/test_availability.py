"""The slot generator: examples on ordinary and DST days, and properties over generated schedules."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from services.booking.availability import (
    Interval,
    Rules,
    Schedule,
    Timing,
    WeeklyTime,
    free_slots,
    refusal,
    wall_to_utc,
)

LONDON = ZoneInfo("Europe/London")
THERAPIST = uuid.uuid4()
RULES = Rules("Europe/London", slot_step_minutes=30, min_notice_minutes=0, horizon_days=3650)
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
SPRING, AUTUMN = date(2026, 3, 29), date(2026, 10, 25)  # both Sundays


def every_day(start: time, end: time) -> tuple[WeeklyTime, ...]:
    return tuple(WeeklyTime(d, start, end) for d in range(7))


def local_walls(slots) -> list[str]:
    return [s.start.astimezone(LONDON).strftime("%H:%M") for s in slots]


def test_ordinary_day_grid_with_break_and_booking():
    day = date(2026, 12, 1)
    busy = Interval(datetime(2026, 12, 1, 11, tzinfo=timezone.utc), datetime(2026, 12, 1, 12, tzinfo=timezone.utc))
    schedule = Schedule(
        THERAPIST, every_day(time(9), time(14)), breaks=(WeeklyTime(1, time(12), time(13)),), busy=(busy,)
    )
    slots = free_slots([schedule], Timing(60), RULES, day, day, NOW)
    assert local_walls(slots) == ["09:00", "09:30", "10:00", "13:00"]
    assert all(s.start.utcoffset() == timedelta(0) for s in slots)


def test_buffers_keep_distance_from_other_bookings():
    day = date(2026, 12, 1)
    busy = Interval(datetime(2026, 12, 1, 11, tzinfo=timezone.utc), datetime(2026, 12, 1, 12, tzinfo=timezone.utc))
    schedule = Schedule(THERAPIST, every_day(time(9), time(14)), busy=(busy,))
    slots = free_slots([schedule], Timing(60, buffer_before_minutes=15, buffer_after_minutes=15), RULES, day, day, NOW)
    assert local_walls(slots) == ["09:00", "09:30", "12:30", "13:00"]


def test_spring_forward_gap_has_no_slot_and_durations_are_real_minutes():
    slots = free_slots([Schedule(THERAPIST, every_day(time(0), time(4)))], Timing(30), RULES, SPRING, SPRING, NOW)
    walls = local_walls(slots)
    assert "01:00" not in walls and "01:30" not in walls  # 01:00–02:00 does not exist that night
    assert walls == ["00:00", "00:30", "02:00", "02:30", "03:00", "03:30"]
    assert all(s.end - s.start == timedelta(minutes=30) for s in slots)


def test_autumn_repeated_hour_offers_each_wall_time_once():
    slots = free_slots([Schedule(THERAPIST, every_day(time(0), time(3)))], Timing(30), RULES, AUTUMN, AUTUMN, NOW)
    walls = local_walls(slots)
    assert len(walls) == len(set(walls))
    assert walls.count("01:00") == 1 and walls.count("01:30") == 1


def test_refusal_takes_a_repeated_wall_time_at_its_first_occurrence_only():
    schedule = Schedule(THERAPIST, every_day(time(0), time(3)))
    first = datetime(2026, 10, 25, 0, 30, tzinfo=timezone.utc)  # 01:30 BST
    second = datetime(2026, 10, 25, 1, 30, tzinfo=timezone.utc)  # 01:30 GMT, an hour later
    assert first.astimezone(LONDON).strftime("%H:%M") == second.astimezone(LONDON).strftime("%H:%M") == "01:30"
    assert refusal(schedule, Timing(30), RULES, first, NOW) is None
    assert refusal(schedule, Timing(30), RULES, second, NOW) == "off_grid"


def test_working_day_on_dst_sundays_is_unchanged_in_wall_time():
    for day in (SPRING, AUTUMN):
        slots = free_slots([Schedule(THERAPIST, every_day(time(9), time(11)))], Timing(60), RULES, day, day, NOW)
        assert local_walls(slots) == ["09:00", "09:30", "10:00"]
    assert wall_to_utc(SPRING, time(1, 30), LONDON) is None


def test_min_notice_and_horizon():
    rules = Rules("Europe/London", slot_step_minutes=60, min_notice_minutes=120, horizon_days=1)
    now = datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)
    schedule = Schedule(THERAPIST, every_day(time(9), time(17)))
    slots = free_slots([schedule], Timing(60), rules, date(2026, 12, 1), date(2026, 12, 3), now)
    assert slots[0].start == datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
    assert slots[-1].start <= now + timedelta(days=1)


def test_refusal_reasons():
    schedule = Schedule(
        THERAPIST,
        every_day(time(9), time(17)),
        breaks=(WeeklyTime(1, time(12), time(13)),),
        time_off=(Interval(datetime(2026, 12, 2, tzinfo=timezone.utc), datetime(2026, 12, 3, tzinfo=timezone.utc)),),
    )
    rules = Rules("Europe/London", slot_step_minutes=15, min_notice_minutes=60, horizon_days=30)
    now = datetime(2026, 11, 30, 8, tzinfo=timezone.utc)

    def at(d, h, m=0):
        return datetime(2026, 12, d, h, m, tzinfo=timezone.utc)

    timing = Timing(60)
    assert refusal(schedule, timing, rules, at(1, 10), now) is None
    assert refusal(schedule, timing, rules, datetime(2026, 11, 29, tzinfo=timezone.utc), now) == "start_in_past"
    assert refusal(schedule, timing, rules, now + timedelta(minutes=30), now) == "too_little_notice"
    assert refusal(schedule, timing, rules, at(1, 10) + timedelta(days=40), now) == "beyond_horizon"
    assert refusal(schedule, timing, rules, at(1, 10, 5), now) == "off_grid"
    assert refusal(schedule, timing, rules, at(1, 16, 30), now) == "outside_hours"  # would end 17:30
    assert refusal(schedule, timing, rules, at(1, 7), now) == "outside_hours"
    assert refusal(schedule, timing, rules, at(1, 11, 30), now) == "therapist_unavailable"  # runs into the break
    assert refusal(schedule, timing, rules, at(2, 10), now) == "therapist_unavailable"  # time off


# --- properties -------------------------------------------------------------------------------

quarter = st.integers(min_value=0, max_value=95).map(lambda q: q * 15)  # minute of day, on the quarter


@st.composite
def weekly_hours(draw):
    hours = []
    for weekday in range(7):
        if draw(st.booleans()):
            start = draw(st.integers(0, 80)) * 15
            length = draw(st.integers(4, 56)) * 15
            end = min(start + length, 23 * 60 + 45)
            hours.append(WeeklyTime(weekday, time(start // 60, start % 60), time(end // 60, end % 60)))
    return tuple(hours)


@st.composite
def intervals_near(draw, first: date, count: int):
    found = []
    base = datetime.combine(first, time(0), tzinfo=timezone.utc)
    for _ in range(draw(st.integers(0, count))):
        start = base + timedelta(minutes=draw(st.integers(0, 4 * 24 * 60)))
        found.append(Interval(start, start + timedelta(minutes=draw(st.integers(5, 240)))))
    return tuple(found)


@st.composite
def scenarios(draw):
    first = draw(
        st.sampled_from(
            [
                SPRING - timedelta(days=1),
                SPRING,
                AUTUMN - timedelta(days=1),
                AUTUMN,
                date(2026, 6, 10),
                date(2026, 12, 20),
            ]
        )
    )
    hours = draw(weekly_hours())
    breaks = tuple(WeeklyTime(h.weekday, time(12), time(12, 30)) for h in hours if draw(st.booleans()))
    schedule = Schedule(
        THERAPIST, hours, breaks=breaks, time_off=draw(intervals_near(first, 2)), busy=draw(intervals_near(first, 6))
    )
    timing = Timing(
        draw(st.sampled_from([30, 45, 60, 90])), draw(st.sampled_from([0, 5, 15])), draw(st.sampled_from([0, 10, 15]))
    )
    rules = Rules(
        "Europe/London",
        slot_step_minutes=draw(st.sampled_from([5, 15, 30, 60])),
        min_notice_minutes=0,
        horizon_days=3650,
    )
    return schedule, timing, rules, first, first + timedelta(days=2)


@settings(max_examples=250, deadline=None)
@given(scenarios())
def test_slots_never_overlap_bookings_breaks_or_time_off_and_stay_inside_local_hours(scenario):
    schedule, timing, rules, first, last = scenario
    slots = free_slots([schedule], timing, rules, first, last, NOW)
    walls = set()
    for slot in slots:
        blocked = timing.blocked(slot.start)
        assert not any(blocked.overlaps(b) for b in schedule.busy + schedule.time_off)
        local_start, local_end = slot.start.astimezone(LONDON), slot.end.astimezone(LONDON)
        # The wall time exists (it converts back to itself) and is offered once.
        assert wall_to_utc(local_start.date(), local_start.time(), LONDON) == slot.start
        assert (local_start.date(), local_start.time()) not in walls
        walls.add((local_start.date(), local_start.time()))
        assert local_start.date() == local_end.date() or local_end.time() == time(0)
        assert any(
            h.weekday == local_start.weekday() and h.start <= local_start.time() and local_end.time() <= h.end
            for h in schedule.hours
        )
        for pause in schedule.breaks:
            if pause.weekday == local_start.weekday():
                assert local_end.time() <= pause.start or local_start.time() >= pause.end
    for slot in slots[:10]:
        assert refusal(schedule, timing, rules, slot.start, NOW) is None


# --- the fast generator against the rules written out plainly -----------------------------------------
# free_slots steps in UTC on days the clocks keep one offset and skips over busy ranges instead of
# testing each start against each; refusal checks one start directly. Both must agree with the rules
# as first written: every wall time of the grid converted on its own, every candidate tested against
# everything.


def _edge(day: date, wall: time, zone: ZoneInfo, later: bool) -> datetime:
    readings = [datetime.combine(day, wall, tzinfo=zone).replace(fold=f).astimezone(timezone.utc) for f in (0, 1)]
    return max(readings) if later else min(readings)


def plain_candidates(schedule: Schedule, timing: Timing, rules: Rules, day: date) -> list[datetime]:
    zone, step = rules.zone, timedelta(minutes=rules.slot_step_minutes)
    breaks = [
        Interval(_edge(day, b.start, zone, False), _edge(day, b.end, zone, True))
        for b in schedule.breaks
        if b.weekday == day.weekday()
    ]
    found = []
    for hours in (h for h in schedule.hours if h.weekday == day.weekday()):
        opening, closing = _edge(day, hours.start, zone, True), _edge(day, hours.end, zone, False)
        wall = datetime.combine(day, hours.start)
        while wall < datetime.combine(day, hours.end):
            start = wall_to_utc(day, wall.time(), zone)
            if start is not None and opening <= start and timing.end(start) <= closing:
                treatment = Interval(start, timing.end(start))
                if not any(treatment.overlaps(b) for b in breaks):
                    found.append(start)
            wall += step
    return found


def plain_free_slots(schedules, timing: Timing, rules: Rules, first: date, last: date, now: datetime) -> list:
    found = []
    for schedule in schedules:
        day = first
        while day <= last:
            for start in plain_candidates(schedule, timing, rules, day):
                bookable = (
                    now + timedelta(minutes=rules.min_notice_minutes)
                    <= start
                    <= now + timedelta(days=rules.horizon_days)
                )
                if bookable and not any(timing.blocked(start).overlaps(b) for b in schedule.busy + schedule.time_off):
                    found.append((start, str(schedule.therapist_id), schedule.therapist_id))
            day += timedelta(days=1)
    found.sort(key=lambda f: f[:2])
    return [(therapist_id, start, timing.end(start)) for start, _, therapist_id in found]


def plain_refusal(schedule: Schedule, timing: Timing, rules: Rules, start: datetime, now: datetime) -> str | None:
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
    if start in plain_candidates(schedule, timing, rules, day):
        return None
    treatment = Interval(start, timing.end(start))
    if not any(
        h.weekday == day.weekday()
        and _edge(day, h.start, zone, True) <= start
        and treatment.end <= _edge(day, h.end, zone, False)
        for h in schedule.hours
    ):
        return "outside_hours"
    breaks = [
        Interval(_edge(day, b.start, zone, False), _edge(day, b.end, zone, True))
        for b in schedule.breaks
        if b.weekday == day.weekday()
    ]
    if any(treatment.overlaps(b) for b in breaks):
        return "therapist_unavailable"
    return "off_grid"


# Zones with DST on different dates, a 30-minute DST shift (Lord Howe) and one changing at midnight (Santiago).
ZONES = ["Europe/London", "America/New_York", "Australia/Lord_Howe", "America/Santiago", "Asia/Tokyo"]
FIRST_DAYS = [
    date(2026, 3, 28),
    date(2026, 3, 7),
    date(2026, 4, 4),
    date(2026, 9, 5),
    date(2026, 10, 3),
    date(2026, 10, 24),
    date(2026, 10, 31),
    date(2026, 6, 10),
]


@st.composite
def any_weekly(draw, most: int):
    found = []
    for _ in range(draw(st.integers(0, most))):
        start = draw(st.integers(0, 24 * 60 - 2))
        end = draw(st.integers(start + 1, 24 * 60 - 1))
        found.append(WeeklyTime(draw(st.integers(0, 6)), time(start // 60, start % 60), time(end // 60, end % 60)))
    return tuple(found)


@st.composite
def any_scenario(draw):
    """Overlapping hours on a day, breaks anywhere, busy ranges to the second, any notice."""
    first = draw(st.sampled_from(FIRST_DAYS))
    hours = draw(any_weekly(8))
    if draw(st.booleans()):
        hours += weekly_hours_every_day(draw)
    base = datetime.combine(first, time(0), tzinfo=timezone.utc) - timedelta(days=1)

    def ranges(n):
        return tuple(
            Interval(s, s + timedelta(seconds=draw(st.integers(0, 5 * 3600))))
            for s in (base + timedelta(seconds=draw(st.integers(0, 5 * 86400))) for _ in range(draw(st.integers(0, n))))
        )

    schedules = [Schedule(uuid.UUID(int=n), hours, draw(any_weekly(3)), ranges(2), ranges(8)) for n in (1, 2)]
    timing = Timing(draw(st.integers(1, 180)), draw(st.integers(0, 30)), draw(st.integers(0, 30)))
    rules = Rules(
        draw(st.sampled_from(ZONES)),
        draw(st.sampled_from([5, 10, 15, 20, 30, 45, 60])),
        draw(st.integers(0, 3000)),
        draw(st.integers(1, 8)),
    )
    now = base + timedelta(seconds=draw(st.integers(-2 * 86400, 4 * 86400)))
    return schedules, timing, rules, first, first + timedelta(days=draw(st.integers(0, 3))), now


def weekly_hours_every_day(draw) -> tuple[WeeklyTime, ...]:
    start = draw(st.integers(0, 22 * 60)) // 15 * 15
    return every_day(time(start // 60, start % 60), time(23, 45))


@settings(max_examples=300, deadline=None)
@given(any_scenario(), st.data())
def test_free_slots_and_refusal_follow_the_rules_as_written(scenario, data):
    schedules, timing, rules, first, last, now = scenario
    slots = free_slots(schedules, timing, rules, first, last, now)
    assert [(s.therapist_id, s.start, s.end) for s in slots] == plain_free_slots(
        schedules, timing, rules, first, last, now
    )
    base = datetime.combine(first, time(0), tzinfo=timezone.utc) - timedelta(hours=14)
    span = ((last - first).days + 2) * 24 * 60
    starts = [s.start for s in slots[:10]] + [
        base + timedelta(minutes=data.draw(st.integers(0, span)), seconds=data.draw(st.sampled_from([0, 0, 30])))
        for _ in range(10)
    ]
    for start in starts:
        assert refusal(schedules[0], timing, rules, start, now) == plain_refusal(
            schedules[0], timing, rules, start, now
        )
