"""The clinic's diary (pure: no I/O, no clock): what its therapists' days hold, as reception sees them.

Turns the rows the store read (diary_store.py) into days in the clinic's zone: each therapist's working hours and
breaks on that date (weekly wall times made instants the way availability.py makes them, so the diary shows
exactly the hours the public slots come from, also on the days the clocks change), the time off that overlaps
the day (clipped to it), and the appointments that start on it. An archived therapist (one who left, kept for
their bookings) is listed only if they have an appointment in the days, or is the one therapist asked for.

What the diary shows: reservations that take, or took, the therapist's time. A hold is shown until it expires
and a booking awaiting payment until its payment time runs out (after that they block nothing and the sweeper
marks them expired); confirmed, completed and no-show bookings always. Cancelled bookings, lapsed holds and
released holds are left out: their time is free again (the clinic's booking list, GET /api/v1/clinic/bookings,
still lists a cancelled booking). No contact details or health data: a booking's own page has those.

The answer is built as the JSON it is sent as (times as ISO 8601 strings with the clinic's offset), in one pass:
a week of a busy clinic is hundreds of appointments, and a second pass through objects cost more than the
database read (tests/perf/section_diary.py)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, datetime, time, timedelta, timezone
from typing import NamedTuple, Sequence, TypedDict
from zoneinfo import ZoneInfo

from services.booking.domain import BookingError

# A day view asks for one day (from = to), a week view for seven; no more in one request.
MAX_DIARY_DAYS = 7
# Always shown: the time is (or was) the customer's.
SHOWN_STATUSES = ("confirmed", "completed", "no_show")
# Shown while their `expires_at` is ahead: a hold, and a booking whose customer is paying.
SHOWN_UNTIL_EXPIRY = ("held", "pending_payment")
HOLD, BOOKING = "hold", "booking"


# --- what the store reads ------------------------------------------------------------------------


class TherapistRow(NamedTuple):
    id: uuid.UUID
    name: str
    archived: bool = False  # gone from the clinic: listed only for the appointments they still have, or by id


class WeeklyRow(NamedTuple):
    """Wall-clock hours (or a break) of a therapist on one weekday (0 = Monday), in the clinic's zone."""

    therapist_id: uuid.UUID
    weekday: int
    start: time
    end: time


class TimeOffRow(NamedTuple):
    therapist_id: uuid.UUID
    start: datetime  # aware (UTC)
    end: datetime
    reason: str


class AppointmentRow(NamedTuple):
    """A reservation starting in the days, as the store reads it (only those `shown`, unless it reads more)."""

    id: uuid.UUID
    therapist_id: uuid.UUID
    status: str
    start: datetime  # aware (UTC)
    end: datetime
    treatment_id: uuid.UUID
    treatment_name: str
    customer_name: str | None
    expires_at: datetime | None = None  # a hold's, or an unpaid booking's
    series_id: uuid.UUID | None = None
    series_index: int | None = None


class DiaryRows(NamedTuple):
    """Everything one diary answer reads, for the days asked: the clinic's zone, the therapists considered
    (in the order to show them), their weekly hours and breaks, and the time off and appointments in the days."""

    timezone: str
    therapists: Sequence[TherapistRow]
    hours: Sequence[WeeklyRow]
    breaks: Sequence[WeeklyRow]
    time_off: Sequence[TimeOffRow]
    appointments: Sequence[AppointmentRow]


# --- what the diary shows (GET /api/v1/clinic/diary's JSON) --------------------------------------


class SpanJson(TypedDict):
    start: str  # ISO 8601 with the clinic's offset
    end: str


class TimeOffJson(TypedDict):
    start: str  # clipped to the day
    end: str
    reason: str


class TreatmentJson(TypedDict):
    id: str
    name: str


class CustomerJson(TypedDict):
    name: str


class SeriesJson(TypedDict):
    id: str
    index: int | None


class _AppointmentJson(TypedDict):
    id: str
    kind: str  # HOLD or BOOKING
    status: str
    start: str
    end: str
    treatment: TreatmentJson
    customer: CustomerJson | None  # None for a hold: nobody has given their name yet


class AppointmentJson(_AppointmentJson, total=False):
    series: SeriesJson  # only for a session of a course


class DayJson(TypedDict):
    date: str
    hours: list[SpanJson]
    breaks: list[SpanJson]
    time_off: list[TimeOffJson]
    appointments: list[AppointmentJson]


class TherapistJson(TypedDict):
    id: str
    name: str
    days: list[DayJson]


DiaryJson = TypedDict("DiaryJson", {"timezone": str, "from": str, "to": str, "therapists": list[TherapistJson]})


# --- the rules -----------------------------------------------------------------------------------


def today(timezone_name: str, now: datetime) -> date:
    """The clinic's date at `now`: what a diary request naming no day shows."""
    return now.astimezone(ZoneInfo(timezone_name)).date()


def days_asked(first: date, last: date | None) -> tuple[date, date]:
    """The days of a diary request (both included; by default the one day `first`): 1 to MAX_DIARY_DAYS of them,
    else 422."""
    if last is None:
        return first, first
    if last < first:
        raise BookingError(
            422, "invalid_range", "`to` is before `from`", {"field": "to", "in": "query", "type": "invalid_range"}
        )
    if (last - first).days + 1 > MAX_DIARY_DAYS:
        raise BookingError(
            422,
            "range_too_large",
            f"Ask for at most {MAX_DIARY_DAYS} days at a time (a day, or a week)",
            {"field": "to", "in": "query", "type": "range_too_large", "max_days": MAX_DIARY_DAYS},
        )
    return first, last


def therapist_not_found() -> BookingError:
    return BookingError(404, "therapist_not_found", "No such therapist")


def shown(status: str, expires_at: datetime | None, now: datetime) -> bool:
    """Does the diary show a reservation in this status? (The store's query reads only these, by the same rule.)"""
    if status in SHOWN_STATUSES:
        return True
    return status in SHOWN_UNTIL_EXPIRY and expires_at is not None and expires_at > now


def kind_of(status: str) -> str:
    return HOLD if status == "held" else BOOKING


def edge(day: date, wall: time, zone: ZoneInfo, *, later: bool) -> datetime:
    """A wall time of the day as an instant in the zone: where the clocks skip or repeat it, the later
    reading for an opening and the earlier for a closing (availability.py's rule, so the hours shown are those
    the slots come from)."""
    readings = [datetime.combine(day, wall, tzinfo=zone).replace(fold=f).astimezone(timezone.utc) for f in (0, 1)]
    return (max(readings) if later else min(readings)).astimezone(zone)


class _Walls:
    """Wall times of one day as ISO instants, each worked out once (a clinic's therapists share a few)."""

    def __init__(self, day: date, zone: ZoneInfo):
        self.day, self.zone = day, zone
        self.known: dict[tuple[time, bool], str] = {}

    def iso(self, wall: time, *, later: bool) -> str:
        found = self.known.get((wall, later))
        if found is None:
            found = self.known[(wall, later)] = edge(self.day, wall, self.zone, later=later).isoformat()
        return found


def _weekly(rows: Sequence[WeeklyRow]) -> dict[tuple[uuid.UUID, int], list[WeeklyRow]]:
    found: dict[tuple[uuid.UUID, int], list[WeeklyRow]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r.start):
        found[(row.therapist_id, row.weekday)].append(row)
    return found


def _appointment(row: AppointmentRow, start: datetime, zone: ZoneInfo, treatment: TreatmentJson) -> AppointmentJson:
    held = row.status == "held"
    shown: AppointmentJson = {
        "id": str(row.id),
        "kind": HOLD if held else BOOKING,
        "status": row.status,
        "start": start.isoformat(),
        "end": row.end.astimezone(zone).isoformat(),
        "treatment": treatment,
        "customer": None if held or row.customer_name is None else {"name": row.customer_name},
    }
    if row.series_id is not None:
        shown["series"] = {"id": str(row.series_id), "index": row.series_index}
    return shown


def _time_off(offs: list[TimeOffRow], opening: datetime, closing: datetime, zone: ZoneInfo) -> list[TimeOffJson]:
    return [
        {
            "start": max(off.start, opening).astimezone(zone).isoformat(),
            "end": min(off.end, closing).astimezone(zone).isoformat(),
            "reason": off.reason,
        }
        for off in offs
        if off.start < closing and opening < off.end
    ]


def assemble(
    rows: DiaryRows, first: date, last: date, now: datetime, therapist_id: uuid.UUID | None = None
) -> DiaryJson:
    """The diary of the days `first`..`last` (the clinic's dates) at `now` for the therapists read, in their order.
    `therapist_id`: the one therapist asked for; 404 if the store found no such therapist of the clinic."""
    if therapist_id is not None and not any(t.id == therapist_id for t in rows.therapists):
        raise therapist_not_found()
    zone = ZoneInfo(rows.timezone)
    dates = [first + timedelta(days=d) for d in range((last - first).days + 1)]
    hours, breaks = _weekly(rows.hours), _weekly(rows.breaks)
    time_off: dict[uuid.UUID, list[TimeOffRow]] = defaultdict(list)
    for off in sorted(rows.time_off, key=lambda o: o.start):
        time_off[off.therapist_id].append(off)
    appointments: dict[tuple[uuid.UUID, date], list[AppointmentJson]] = defaultdict(list)
    treatments: dict[uuid.UUID, TreatmentJson] = {}  # one object per treatment, shared by its appointments
    # By instant, before they become wall times (two wall times of a repeated hour compare by the wall clock); the
    # sort is stable, so the store's order stays among those starting together.
    for row in sorted(rows.appointments, key=lambda r: r.start):
        if not shown(row.status, row.expires_at, now):
            continue
        start = row.start.astimezone(zone)
        treatment = treatments.get(row.treatment_id)
        if treatment is None:
            treatment = treatments[row.treatment_id] = {"id": str(row.treatment_id), "name": row.treatment_name}
        appointments[(row.therapist_id, start.date())].append(_appointment(row, start, zone, treatment))
    booked = {therapist for therapist, _ in appointments}
    walls = {day: _Walls(day, zone) for day in dates}
    # A day's first instant and the next day's (midnight's first occurrence; or, skipped, the instant it would be).
    bounds = {
        day: (datetime.combine(day, time(), zone), datetime.combine(day + timedelta(days=1), time(), zone))
        for day in dates
    }
    therapists: list[TherapistJson] = []
    for therapist in rows.therapists:
        if therapist.archived and therapist.id != therapist_id and therapist.id not in booked:
            continue
        days: list[DayJson] = []
        for day in dates:
            key, wall = (therapist.id, day.weekday()), walls[day]
            days.append(
                {
                    "date": day.isoformat(),
                    "hours": [
                        {"start": wall.iso(h.start, later=True), "end": wall.iso(h.end, later=False)}
                        for h in hours.get(key, ())
                    ],
                    # A break is widened where the clock is ambiguous, as availability never offers a slot touching it.
                    "breaks": [
                        {"start": wall.iso(b.start, later=False), "end": wall.iso(b.end, later=True)}
                        for b in breaks.get(key, ())
                    ],
                    "time_off": _time_off(offs, *bounds[day], zone) if (offs := time_off.get(therapist.id)) else [],
                    "appointments": appointments.get((therapist.id, day), []),
                }
            )
        therapists.append({"id": str(therapist.id), "name": therapist.name, "days": days})
    return {"timezone": rows.timezone, "from": first.isoformat(), "to": last.isoformat(), "therapists": therapists}
