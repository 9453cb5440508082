"""What the diary and a booking's page say (services/web/dashboard/diary_view.py): the days asked for, the links
between them, each therapist's day as lines in time order with every time in words, and a booking's payment,
voucher, refund, screening answers and history."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from services.web.dashboard import diary_view as view

LONDON = ZoneInfo("Europe/London")
TUESDAY = date(2027, 6, 8)
AMARA = "5b1f0c1e-0000-4000-8000-000000000001"
TOM = "5b1f0c1e-0000-4000-8000-000000000002"


def day_json(day: str, *, hours=(), breaks=(), time_off=(), appointments=()) -> dict:
    return {
        "date": day,
        "hours": list(hours),
        "breaks": list(breaks),
        "time_off": list(time_off),
        "appointments": list(appointments),
    }


def appointment(id_: str, start: str, end: str, kind: str = "booking", status: str = "confirmed", name="Ada") -> dict:
    return {
        "id": id_,
        "kind": kind,
        "status": status,
        "start": start,
        "end": end,
        "treatment": {"id": "t", "name": "Deep tissue massage (60 min)"},
        "customer": None if kind == "hold" else {"name": name},
    }


def test_a_day_by_default_today_and_a_week_from_its_monday():
    assert view.asked(None, None, None, TUESDAY) == view.Asked("day", TUESDAY, None)
    assert view.asked("month", date(2027, 6, 10), AMARA, TUESDAY) == view.Asked("day", date(2027, 6, 10), AMARA)
    week = view.asked("week", date(2027, 6, 10), None, TUESDAY)
    assert (week.first, week.last) == (date(2027, 6, 7), date(2027, 6, 13))


def test_the_links_say_only_what_differs_from_the_defaults():
    day = view.navigation(view.Asked("day", TUESDAY, None), TUESDAY)
    assert (day.previous, day.next, day.today) == (
        "/clinic/diary?date=2027-06-07",
        "/clinic/diary?date=2027-06-09",
        "/clinic/diary",
    )
    assert (day.day_view, day.week_view, day.previous_label) == (
        "/clinic/diary",
        "/clinic/diary?view=week",
        "Previous day",
    )
    week = view.navigation(view.Asked("week", date(2027, 6, 14), AMARA), TUESDAY)
    assert week.previous == f"/clinic/diary?view=week&date=2027-06-07&therapist={AMARA}"
    assert week.today == f"/clinic/diary?view=week&therapist={AMARA}" and week.next_label == "Next week"
    assert week.day_view == f"/clinic/diary?date=2027-06-14&therapist={AMARA}", "a week not this one: its Monday"
    this_week = view.navigation(view.Asked("week", date(2027, 6, 7), None), TUESDAY)
    assert this_week.day_view == "/clinic/diary" and this_week.week_view == "/clinic/diary?view=week"


def test_spans_in_words_whole_days_and_days_ending_at_midnight():
    day = date(2027, 6, 8)
    at = lambda text: datetime.fromisoformat(text)  # noqa: E731
    assert view.span_words(at("2027-06-08T09:00+01:00"), at("2027-06-08T18:00+01:00"), day) == "09:00 to 18:00"
    assert view.span_words(at("2027-06-08T00:00+01:00"), at("2027-06-09T00:00+01:00"), day) == "All day"
    assert view.span_words(at("2027-06-08T15:00+01:00"), at("2027-06-09T00:00+01:00"), day) == "15:00 to midnight"


def test_each_therapists_day_in_time_order_with_holds_unlinked():
    answer = {
        "timezone": "Europe/London",
        "from": "2027-06-08",
        "to": "2027-06-08",
        "therapists": [
            {
                "id": AMARA,
                "name": "Amara Okafor",
                "days": [
                    day_json(
                        "2027-06-08",
                        hours=[{"start": "2027-06-08T09:00:00+01:00", "end": "2027-06-08T18:00:00+01:00"}],
                        breaks=[{"start": "2027-06-08T13:00:00+01:00", "end": "2027-06-08T14:00:00+01:00"}],
                        appointments=[
                            appointment("b2", "2027-06-08T14:00:00+01:00", "2027-06-08T15:00:00+01:00", "hold", "held"),
                            appointment("b1", "2027-06-08T09:00:00+01:00", "2027-06-08T10:00:00+01:00"),
                        ],
                    )
                ],
            },
            {
                "id": TOM,
                "name": "Tom Hughes",
                "days": [
                    day_json(
                        "2027-06-08",
                        time_off=[
                            {
                                "start": "2027-06-08T00:00:00+01:00",
                                "end": "2027-06-09T00:00:00+01:00",
                                "reason": "Holiday",
                            }
                        ],
                    )
                ],
            },
        ],
    }
    shown = view.diary(answer, view.Asked("day", TUESDAY, None), TUESDAY)
    assert (shown.title, shown.zone) == ("Tuesday 8 June 2027", "UK time, BST")
    [day] = shown.days
    assert day.heading == "Tuesday 8 June 2027 (UK time, BST)" and day.is_today
    amara, tom = day.therapists
    assert amara.hours == "Working 09:00 to 18:00" and amara.bookings == 1
    assert [(e.times, e.kind, e.who, e.note, e.href) for e in amara.entries] == [
        ("09:00 to 10:00", "booking", "Ada", "Confirmed", "/clinic/bookings/b1"),
        ("13:00 to 14:00", "break", "", "", None),
        (
            "14:00 to 15:00",
            "hold",
            "",
            "Being booked: a customer is choosing this time (a hold, not yet a booking)",
            None,
        ),
    ]
    assert tom.hours == "Not working" and [(e.times, e.title, e.note) for e in tom.entries] == [
        ("All day", "Time off", "Holiday")
    ]


def test_a_week_in_which_the_clocks_change_names_both_and_keeps_every_day():
    answer = {"timezone": "Europe/London", "from": "2027-10-25", "to": "2027-10-31", "therapists": []}
    shown = view.diary(answer, view.asked("week", date(2027, 10, 27), None, TUESDAY), TUESDAY)
    assert shown.title == "Week of Monday 25 October 2027" and shown.zone == "UK time, BST and UK time, GMT"
    assert [d.day.day for d in shown.days] == [25, 26, 27, 28, 29, 30, 31]
    assert shown.days[-1].heading == "Sunday 31 October 2027 (UK time, GMT)"


def test_a_booking_s_status_payment_voucher_and_refund_in_words():
    cancelled = {
        "status": "cancelled",
        "cancellation": {"by": "clinic", "reason": "Unwell"},
        "payment": {"mode": "online"},
        "price": {"amount": 6500, "currency": "GBP"},
    }
    assert view.status_words(cancelled) == "Cancelled by the clinic"
    assert view.refund_words(cancelled).startswith("A full refund")
    assert view.refund_words({**cancelled, "payment": {"mode": "at_clinic"}}) == (
        "Nothing was paid online, so nothing is refunded."
    )
    assert view.refund_words({**cancelled, "status": "confirmed", "cancellation": None}) is None
    assert view.payment_words({"status": "pending_payment", "payment": {"mode": "online"}}).startswith(
        "Online by card: waiting"
    )
    voucher = {
        "code_hint": "…WXYZ",
        "value": {"amount": 5000, "currency": "GBP"},
        "remaining": {"amount": 1000, "currency": "GBP"},
    }
    assert view.voucher_words(voucher) == "Gift voucher …WXYZ paid £50.00; £10.00 is left on it."
    spent = {**voucher, "code_hint": None, "remaining": {"sessions": 0}}
    assert view.voucher_words(spent) == "Gift voucher paid £50.00; nothing is left on it."
    assert view.voucher_words(None) is None


def test_screening_answers_in_the_questionnaires_order_flagged_ones_marked():
    questions = [{"id": "a", "text": "First?"}, {"id": "b", "text": "Second?"}]
    screening = {"outcome": "flag", "flags": ["b"], "answers": {"b": True, "a": False, "gone": False}}
    assert view.screening_answers(screening, questions) == [
        view.Answer("First?", "No", False),
        view.Answer("Second?", "Yes", True),
        view.Answer("gone", "No", False),
    ]
    assert view.screening_answers({"outcome": "clear", "flags": []}, questions) == []
    assert view.screening_answers(None, questions) == []


def test_the_history_says_who_did_what_and_when():
    actions = [
        {
            "action": "book",
            "role": "staff",
            "staff_id": "me",
            "detail": {"payment": "at_clinic"},
            "at": "2027-06-01T09:30:00+00:00",
        },
        {
            "action": "reschedule",
            "role": "owner",
            "staff_id": "someone",
            "detail": {"from": {}, "to": {"start": "2027-06-09T10:00:00+00:00", "therapist": TOM}},
            "at": "2027-06-02T09:30:00+00:00",
        },
        {
            "action": "cancel",
            "role": "owner",
            "staff_id": None,
            "detail": {"reason": "Unwell"},
            "at": "2027-06-03T09:30:00+00:00",
        },
    ]
    assert view.actions_log(actions, LONDON, "me") == [
        view.Action(
            "Booked for the customer", "you", "Tuesday 1 June 2027, 10:30 (UK time, BST)", "Paid at the clinic"
        ),
        view.Action(
            "Moved",
            "the owner",
            "Wednesday 2 June 2027, 10:30 (UK time, BST)",
            "To Wednesday 9 June 2027, 11:00 (UK time, BST)",
        ),
        view.Action(
            "Cancelled for the customer",
            "the owner (with an API key)",
            "Thursday 3 June 2027, 10:30 (UK time, BST)",
            "Reason: Unwell",
        ),
    ]
