"""The catalogue's and therapists' forms read into the clinic API's bodies (services/web/dashboard/catalogue_forms):
pounds into pence, whole numbers, a week of time inputs into hours and breaks and the API's refusals back beside
those inputs, time off in the clinic's wall time into instants with the offset of each end."""

from __future__ import annotations

from datetime import date, time
from zoneinfo import ZoneInfo

import pytest

from services.web.dashboard import catalogue_forms as forms

LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    "typed, pence",
    [("65", 6500), ("65.00", 6500), ("65.5", 6550), ("£65.05", 6505), ("1,250.00", 125000), (" 0 ", 0), ("0.50", 50)],
)
def test_a_price_in_pounds_is_read_as_pence(typed, pence):
    assert forms.price_pence(typed) == (pence, None)


@pytest.mark.parametrize(
    "typed, words",
    [
        ("", "Enter the price in pounds, like 65.00"),
        ("sixty", "Enter the price in pounds and pence, like 65.00"),
        ("65.001", "Enter the price in pounds and pence, like 65.00"),
        ("6,50", "Enter the price in pounds and pence, like 65.00"),
        ("-5", "The price must be 0.00 (free) or more"),
        ("£-5", "The price must be 0.00 (free) or more"),
        ("0.49", "at least 0.50"),
        ("5000.01", "£5,000.00 or less"),
    ],
)
def test_a_price_that_is_not_one_is_explained(typed, words):
    pence, problem = forms.price_pence(typed)
    assert pence is None and words in problem


def test_a_treatment_body_says_every_field_and_the_page_s_own_problems():
    values = {
        "name": " Hot stones ",
        "slug": "",
        "description": "Warm.",
        "duration": "75",
        "buffer_before": "0",
        "buffer_after": "15",
        "price": "82.50",
        "requires_screening": "yes",
    }
    body, errors = forms.treatment_body(values)
    assert errors == {}
    assert body == {
        "name": "Hot stones",
        "description": "Warm.",
        "requires_screening": True,
        "price": {"amount": 8250, "currency": "GBP"},
        "duration_minutes": 75,
        "buffer_before_minutes": 0,
        "buffer_after_minutes": 15,
    }
    _, errors = forms.treatment_body({**values, "name": "", "duration": "an hour", "price": "x"})
    assert set(errors) == {"name", "duration", "price"}
    assert errors["duration"] == "The length in minutes must be a whole number, like 60"
    assert forms.treatment_body({**values, "requires_screening": ""})[0]["requires_screening"] is False


def test_a_course_body_names_its_treatment_only_when_made():
    values = {"name": "Six", "treatment": "t1", "sessions": "6", "min_days": "2", "max_days": "4", "price": "345"}
    body, errors = forms.course_body(values, new=True)
    assert (
        errors == {} and body["treatment"] == "t1" and body["spacing"] == {"min_days_between": 2, "max_days_between": 4}
    )
    body, _ = forms.course_body(values, new=False)
    assert "treatment" not in body
    assert "treatment" in forms.course_body({**values, "treatment": ""}, new=True)[1]


def test_the_api_s_422_goes_beside_the_input_it_is_about():
    details = [
        {"field": "price.amount", "message": "Input should be less than or equal to 500000", "type": "x"},
        {"field": "slug", "message": "another treatment of this clinic has this slug", "type": "slug_taken"},
        {"field": "duration_minutes", "message": "Input should be greater than or equal to 5", "type": "x"},
        {"field": "mystery", "message": "is odd", "type": "x"},
    ]
    errors = forms.api_errors(details, forms.TREATMENT_FIELDS, "name")
    assert errors == {
        "price": "The price must be £5,000.00 or less",
        "slug": "Web address name: another treatment of this clinic has this slug",
        "duration": "The length must be at least 5 minutes",
        "name": "Is odd",
    }
    spacing = [{"field": "spacing", "message": "max_days_between must not be less than min_days_between"}]
    assert list(forms.api_errors(spacing, forms.COURSE_FIELDS, "name")) == ["max_days"]
    assert forms.api_errors("not a list", forms.COURSE_FIELDS, "name") == {}


def test_a_number_s_limit_is_said_as_a_receptionist_says_it():
    said = forms.bound_sentence
    assert said("duration", "must be greater than or equal to 5") == "The length must be at least 5 minutes"
    assert said("duration", "must be less than or equal to 480") == "The length must be 480 minutes or less"
    assert said("buffer_before", "must be greater than 0") == "The time kept free before must be at least 1 minute"
    assert said("sessions", "must be less than 21") == "The number of sessions must be 20 or less"
    assert (
        said("min_days", "must be greater than or equal to 1")
        == "The fewest days between sessions must be at least 1 day"
    )
    assert said("price", "must be greater than or equal to 30") == "The price must be at least £0.30"
    assert said("name", "must be greater than or equal to 5") is None, "not a number's input"
    assert said("duration", "must be a multiple of 5") is None, "not a limit: the API's words stand"


def test_an_item_moves_a_place_up_or_down_and_not_past_either_end():
    assert forms.moved(["a", "b", "c"], "b", "up") == ["b", "a", "c"]
    assert forms.moved(["a", "b", "c"], "b", "down") == ["a", "c", "b"]
    assert forms.moved(["a", "b", "c"], "a", "up") is None
    assert forms.moved(["a", "b", "c"], "c", "down") is None
    assert forms.moved(["a", "b"], "z", "up") is None and forms.moved(["a", "b"], "a", "sideways") is None


def test_credentials_are_one_a_line():
    assert forms.credential_lines("GCMT\n\n  Level 5  \r\nGCMT\n") == ["GCMT", "Level 5"]


# --- the week ----------------------------------------------------------------------------------------------------


def test_the_api_s_week_fills_the_editor_and_the_editor_has_rows_enough():
    hours = [
        {"weekday": 0, "start": "14:00", "end": "18:00"},
        {"weekday": 0, "start": "09:00", "end": "12:00"},
        {"weekday": 0, "start": "19:00", "end": "21:00"},
    ]
    values = forms.week_values(hours, [{"weekday": 0, "start": "10:00", "end": "10:15"}])
    assert values["h0_0_start"] == "09:00" and values["h0_1_start"] == "14:00" and values["h0_2_end"] == "21:00"
    assert values["b0_0_start"] == "10:00"
    days = forms.week_days(values)
    assert [d.name for d in days][0] == "Monday" and len(days) == 7
    assert days[0].periods == ("h0_0", "h0_1", "h0_2"), "a third period gets a third row"
    assert days[1].periods == ("h1_0", "h1_1") and days[6].breaks == ("b6_0", "b6_1")


def test_the_editor_s_rows_become_the_week_and_remember_where_each_came_from():
    values = {
        "h0_0_start": "9:00",
        "h0_0_end": "1300",
        "h0_1_start": "",
        "h0_1_end": "",
        "b0_0_start": "10.00",
        "b0_0_end": "10:15",
        "h4_1_start": "14:00",
        "h4_1_end": "17:00",
        "csrf": "ignored",
    }
    week, errors = forms.week_body(forms.week_inputs(values))
    assert errors == {}
    assert week.body == {
        "hours": [{"weekday": 0, "start": "09:00", "end": "13:00"}, {"weekday": 4, "start": "14:00", "end": "17:00"}],
        "breaks": [{"weekday": 0, "start": "10:00", "end": "10:15"}],
    }
    assert week.rows["hours"] == [("h0_0", "Monday, working period 1"), ("h4_1", "Friday, working period 2")]
    details = [
        {"field": "hours.1.end", "message": "must be after the start (14:00)"},
        {"field": "hours.1", "message": "overlaps or meets Friday 09:00–14:00 (hours.0): make them one interval"},
        {"field": "breaks.0", "message": "must lie within Monday's working hours (09:00–13:00)"},
        {"field": "hours.9", "message": "not ours"},
        {"field": "confirm", "message": "not a week's"},
    ]
    assert forms.week_api_errors(details, week) == {
        "h4_1_end": "Friday, working period 2: must be after the start (14:00)",
        "h4_1_start": "Friday, working period 2: overlaps or meets Friday 09:00–14:00: make them one interval",
        "b0_0_start": "Monday, break 1: must lie within Monday's working hours (09:00–13:00)",
    }


def test_a_row_with_one_time_or_a_time_that_is_not_one_is_the_page_s_to_explain():
    _, errors = forms.week_body({"h2_0_start": "09:00", "b3_1_end": "noon"})
    assert errors == {
        "h2_0_end": "Wednesday, working period 1: enter the end time too, or leave both empty",
        "b3_1_start": "Thursday, break 2: enter the start time too, or leave both empty",
        "b3_1_end": "Thursday, break 2: enter the end time like 09:00 or 17:30",
    }


# --- time off ----------------------------------------------------------------------------------------------------


def test_whole_days_of_time_off_run_from_the_first_midnight_to_the_one_after_the_last_day():
    body, errors = forms.time_off_body({"off_from_day": "2026-12-24", "off_to_day": "27/12/2026"}, LONDON)
    assert errors == {}
    assert (body["start"], body["end"], body["reason"]) == (
        "2026-12-24T00:00:00+00:00",
        "2026-12-28T00:00:00+00:00",
        "",
    )
    one, _ = forms.time_off_body({"off_from_day": "2027-07-01", "off_reason": "Dentist"}, LONDON)
    assert (one["start"], one["end"], one["reason"]) == (
        "2027-07-01T00:00:00+01:00",
        "2027-07-02T00:00:00+01:00",
        "Dentist",
    )


def test_each_end_of_time_off_has_its_own_offset_across_a_change_of_the_clocks():
    body, errors = forms.time_off_body(
        {"off_from_day": "2027-03-27", "off_from_time": "17:00", "off_to_day": "2027-03-28", "off_to_time": "12:00"},
        LONDON,
    )
    assert errors == {} and (body["start"], body["end"]) == ("2027-03-27T17:00:00+00:00", "2027-03-28T12:00:00+01:00")


def test_a_wall_time_the_clocks_skip_is_refused_and_one_they_repeat_is_the_first():
    assert forms.wall_instant(date(2027, 3, 28), time(1, 30), LONDON) is None
    repeated = forms.wall_instant(date(2027, 10, 31), time(1, 30), LONDON)
    assert repeated is not None and repeated.isoformat() == "2027-10-31T01:30:00+01:00"
    _, errors = forms.time_off_body({"off_from_day": "2027-03-28", "off_from_time": "01:15"}, LONDON)
    assert "01:15 does not happen on 28 March 2027 in UK time" in errors["off_from_time"]


@pytest.mark.parametrize(
    "values, field, words",
    [
        ({}, "off_from_day", "Enter the first day of the time off"),
        ({"off_from_day": "31/02/2027"}, "off_from_day", "a real date"),
        ({"off_from_day": "2027-01-05", "off_to_day": "soon"}, "off_to_day", "a real date"),
        ({"off_from_day": "2027-01-05", "off_from_time": "9am"}, "off_from_time", "like 09:00"),
        ({"off_from_day": "2027-01-05", "off_to_day": "2027-01-04"}, "off_to_day", "must end after it starts"),
        ({"off_from_day": "2027-01-05", "off_from_time": "15:00", "off_to_time": "12:00"}, "off_to_time", "must end"),
    ],
)
def test_time_off_that_cannot_be_is_explained_beside_its_input(values, field, words):
    body, errors = forms.time_off_body(values, LONDON)
    assert body == {} and words in errors[field]
