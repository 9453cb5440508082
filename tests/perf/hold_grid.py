"""The hold section's slot space: distinct, valid, non-overlapping hold starts for a set of synthetic
therapists, by index (the same mapping as wrk_hold.lua), checked against the product's own rules."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from datetime import time as dt_time

from tests.perf.bench_database import CLINIC, Catalogue

# The bench's hold therapists work every day, 08:00-20:00 clinic wall time (Europe/London). Whatever
# the UK offset (GMT or BST), UTC 08:00-19:00 lies inside those hours, so the grid below is laid in
# UTC: starts from 08:00 UTC every `step`, each treatment ending by 19:00 UTC. UK offsets are whole
# hours, so a UTC quarter hour is a wall-clock quarter hour (the clinic's 15-minute grid).
HOLD_HOURS = [(d, dt_time(8, 0), dt_time(20, 0)) for d in range(7)]
HOLD_UTC_OPEN, HOLD_UTC_CLOSE = timedelta(hours=8), timedelta(hours=19)
HOLD_FIRST_DAY = 2  # days after today (UTC): far past the 2 h minimum notice
HOLD_LAST_DAY_MARGIN = 3  # days kept clear of the horizon's end
HOLD_GRID_CHECKS = 300  # starts per grid checked against the product's own rules before use


@dataclass(frozen=True)
class HoldGrid:
    """Distinct valid hold starts for a set of therapists, indexed 0..capacity-1; the same mapping as
    wrk_hold.lua. Consecutive indices go to different therapists and days; two starts of one
    therapist on one day are `step` (>= the blocked span, treatment plus buffers) apart."""

    therapists: tuple[uuid.UUID, ...]
    first: datetime  # HOLD_UTC_OPEN of the first day
    days: int
    slots_per_day: int
    step: timedelta

    @property
    def capacity(self) -> int:
        return len(self.therapists) * self.days * self.slots_per_day

    def start(self, g: int) -> tuple[uuid.UUID, datetime]:
        if not 0 <= g < self.capacity:
            raise IndexError("hold grid exhausted")
        n = len(self.therapists)
        r = g // n
        day, slot = r % self.days, r // self.days
        return self.therapists[g % n], self.first + timedelta(days=day) + slot * self.step

    def wrk_args(self, offset: int, per_thread: int, cat: Catalogue) -> list[str]:
        return [
            str(int(self.first.timestamp())),
            str(int(self.step.total_seconds())),
            str(self.days),
            str(offset),
            str(per_thread),
            CLINIC,
            str(cat.treatment.id),
            ",".join(str(t) for t in self.therapists),
        ]


def hold_grid(therapists: list[uuid.UUID], cat: Catalogue, now: datetime) -> HoldGrid:
    timing, rules = cat.treatment.timing, cat.clinic.rules
    grid = rules.slot_step_minutes
    if 60 % grid:
        raise RuntimeError(f"slot step {grid} min does not divide an hour; the UTC grid would be off the wall grid")
    blocked = timing.buffer_before_minutes + timing.duration_minutes + timing.buffer_after_minutes
    step = timedelta(minutes=-(-blocked // grid) * grid)
    span = HOLD_UTC_CLOSE - HOLD_UTC_OPEN - timedelta(minutes=timing.duration_minutes)
    first_day = now.astimezone(timezone.utc).date() + timedelta(days=HOLD_FIRST_DAY)
    days = rules.horizon_days - HOLD_FIRST_DAY - HOLD_LAST_DAY_MARGIN
    return HoldGrid(
        tuple(therapists),
        datetime.combine(first_day, dt_time(0), timezone.utc) + HOLD_UTC_OPEN,
        days,
        span // step + 1,
        step,
    )


def check_hold_grid(grid: HoldGrid, cat: Catalogue, now: datetime) -> None:
    """Every start a run may use is bookable by the product's own rules (refusal() is pure): on the grid,
    inside the hours, past the notice, within the horizon; checked on a sample incl. the edges."""
    from services.booking.availability import Schedule, WeeklyTime, refusal

    hours = tuple(WeeklyTime(d, a, b) for d, a, b in HOLD_HOURS)
    rng = random.Random(7)
    n = len(grid.therapists)
    edges = [0, n - 1, n * grid.days - 1, n * grid.days, grid.capacity - n, grid.capacity - 1]
    bad = []
    for g in edges + [rng.randrange(grid.capacity) for _ in range(HOLD_GRID_CHECKS)]:
        therapist, start = grid.start(g)
        reason = refusal(Schedule(therapist, hours), cat.treatment.timing, cat.clinic.rules, start, now)
        if reason is not None:
            bad.append((g, start.isoformat(), reason))
    if bad:
        raise RuntimeError(f"the hold grid has starts the product refuses: {bad[:5]}")
