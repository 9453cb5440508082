"""The waitlist's words and join form (pure): wishes in words, the form read into the API's body or each field's
error, the API's refusal beside its field, and the dashboard's rows."""

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from multidict import MultiDict

from services.web import formatting
from services.web.dashboard.waitlist_views import entry_rows
from services.web.waitlist_form import read_join, refused_errors, wishes_in_words

AMARA, TOM = "3f0a2c5e-0000-4000-8000-000000000001", "3f0a2c5e-0000-4000-8000-000000000002"
TREATMENT = "3f0a2c5e-0000-4000-8000-0000000000aa"


def test_wishes_in_words():
    assert wishes_in_words([], []) == "Any day, any time of day"
    assert wishes_in_words(range(7), ["evening", "morning", "afternoon"]) == "Any day, any time of day"
    assert wishes_in_words([2, 0], ["morning"]) == "Mondays or Wednesdays, mornings (before 12:00)"
    assert (
        wishes_in_words([4, 1, 5], ["evening", "afternoon"])
        == "Tuesdays, Fridays or Saturdays, afternoons (12:00 to 17:00) or evenings (from 17:00)"
    )


def form(**fields) -> MultiDict:
    pairs = []
    for name, value in fields.items():
        pairs.extend((name, v) for v in (value if isinstance(value, list) else [value]))
    return MultiDict(pairs)


def test_a_filled_form_is_the_api_s_body():
    joined = read_join(
        form(
            therapist=TOM, weekdays=["5", "1"], times_of_day=["evening", "morning"], name=" Ada ", email="a@b.example"
        ),
        "urban-therapy",
        TREATMENT,
        [AMARA, TOM],
    )
    assert joined.errors == {}
    assert joined.body == {
        "clinic": "urban-therapy",
        "treatment": TREATMENT,
        "therapist": TOM,
        "weekdays": [1, 5],
        "times_of_day": ["morning", "evening"],
        "customer": {"name": "Ada", "email": "a@b.example"},
    }


def test_no_preference_and_nothing_ticked_means_any():
    joined = read_join(form(therapist="any", name="Ada", email="a@b.example"), "c", TREATMENT, [AMARA])
    assert joined.body is not None and "therapist" not in joined.body
    assert joined.body["weekdays"] == [] and joined.body["times_of_day"] == []


def test_each_field_s_error_and_what_was_typed_kept():
    joined = read_join(
        form(therapist="someone", weekdays=["1", "9"], times_of_day=["night"], name="", email="not an email"),
        "c",
        TREATMENT,
        [AMARA],
    )
    assert joined.body is None
    assert set(joined.errors) == {"therapist", "weekdays", "times_of_day", "name", "email"}
    assert joined.errors["email"] == "Enter an email address like name@example.com"
    assert joined.values["email"] == "not an email" and joined.values["weekdays"] == ["1", "9"]
    assert read_join(form(name="x" * 201, email=""), "c", TREATMENT, []).errors == {
        "name": "Your name must be 200 characters or fewer",
        "email": "Enter your email address",
    }


def test_the_api_s_refusal_goes_beside_its_field():
    details = [{"field": "customer.email", "message": "Too many"}, {"field": "weekdays[0]", "message": "0 to 6"}]
    assert refused_errors("Invalid", details) == {"email": "Too many", "weekdays": "0 to 6"}
    assert refused_errors("You are on 20 waitlists already", None) == {"email": "You are on 20 waitlists already"}
    assert refused_errors("Tom does not give it", [{"field": "therapist"}]) == {"therapist": "Tom does not give it"}


def test_the_dashboard_s_rows():
    zone = ZoneInfo("Europe/London")

    def when(instant):
        return formatting.when(instant, zone)

    entries = [
        {
            "id": "e1",
            "treatment": {"id": TREATMENT, "name": "Deep tissue"},
            "therapist": None,
            "weekdays": [0],
            "times_of_day": [],
            "customer": {"name": "Ada", "email": "ada@example.com"},
            "status": "offered",
            "created_at": "2026-12-01T09:00:00+00:00",
            "offer": {
                "id": "o1",
                "starts_at": "2026-12-07T10:00:00+00:00",
                "expires_at": "2026-12-01T09:30:00+00:00",
                "status": "open",
            },
        },
        {
            "id": "e2",
            "treatment": TREATMENT,
            "therapist": TOM,
            "weekdays": [],
            "times_of_day": ["evening"],
            "customer": {"name": "Bo", "email": "bo@example.com"},
            "status": "left",
            "created_at": datetime(2026, 12, 2, tzinfo=timezone.utc).isoformat(),
            "offer": {"id": "o2", "starts_at": "2026-12-07T10:00:00+00:00", "expires_at": None, "status": "lapsed"},
        },
    ]
    first, second = entry_rows(entries, {TREATMENT: "Deep tissue", TOM: "Tom Hughes"}, when)
    assert (first.treatment, first.therapist, first.wishes) == (
        "Deep tissue",
        "Any therapist",
        "Mondays, any time of day",
    )
    assert first.status == "Offered a time" and first.removable
    assert first.offer == (
        "Monday 7 December 2026, 10:00 (UK time, GMT), held for them until Tuesday 1 December 2026, 09:30 (UK time, GMT)"
    )
    assert first.joined == "Tuesday 1 December 2026, 09:00 (UK time, GMT)"
    assert (second.treatment, second.therapist, second.wishes) == (
        "Deep tissue",
        "Tom Hughes",
        "Any day, evenings (from 17:00)",
    )
    assert second.status == "Left the waitlist" and not second.removable and second.offer == ""
