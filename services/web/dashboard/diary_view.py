"""What the diary and a booking's page say (pure: no I/O, no clock): the clinic API's JSON (GET /api/v1/clinic/diary,
GET /api/v1/clinic/bookings/{id}) turned into the lines reception reads, in the clinic's zone with the zone named.

The diary is a list per day per therapist, in time order (hours, then bookings, holds, breaks and time off), every
time said as text: it reads the same on a phone as on a desk, and to a screen reader as to the eye. A week starts
on a Monday, as a clinic's week does."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Mapping, Sequence
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from services.web.formatting import day_heading, day_label, wall_clock, zone_label
from shared.money import voucher_value

DAY, WEEK = "day", "week"
WEEK_DAYS = 7
DIARY_PATH = "/clinic/diary"
BOOKING_PATH = "/clinic/bookings/{id}"
# How reception says each status (the API's words are for programs).
STATUS_WORDS = {
    "held": "Being booked",
    "pending_payment": "Awaiting online payment",
    "confirmed": "Confirmed",
    "completed": "Completed",
    "no_show": "No-show",
    "cancelled": "Cancelled",
    "expired": "Lapsed (never paid)",
    "released": "Let go while being booked",
}
SCREENING_OUTCOMES = {
    "clear": "No concerns",
    "flag": "Answers to check before the treatment (marked below)",
    "see_doctor": "Advised to see a GP or physiotherapist first",
    "emergency": "Advised to seek urgent care",
}
ACTION_WORDS = {"book": "Booked for the customer", "cancel": "Cancelled for the customer", "reschedule": "Moved"}
ROLE_WORDS = {"owner": "the owner", "staff": "staff"}


# --- the diary's days --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Asked:
    """What a diary page shows: a day or the week from a Monday, of the clinic or of one therapist."""

    view: str  # DAY or WEEK
    first: date
    therapist: str | None  # a therapist's id (as the API spells it), or None: the whole clinic

    @property
    def last(self) -> date:
        return self.first + timedelta(days=WEEK_DAYS - 1) if self.view == WEEK else self.first

    @property
    def step(self) -> timedelta:
        return timedelta(days=WEEK_DAYS if self.view == WEEK else 1)


def asked(view: str | None, day: date | None, therapist: str | None, today: date) -> Asked:
    """The page asked for: a day (by default), or a week (from the Monday of `day`'s week); `day` by default the
    clinic's today."""
    shown = WEEK if view == WEEK else DAY
    first = day or today
    if shown == WEEK:
        first -= timedelta(days=first.weekday())
    return Asked(shown, first, therapist)


def diary_url(view: str, first: date | None, therapist: str | None) -> str:
    """The diary page's address: only what differs from its defaults (a day, today, the whole clinic)."""
    query = {"view": WEEK} if view == WEEK else {}
    if first is not None:
        query["date"] = first.isoformat()
    if therapist:
        query["therapist"] = therapist
    return f"{DIARY_PATH}?{urlencode(query)}" if query else DIARY_PATH


@dataclass(frozen=True)
class Navigation:
    previous: str
    next: str
    today: str
    day_view: str
    week_view: str
    previous_label: str
    next_label: str


def navigation(shown: Asked, today: date) -> Navigation:
    """Links to the neighbouring day or week, to today, and to the other view of the same days (from a week, its
    day today if today is in it, else its Monday)."""
    unit = "week" if shown.view == WEEK else "day"
    one_day = today if shown.first <= today <= shown.last else shown.first
    return Navigation(
        previous=diary_url(shown.view, shown.first - shown.step, shown.therapist),
        next=diary_url(shown.view, shown.first + shown.step, shown.therapist),
        today=diary_url(shown.view, None, shown.therapist),
        day_view=diary_url(DAY, None if one_day == today else one_day, shown.therapist),
        week_view=diary_url(WEEK, None if shown.first <= today <= shown.last else shown.first, shown.therapist),
        previous_label=f"Previous {unit}",
        next_label=f"Next {unit}",
    )


@dataclass(frozen=True)
class Entry:
    """One line of a therapist's day: its times as text, what it is, who it is for, a note (a status, a reason),
    and, for a booking, the link to its page."""

    times: str  # '09:00 to 10:00', 'All day'
    kind: str  # booking | hold | break | time_off
    title: str  # the treatment, 'Break', 'Time off'
    who: str = ""  # a booking's customer
    note: str = ""  # a booking's status, what a hold is, the reason for time off
    href: str | None = None
    sort_key: tuple[datetime, int] = field(default=(datetime.min, 0), compare=False, repr=False)


@dataclass(frozen=True)
class TherapistDay:
    therapist_id: str
    therapist_name: str
    section_id: str  # of its heading: what its list is labelled by
    hours: str  # 'Working 09:00 to 18:00', 'Not working'
    entries: list[Entry]
    bookings: int


@dataclass(frozen=True)
class DiaryDay:
    day: date
    heading: str  # 'Tuesday 15 December 2026 (UK time, GMT)'
    heading_id: str
    is_today: bool
    therapists: list[TherapistDay]


@dataclass(frozen=True)
class Diary:
    title: str
    zone: str  # 'UK time, GMT' (or both, for a week in which the clocks change)
    days: list[DiaryDay]


def _local(iso: str, zone: ZoneInfo) -> datetime:
    return datetime.fromisoformat(iso).astimezone(zone)


def span_words(start: datetime, end: datetime, day: date) -> str:
    """'09:00 to 10:00' of wall times on `day`; a span running past the day's end ends 'at midnight', and one
    covering the whole day is 'All day'."""
    starts_at_midnight = start.date() == day and start.time() == time()
    ends_next_day = end.date() > day
    if starts_at_midnight and ends_next_day:
        return "All day"
    return f"{wall_clock(start)} to {'midnight' if ends_next_day else wall_clock(end)}"


def _hours_words(spans: Sequence[Mapping[str, str]], zone: ZoneInfo, day: date) -> str:
    if not spans:
        return "Not working"
    return "Working " + " and ".join(span_words(_local(s["start"], zone), _local(s["end"], zone), day) for s in spans)


def _appointment(item: Mapping[str, Any], zone: ZoneInfo, day: date) -> Entry:
    start, end = _local(item["start"], zone), _local(item["end"], zone)
    times, treatment = span_words(start, end, day), item["treatment"]["name"]
    series = item.get("series")
    if series and series.get("index") is not None:
        treatment += f" (course session {series['index'] + 1})"
    if item["kind"] == "hold":
        note = "Being booked: a customer is choosing this time (a hold, not yet a booking)"
        return Entry(times, "hold", treatment, note=note, sort_key=(start, 1))
    return Entry(
        times,
        "booking",
        treatment,
        who=(item.get("customer") or {}).get("name") or "No name given",
        note=STATUS_WORDS.get(item["status"], item["status"]),
        href=BOOKING_PATH.format(id=item["id"]),
        sort_key=(start, 1),
    )


def _therapist_day(therapist: Mapping[str, Any], found: Mapping[str, Any], zone: ZoneInfo, day: date) -> TherapistDay:
    entries = [_appointment(a, zone, day) for a in found["appointments"]]
    for span in found["breaks"]:
        start, end = _local(span["start"], zone), _local(span["end"], zone)
        entries.append(Entry(span_words(start, end, day), "break", "Break", sort_key=(start, 0)))
    for off in found["time_off"]:
        start, end = _local(off["start"], zone), _local(off["end"], zone)
        entries.append(
            Entry(
                span_words(start, end, day), "time_off", "Time off", note=off.get("reason") or "", sort_key=(start, 0)
            )
        )
    entries.sort(key=lambda e: e.sort_key)
    return TherapistDay(
        therapist_id=therapist["id"],
        therapist_name=therapist["name"],
        section_id=f"t-{therapist['id']}-{day.isoformat()}",
        hours=_hours_words(found["hours"], zone, day),
        entries=entries,
        bookings=sum(1 for e in entries if e.kind == "booking"),
    )


def diary(answer: Mapping[str, Any], shown: Asked, today: date) -> Diary:
    """The page's days from the diary API's answer, each with every therapist the answer has, in its order."""
    zone = ZoneInfo(answer["timezone"])
    days: list[DiaryDay] = []
    by_day: dict[str, list[TherapistDay]] = {}
    for therapist in answer["therapists"]:
        for found in therapist["days"]:
            day = date.fromisoformat(found["date"])
            by_day.setdefault(found["date"], []).append(_therapist_day(therapist, found, zone, day))
    current = shown.first
    while current <= shown.last:
        days.append(
            DiaryDay(
                day=current,
                heading=day_heading(current, zone),
                heading_id=f"day-{current.isoformat()}",
                is_today=current == today,
                therapists=by_day.get(current.isoformat(), []),
            )
        )
        current += timedelta(days=1)
    zones = dict.fromkeys(zone_label(datetime.combine(d.day, time(12), zone), zone) for d in days)
    if shown.view == WEEK:
        title = f"Week of {day_label(shown.first)}"
    else:
        title = day_label(shown.first)
    return Diary(title=title, zone=" and ".join(zones), days=days)


# --- a booking's page ------------------------------------------------------------------------------------


def when_words(start_iso: str, end_iso: str, zone: ZoneInfo) -> str:
    """'Tuesday 15 December 2026, 10:00 to 11:00 (UK time, GMT)'."""
    start, end = _local(start_iso, zone), _local(end_iso, zone)
    return f"{day_label(start.date())}, {span_words(start, end, start.date())} ({zone_label(start, zone)})"


def instant_words(iso: str, zone: ZoneInfo) -> str:
    """'Tuesday 15 December 2026, 10:00 (UK time, GMT)'."""
    local = _local(iso, zone)
    return f"{day_label(local.date())}, {wall_clock(local)} ({zone_label(local, zone)})"


def status_words(booking: Mapping[str, Any]) -> str:
    words = STATUS_WORDS.get(booking["status"], str(booking["status"]))
    cancellation = booking.get("cancellation")
    if booking["status"] == "cancelled" and cancellation:
        return f"{words} by {'the clinic' if cancellation['by'] == 'clinic' else 'the customer'}"
    return words


def payment_words(booking: Mapping[str, Any]) -> str:
    mode = (booking.get("payment") or {}).get("mode")
    if mode == "at_clinic":
        return "At the clinic, on the day (nothing charged online)"
    if booking["status"] == "pending_payment":
        return "Online by card: waiting for the customer to pay from the link we emailed them"
    if booking["status"] in ("held", "expired", "released"):
        return "Online by card: not paid"
    return "Online by card"


def voucher_words(voucher: Mapping[str, Any] | None) -> str | None:
    """'Gift voucher …WXYZ paid £50.00; £10.00 is left on it.'"""
    if not voucher:
        return None
    remaining = voucher.get("remaining") or {}
    left = (
        "nothing is left on it"
        if not (remaining.get("amount") or remaining.get("sessions"))
        else f"{voucher_value(remaining)} is left on it"
    )
    hint = voucher.get("code_hint")
    return f"Gift voucher {hint + ' ' if hint else ''}paid {voucher_value(voucher['value'])}; {left}."


def refund_words(booking: Mapping[str, Any]) -> str | None:
    """What the customer gets back for a cancelled booking (the API refunds in full when the clinic cancels)."""
    cancellation = booking.get("cancellation")
    if booking["status"] != "cancelled" or not cancellation:
        return None
    if (booking.get("payment") or {}).get("mode") == "at_clinic":
        return "Nothing was paid online, so nothing is refunded."
    if cancellation["by"] == "clinic":
        return (
            "A full refund: what the customer paid by card is refunded to their card, and any part a gift voucher "
            "paid is put back on the voucher. They have been emailed."
        )
    return "Cancelled by the customer from their booking's link; any refund follows the clinic's cancellation policy."


def paid_nothing_online(booking: Mapping[str, Any]) -> bool:
    """Nothing was charged online for it: paid at the clinic, or a phone booking whose link was never paid."""
    return (booking.get("payment") or {}).get("mode") == "at_clinic" or booking["status"] == "pending_payment"


def cancel_refund_words(booking: Mapping[str, Any]) -> str:
    """What cancelling this (still open) booking gives the customer back, said before it is cancelled."""
    voucher = " Any part a gift voucher paid goes back on the voucher." if booking.get("voucher") else ""
    if (booking.get("payment") or {}).get("mode") == "at_clinic":
        return (
            f"Nothing was paid online, so nothing is refunded.{voucher} The customer is emailed that it is cancelled."
        )
    if booking["status"] == "pending_payment":
        return (
            "The customer has not paid yet, so nothing is refunded: their payment link stops working and they are "
            "emailed that it is cancelled."
        )
    return (
        "The customer gets a full refund and an email, whatever the cancellation policy says: what they paid by "
        "card is refunded to the card, and any part a gift voucher paid goes back on the voucher."
    )


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str  # 'Yes', 'No'
    flagged: bool


def screening_answers(screening: Mapping[str, Any] | None, questions: Sequence[Mapping[str, Any]]) -> list[Answer]:
    """The customer's answers in the questionnaire's order, each with its question's text, flagged answers marked;
    answers to questions no longer asked after them, by their id."""
    if not screening or not isinstance(screening.get("answers"), dict):
        return []
    answers, flags = screening["answers"], set(screening.get("flags") or ())
    texts = {q["id"]: q["text"] for q in questions}
    ordered = [q["id"] for q in questions if q["id"] in answers] + [i for i in answers if i not in texts]
    return [Answer(texts.get(i, i), "Yes" if answers[i] else "No", i in flags) for i in ordered]


@dataclass(frozen=True)
class Action:
    what: str
    who: str
    at: str
    detail: str


def actions_log(actions: Sequence[Mapping[str, Any]], zone: ZoneInfo, my_staff_id: str) -> list[Action]:
    """The clinic's actions on the booking, oldest first, in words."""
    shown = []
    for action in actions:
        who = ROLE_WORDS.get(action["role"], action["role"])
        if action.get("staff_id") is None:
            who += " (with an API key)"
        elif action["staff_id"] == my_staff_id:
            who = "you"
        detail = action.get("detail") or {}
        words = ""
        if action["action"] == "cancel" and detail.get("reason"):
            words = f"Reason: {detail['reason']}"
        elif action["action"] == "reschedule" and isinstance(detail.get("to"), dict) and detail["to"].get("start"):
            words = f"To {instant_words(detail['to']['start'], zone)}"
        elif action["action"] == "book" and detail.get("payment"):
            words = "Paid at the clinic" if detail["payment"] == "at_clinic" else "Paid online"
        shown.append(
            Action(ACTION_WORDS.get(action["action"], action["action"]), who, instant_words(action["at"], zone), words)
        )
    return shown
