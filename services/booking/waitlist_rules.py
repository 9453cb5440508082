"""The waitlist's rules (issue 20): what a person on it may ask for, whether a free time matches what they asked
for, who is offered a time first, and which of the free times they are offered. Pure: no I/O.

A wish names a treatment (always), a therapist (or any giving it), weekdays (0 = Monday .. 6 = Sunday) and times
of day, in the clinic's wall time: morning (before 12:00), afternoon (12:00 to 17:00) and evening (from 17:00),
by the time the treatment starts. Nothing chosen: any."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Iterable, Iterator, Sequence
from zoneinfo import ZoneInfo

from services.booking.availability import Interval, Slot, Timing

TIMES_OF_DAY = ("morning", "afternoon", "evening")
AFTERNOON_FROM = time(12, 0)
EVENING_FROM = time(17, 0)
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Entries still in the queue (waiting, or with an open offer): the ones a person may have at most
# MAX_LIVE_ENTRIES_PER_EMAIL of at one clinic (a bound on what one address can make the matcher do).
LIVE_STATUSES = ("waiting", "offered")
MAX_LIVE_ENTRIES_PER_EMAIL = 20
STATUSES = ("waiting", "offered", "booked", "left", "removed")
# Entries out of the queue for good: the customer booked the time offered, left, or the clinic removed them.
ENDED_STATUSES = ("booked", "left", "removed")
# How long an ended entry is kept (from when it ended) before the retention job deletes it: long enough for the
# booking made from its offer to settle (an unpaid one lapses within hours and puts a booked entry back in the
# queue) and for the clinic to answer "was I on your waitlist?" about a recent one; after that the customer's
# name and email serve no purpose (docs/privacy.md). As staff sessions' retention.ENDED_ACCESS_KEPT.
ENDED_ENTRY_KEPT = timedelta(days=30)
OFFER_STATUSES = ("open", "taken", "lapsed", "withdrawn")


class WishInvalid(ValueError):
    """What a person asked for is not something the waitlist can keep: `field` says which part."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def time_of_day(wall: time) -> str:
    """Morning, afternoon or evening, of a wall-clock time."""
    if wall < AFTERNOON_FROM:
        return "morning"
    if wall < EVENING_FROM:
        return "afternoon"
    return "evening"


def weekdays(given: Iterable[int]) -> tuple[int, ...]:
    """The weekdays as kept (in order), each 0 (Monday) to 6 (Sunday) and given once; else WishInvalid."""
    days = list(given)
    if any(not isinstance(d, int) or isinstance(d, bool) or not 0 <= d <= 6 for d in days):
        raise WishInvalid("weekdays", "each weekday must be a whole number from 0 (Monday) to 6 (Sunday)")
    if len(set(days)) != len(days):
        raise WishInvalid("weekdays", "each weekday may be given once")
    return tuple(sorted(days))


def times_of_day(given: Iterable[str]) -> tuple[str, ...]:
    """The times of day as kept (morning, afternoon, evening order), each given once; else WishInvalid."""
    chosen = list(given)
    if any(t not in TIMES_OF_DAY for t in chosen):
        raise WishInvalid("times_of_day", f"each time of day must be one of {', '.join(TIMES_OF_DAY)}")
    if len(set(chosen)) != len(chosen):
        raise WishInvalid("times_of_day", "each time of day may be given once")
    return tuple(t for t in TIMES_OF_DAY if t in chosen)


def ended_entries_forgotten_before(now: datetime) -> datetime:
    """Entries that ended (ENDED_STATUSES) before this are deleted by the retention job; later ones are kept."""
    return now - ENDED_ENTRY_KEPT


def may_join(live_entries_of_email: int) -> bool:
    """Whether a person with this many live entries at the clinic may add one more."""
    return live_entries_of_email < MAX_LIVE_ENTRIES_PER_EMAIL


@dataclass(frozen=True)
class Wish:
    """What one waitlist entry asks for (its treatment is the pair the matcher is working on)."""

    therapist_id: uuid.UUID | None
    weekdays: frozenset[int] = frozenset()
    times_of_day: frozenset[str] = frozenset()

    def matches(self, therapist_id: uuid.UUID, start: datetime, zone: ZoneInfo) -> bool:
        """Does a time starting at `start` with this therapist suit this wish (the clinic's wall time)?"""
        if self.therapist_id is not None and therapist_id != self.therapist_id:
            return False
        local = start.astimezone(zone)
        if self.weekdays and local.weekday() not in self.weekdays:
            return False
        return not self.times_of_day or time_of_day(local.time()) in self.times_of_day


@dataclass(frozen=True)
class Waiting:
    """A waiting entry as the matcher sees it: in the queue's order, and the times it was offered before
    (therapist, start), never offered again."""

    id: uuid.UUID
    created_at: datetime
    wish: Wish
    offered_before: frozenset[tuple[uuid.UUID, datetime]] = frozenset()


def in_queue_order(entries: Iterable[Waiting]) -> list[Waiting]:
    """First come, first offered: by when they joined (the id breaks a tie, so every matcher agrees)."""
    return sorted(entries, key=lambda e: (e.created_at, str(e.id)))


@dataclass
class Offering:
    """One matcher run's free times of one treatment, as they are given away: a time offered (held) is gone, and
    so is every other time of its therapist that it overlaps."""

    slots: Sequence[Slot]
    timing: Timing
    zone: ZoneInfo

    def __post_init__(self) -> None:
        self._held: dict[uuid.UUID, list[Interval]] = {}

    def candidates(self, entry: Waiting) -> Iterator[Slot]:
        """The free times suiting `entry`, earliest first, that it was not offered before and nobody was
        offered in this run."""
        for slot in self.slots:
            if (slot.therapist_id, slot.start) in entry.offered_before:
                continue
            if not entry.wish.matches(slot.therapist_id, slot.start, self.zone):
                continue
            if self._taken(slot):
                continue
            yield slot

    def take(self, slot: Slot) -> None:
        """`slot` is held now (offered, or found taken): it and what overlaps it are not free any more."""
        self._held.setdefault(slot.therapist_id, []).append(self.timing.blocked(slot.start))

    def _taken(self, slot: Slot) -> bool:
        blocked = self.timing.blocked(slot.start)
        return any(blocked.overlaps(other) for other in self._held.get(slot.therapist_id, ()))


def wish_in_words(weekdays: Sequence[int], times: Sequence[str]) -> str:
    """What an entry asks for, as people say it: "Mondays or Fridays, mornings", "any day, any time"."""
    days = " or ".join(f"{WEEKDAY_NAMES[d]}s" for d in sorted(weekdays)) if weekdays else "any day"
    parts = " or ".join(f"{t}s" for t in TIMES_OF_DAY if t in times) if times else "any time"
    return f"{days}, {parts}"
