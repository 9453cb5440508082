"""The diary's assembly (services/booking/diary.py): rows become days in the clinic's zone, right on the days
the clocks change; what is shown; the days a request may ask for."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta, timezone

import pytest

from services.booking import diary
from services.booking.diary import (
    MAX_DIARY_DAYS,
    AppointmentRow,
    DiaryRows,
    TherapistRow,
    TimeOffRow,
    WeeklyRow,
    days_asked,
    shown,
    today,
)
from services.booking.domain import BookingError

LONDON = "Europe/London"
AMARA, TOM = uuid.UUID(int=1), uuid.UUID(int=2)
TREATMENT = uuid.UUID(int=99)
SPRING_FORWARD, FALL_BACK = date(2027, 3, 28), date(2027, 10, 31)  # Sundays: 01:00 GMT -> 02:00 BST, and back
SUNDAY = 6
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=timezone.utc)  # before every day these tests ask for


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def appointment(start: str, minutes: int = 60, status: str = "confirmed", therapist=AMARA, **kw) -> AppointmentRow:
    """A reservation; a hold or an unpaid booking running out ten minutes after NOW unless told otherwise."""
    begin = utc(start)
    expiring = status in ("held", "pending_payment")
    return AppointmentRow(
        kw.pop("id", uuid.uuid4()),
        therapist,
        status,
        begin,
        begin + timedelta(minutes=minutes),
        TREATMENT,
        "Deep tissue massage (60 min)",
        kw.pop("customer_name", "Ada Lovelace"),
        kw.pop("expires_at", NOW + timedelta(minutes=10) if expiring else None),
        **kw,
    )


def assemble(diary_rows: DiaryRows, first: date, last: date, therapist=None, now: datetime = NOW) -> dict:
    return diary.assemble(diary_rows, first, last, now, therapist)


def rows(*, hours=(), breaks=(), time_off=(), appointments=(), therapists=None) -> DiaryRows:
    return DiaryRows(
        LONDON,
        therapists
        if therapists is not None
        else [TherapistRow(AMARA, "Amara Okafor"), TherapistRow(TOM, "Tom Hughes")],
        list(hours),
        list(breaks),
        list(time_off),
        list(appointments),
    )


def weekly(therapist, weekday: int, start: time, end: time) -> WeeklyRow:
    return WeeklyRow(therapist, weekday, start, end)


def length(span: dict) -> timedelta:
    return datetime.fromisoformat(span["end"]) - datetime.fromisoformat(span["start"])  # offsets differ: elapsed


def spans(items: list[dict]) -> list[tuple[str, str]]:
    return [(s["start"], s["end"]) for s in items]


def days_of(diary: dict, therapist: int = 0) -> list[dict]:
    return diary["therapists"][therapist]["days"]


def ids(items: list[dict]) -> list[str]:
    return [item["id"] for item in items]


def test_a_week_has_every_day_for_every_therapist_in_their_order_with_hours_and_breaks_in_local_time():
    monday = date(2027, 6, 7)
    found = assemble(
        rows(
            hours=[weekly(AMARA, 0, time(9), time(18)), weekly(AMARA, 5, time(10), time(14))],
            breaks=[weekly(AMARA, 0, time(13), time(14))],
        ),
        monday,
        monday + timedelta(days=6),
    )
    assert (found["timezone"], found["from"], found["to"]) == (LONDON, "2027-06-07", "2027-06-13")
    assert [(t["id"], t["name"]) for t in found["therapists"]] == [
        (str(AMARA), "Amara Okafor"),
        (str(TOM), "Tom Hughes"),
    ]
    amara, tom = days_of(found, 0), days_of(found, 1)
    assert [d["date"] for d in amara] == [(monday + timedelta(days=i)).isoformat() for i in range(7)]
    assert spans(amara[0]["hours"]) == [("2027-06-07T09:00:00+01:00", "2027-06-07T18:00:00+01:00")]
    assert spans(amara[0]["breaks"]) == [("2027-06-07T13:00:00+01:00", "2027-06-07T14:00:00+01:00")]
    assert amara[1]["hours"] == [] and amara[1]["breaks"] == []
    assert spans(amara[5]["hours"]) == [("2027-06-12T10:00:00+01:00", "2027-06-12T14:00:00+01:00")]
    assert all(d["hours"] == [] and d["appointments"] == [] and d["time_off"] == [] for d in tom)


def test_in_winter_the_offset_is_gmt():
    found = assemble(rows(hours=[weekly(AMARA, 0, time(9), time(18))]), date(2027, 1, 4), date(2027, 1, 4))
    assert spans(days_of(found)[0]["hours"]) == [("2027-01-04T09:00:00+00:00", "2027-01-04T18:00:00+00:00")]


def test_spring_forward_day_hours_are_an_hour_shorter_and_times_change_offset_at_the_change():
    found = assemble(
        rows(
            hours=[weekly(AMARA, SUNDAY, time(0), time(6))],
            breaks=[weekly(AMARA, SUNDAY, time(4), time(4, 30))],
            appointments=[appointment("2027-03-28T00:15"), appointment("2027-03-28T01:15")],
        ),
        SPRING_FORWARD,
        SPRING_FORWARD,
    )
    (day,) = days_of(found)
    assert spans(day["hours"]) == [("2027-03-28T00:00:00+00:00", "2027-03-28T06:00:00+01:00")]
    assert length(day["hours"][0]) == timedelta(hours=5)
    assert spans(day["breaks"]) == [("2027-03-28T04:00:00+01:00", "2027-03-28T04:30:00+01:00")]
    # an hour from 00:15 GMT ends at 02:15 BST; 01:15 UTC is 02:15 BST (01:15 does not exist that night)
    assert spans(day["appointments"]) == [
        ("2027-03-28T00:15:00+00:00", "2027-03-28T02:15:00+01:00"),
        ("2027-03-28T02:15:00+01:00", "2027-03-28T03:15:00+01:00"),
    ]


def test_fall_back_day_hours_are_an_hour_longer_and_the_repeated_hour_shows_both_times():
    found = assemble(
        rows(
            hours=[weekly(AMARA, SUNDAY, time(0), time(6))],
            appointments=[appointment("2027-10-31T01:30", 30), appointment("2027-10-31T00:30", 30)],
        ),
        FALL_BACK,
        FALL_BACK,
    )
    (day,) = days_of(found)
    assert spans(day["hours"]) == [("2027-10-31T00:00:00+01:00", "2027-10-31T06:00:00+00:00")]
    assert length(day["hours"][0]) == timedelta(hours=7)
    # 01:30 happens twice: first in BST, then in GMT (in the order they happen, whatever the rows' order)
    assert spans(day["appointments"]) == [
        ("2027-10-31T01:30:00+01:00", "2027-10-31T01:00:00+00:00"),
        ("2027-10-31T01:30:00+00:00", "2027-10-31T02:00:00+00:00"),
    ]


def test_a_skipped_or_repeated_wall_time_at_an_edge_keeps_the_hours_inside_the_wall_clock_hours():
    # 01:30 does not exist on the spring day: opening at the later reading, a break widened to the earlier
    found = assemble(
        rows(
            hours=[weekly(AMARA, SUNDAY, time(1, 30), time(6))],
            breaks=[weekly(AMARA, SUNDAY, time(1, 30), time(3))],
        ),
        SPRING_FORWARD,
        SPRING_FORWARD,
    )
    (day,) = days_of(found)
    assert spans(day["hours"]) == [("2027-03-28T02:30:00+01:00", "2027-03-28T06:00:00+01:00")]
    assert spans(day["breaks"]) == [("2027-03-28T00:30:00+00:00", "2027-03-28T03:00:00+01:00")]
    # 01:30 happens twice on the autumn day: hours open at the second, close at the first
    found = assemble(
        rows(hours=[weekly(AMARA, SUNDAY, time(1, 30), time(9)), weekly(TOM, SUNDAY, time(0), time(1, 30))]),
        FALL_BACK,
        FALL_BACK,
    )
    assert spans(days_of(found, 0)[0]["hours"]) == [("2027-10-31T01:30:00+00:00", "2027-10-31T09:00:00+00:00")]
    assert spans(days_of(found, 1)[0]["hours"]) == [("2027-10-31T00:00:00+01:00", "2027-10-31T01:30:00+01:00")]


def test_several_hours_a_day_in_order():
    found = assemble(
        rows(hours=[weekly(AMARA, 0, time(14), time(18)), weekly(AMARA, 0, time(8), time(12))]),
        date(2027, 6, 7),
        date(2027, 6, 7),
    )
    assert spans(days_of(found)[0]["hours"]) == [
        ("2027-06-07T08:00:00+01:00", "2027-06-07T12:00:00+01:00"),
        ("2027-06-07T14:00:00+01:00", "2027-06-07T18:00:00+01:00"),
    ]


def test_an_appointment_is_on_the_clinic_day_it_starts_not_the_utc_one():
    late = appointment("2027-06-07T23:30")  # 00:30 BST on the 8th
    found = assemble(rows(appointments=[late]), date(2027, 6, 7), date(2027, 6, 8))
    monday, tuesday = days_of(found)
    assert monday["appointments"] == []
    assert ids(tuesday["appointments"]) == [str(late.id)]
    assert tuesday["appointments"][0]["start"] == "2027-06-08T00:30:00+01:00"
    # outside the days asked: not shown at all
    only_monday = assemble(rows(appointments=[late]), date(2027, 6, 7), date(2027, 6, 7))
    assert all(d["appointments"] == [] for t in only_monday["therapists"] for d in t["days"])


def test_appointments_are_sorted_and_with_their_therapist_and_holds_have_no_customer():
    b = appointment("2027-06-07T10:00", status="pending_payment")
    a = appointment("2027-06-07T08:00", status="held", customer_name="should not show")
    c = appointment("2027-06-07T12:00", therapist=TOM, status="completed", series_id=uuid.UUID(int=7), series_index=2)
    found = assemble(rows(appointments=[b, c, a]), date(2027, 6, 7), date(2027, 6, 7))
    amara, tom = days_of(found, 0)[0]["appointments"], days_of(found, 1)[0]["appointments"]
    assert amara == [
        {
            "id": str(a.id),
            "kind": "hold",
            "status": "held",
            "start": "2027-06-07T09:00:00+01:00",
            "end": "2027-06-07T10:00:00+01:00",
            "treatment": {"id": str(TREATMENT), "name": "Deep tissue massage (60 min)"},
            "customer": None,
        },
        {
            "id": str(b.id),
            "kind": "booking",
            "status": "pending_payment",
            "start": "2027-06-07T11:00:00+01:00",
            "end": "2027-06-07T12:00:00+01:00",
            "treatment": {"id": str(TREATMENT), "name": "Deep tissue massage (60 min)"},
            "customer": {"name": "Ada Lovelace"},
        },
    ]
    assert [(x["id"], x["kind"], x["series"]) for x in tom] == [
        (str(c.id), "booking", {"id": str(uuid.UUID(int=7)), "index": 2})
    ]


def test_lapsed_holds_and_cancelled_bookings_are_left_out_even_if_the_store_read_them():
    now = utc("2027-06-07T07:00")
    kept = [
        appointment("2027-06-07T08:00", status="held", expires_at=now + timedelta(seconds=1)),
        appointment("2027-06-07T09:00", status="pending_payment", expires_at=now + timedelta(minutes=5)),
        appointment("2027-06-07T10:00", status="no_show"),
    ]
    dropped = [
        appointment("2027-06-07T11:00", status="held", expires_at=now),
        appointment("2027-06-07T12:00", status="pending_payment", expires_at=now - timedelta(minutes=1)),
        appointment("2027-06-07T13:00", status="cancelled"),
        appointment("2027-06-07T14:00", status="expired"),
        appointment("2027-06-07T15:00", status="released"),
    ]
    found = assemble(rows(appointments=kept + dropped), date(2027, 6, 7), date(2027, 6, 7), now=now)
    assert ids(days_of(found)[0]["appointments"]) == [str(a.id) for a in kept]


def test_time_off_is_clipped_to_each_day_it_covers():
    holiday = TimeOffRow(AMARA, utc("2027-06-07T12:00"), utc("2027-06-09T08:00"), "Holiday")
    found = assemble(rows(time_off=[holiday]), date(2027, 6, 6), date(2027, 6, 10))
    assert [d["time_off"] for d in days_of(found)] == [
        [],
        [{"start": "2027-06-07T13:00:00+01:00", "end": "2027-06-08T00:00:00+01:00", "reason": "Holiday"}],
        [{"start": "2027-06-08T00:00:00+01:00", "end": "2027-06-09T00:00:00+01:00", "reason": "Holiday"}],
        [{"start": "2027-06-09T00:00:00+01:00", "end": "2027-06-09T09:00:00+01:00", "reason": "Holiday"}],
        [],
    ]
    assert all(d["time_off"] == [] for d in days_of(found, 1))


def test_on_a_dst_day_time_off_covers_the_whole_clinic_day():
    off = TimeOffRow(AMARA, utc("2027-10-01T00:00"), utc("2027-11-30T00:00"), "Sabbatical")
    (day,) = days_of(assemble(rows(time_off=[off]), FALL_BACK, FALL_BACK))
    assert day["time_off"] == [
        {"start": "2027-10-31T00:00:00+01:00", "end": "2027-11-01T00:00:00+00:00", "reason": "Sabbatical"}
    ]
    assert length(day["time_off"][0]) == timedelta(hours=25)


def test_one_therapist_asked_for_must_be_found():
    only = [TherapistRow(AMARA, "Amara Okafor")]
    found = assemble(rows(therapists=only), date(2027, 6, 7), date(2027, 6, 7), AMARA)
    assert ids(found["therapists"]) == [str(AMARA)]
    with pytest.raises(BookingError) as refused:
        assemble(rows(therapists=[]), date(2027, 6, 7), date(2027, 6, 7), TOM)
    assert (refused.value.status, refused.value.code) == (404, "therapist_not_found")


def test_an_archived_therapist_is_listed_only_with_appointments_in_the_days_or_when_asked_for():
    gone = [TherapistRow(AMARA, "Amara Okafor"), TherapistRow(TOM, "Tom Hughes", archived=True)]
    monday = date(2027, 6, 7)
    assert ids(assemble(rows(therapists=gone), monday, monday)["therapists"]) == [str(AMARA)]
    assert ids(assemble(rows(therapists=gone[1:]), monday, monday, TOM)["therapists"]) == [str(TOM)]
    last = appointment("2027-06-07T09:00", therapist=TOM)
    found = assemble(rows(therapists=gone, appointments=[last]), monday, monday)
    assert ids(found["therapists"]) == [str(AMARA), str(TOM)]
    assert ids(days_of(found, 1)[0]["appointments"]) == [str(last.id)]


def test_a_day_or_up_to_a_week_may_be_asked_for():
    monday = date(2027, 6, 7)
    assert days_asked(monday, None) == (monday, monday)
    assert days_asked(monday, monday) == (monday, monday)
    assert days_asked(monday, monday + timedelta(days=MAX_DIARY_DAYS - 1)) == (monday, date(2027, 6, 13))
    for last, code in (
        (monday + timedelta(days=MAX_DIARY_DAYS), "range_too_large"),
        (monday - timedelta(days=1), "invalid_range"),
    ):
        with pytest.raises(BookingError) as refused:
            days_asked(monday, last)
        assert (refused.value.status, refused.value.code) == (422, code)
        assert refused.value.details is not None and refused.value.details["field"] == "to"


def test_today_is_the_clinics_date():
    assert today(LONDON, utc("2027-06-07T23:30")) == date(2027, 6, 8)
    assert today(LONDON, utc("2027-01-07T23:30")) == date(2027, 1, 7)


@pytest.mark.parametrize(
    ("status", "expires_in", "expected"),
    [
        ("confirmed", None, True),
        ("completed", None, True),
        ("no_show", None, True),
        ("held", 60, True),
        ("pending_payment", 60, True),
        ("held", -1, False),
        ("pending_payment", -1, False),
        ("cancelled", None, False),
        ("expired", None, False),
        ("released", None, False),
    ],
)
def test_what_is_shown(status, expires_in, expected):
    now = utc("2027-06-07T10:00")
    expires_at = None if expires_in is None else now + timedelta(seconds=expires_in)
    assert shown(status, expires_at, now) is expected
