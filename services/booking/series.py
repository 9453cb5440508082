"""Planning a course: N sessions with the spacing the course recommends, first free slots first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.booking.availability import Rules, Schedule, Slot, Timing, free_slots


@dataclass(frozen=True)
class Spacing:
    sessions: int
    min_gap_days: int  # e.g. chronic, 2–3 a week: 2..4 days apart; acute, 1–2 a week: 3..7
    max_gap_days: int


def plan_series(
    schedule: Schedule, timing: Timing, rules: Rules, spacing: Spacing, first: Slot, now: datetime
) -> list[Slot] | None:
    """Sessions after `first`, each within the spacing of the one before, at the same wall time as the
    first where possible, else the earliest free slot; None if some session has no slot at all."""
    zone = rules.zone
    wanted_wall = first.start.astimezone(zone).time()
    plan = [first]
    for _ in range(spacing.sessions - 1):
        previous: date = plan[-1].start.astimezone(zone).date()
        options = free_slots(
            [schedule],
            timing,
            rules,
            previous + timedelta(days=spacing.min_gap_days),
            previous + timedelta(days=spacing.max_gap_days),
            now,
        )
        if not options:
            return None
        same_time = [s for s in options if s.start.astimezone(zone).time() == wanted_wall]
        plan.append(same_time[0] if same_time else options[0])
    return plan
