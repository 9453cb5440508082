import uuid
from datetime import date, datetime, time, timezone

from services.booking.availability import Interval, Rules, Schedule, Timing, WeeklyTime, free_slots
from services.booking.series import Spacing, plan_series

RULES = Rules("Europe/London", slot_step_minutes=60, min_notice_minutes=0, horizon_days=365)
NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)
WEEKDAYS = tuple(WeeklyTime(d, time(9), time(17)) for d in range(5))


def first_slot(schedule, day=date(2026, 11, 2)):
    return free_slots([schedule], Timing(60), RULES, day, day, NOW)[0]


def test_six_sessions_two_to_four_days_apart_at_the_same_time():
    schedule = Schedule(uuid.uuid4(), WEEKDAYS)
    plan = plan_series(schedule, Timing(60), RULES, Spacing(6, 2, 4), first_slot(schedule), NOW)
    assert len(plan) == 6
    days = [s.start.date() for s in plan]
    assert all(2 <= (b - a).days <= 4 for a, b in zip(days, days[1:]))
    assert {s.start.astimezone(RULES.zone).time() for s in plan} == {time(9)}


def test_a_busy_preferred_time_falls_back_to_the_earliest_free_slot():
    therapist = uuid.uuid4()
    busy = Interval(datetime(2026, 11, 4, 9, tzinfo=timezone.utc), datetime(2026, 11, 4, 10, tzinfo=timezone.utc))
    schedule = Schedule(therapist, WEEKDAYS, busy=(busy,))
    plan = plan_series(schedule, Timing(60), RULES, Spacing(2, 2, 2), first_slot(schedule), NOW)
    assert plan[1].start == datetime(2026, 11, 4, 10, tzinfo=timezone.utc)


def test_no_slot_in_the_spacing_window_means_no_plan():
    therapist = uuid.uuid4()
    off = Interval(datetime(2026, 11, 3, tzinfo=timezone.utc), datetime(2026, 11, 20, tzinfo=timezone.utc))
    schedule = Schedule(therapist, WEEKDAYS, time_off=(off,))
    assert plan_series(schedule, Timing(60), RULES, Spacing(3, 1, 7), first_slot(schedule), NOW) is None
