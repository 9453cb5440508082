"""The contract of therapists' schedules in the clinic API: the request models the handlers validate with
(services/booking/http/schedules.py) and the operations of the OpenAPI spec (services/booking/api_spec.py)."""

from __future__ import annotations

from datetime import time
from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from services.booking.schedules import (
    CLOCK_MESSAGE,
    CLOCK_PATTERN,
    MAX_REASON_LENGTH,
    MAX_TIME_OFF,
    MAX_WEEKLY_ITEMS,
    parse_clock,
)
from shared.input import Instant, StrictModel
from shared.openapi import DATETIME, UUID, Operation, error_response, json_response, operation, path_param

HOURS_PATH = "/api/v1/clinic/therapists/{id}/hours"
TIME_OFF_PATH = "/api/v1/clinic/therapists/{id}/time-off"
TIME_OFF_ITEM_PATH = "/api/v1/clinic/therapists/{id}/time-off/{time_off_id}"


def _clock(text: str) -> time:
    wall = parse_clock(text)
    if wall is None:
        raise PydanticCustomError("time_of_day", CLOCK_MESSAGE)
    return wall


# A wall time `HH:MM` (the pattern is documented, and checked by _clock with a message people understand).
Clock = Annotated[str, Field(examples=["09:00"], json_schema_extra={"pattern": CLOCK_PATTERN}), AfterValidator(_clock)]


class WeeklySpanIn(StrictModel):
    """Working hours, or a break, on one weekday, in the clinic's wall time."""

    weekday: int = Field(ge=0, le=6, description="0 = Monday … 6 = Sunday")
    start: Clock
    end: Clock


class WeekIn(StrictModel):
    """A therapist's whole week: replaces all their hours and breaks."""

    hours: list[WeeklySpanIn] = Field(max_length=MAX_WEEKLY_ITEMS)
    breaks: list[WeeklySpanIn] = Field(max_length=MAX_WEEKLY_ITEMS)
    confirm: bool = Field(
        default=False, description="Make the change although bookings are in the way (you will move them)"
    )


class TimeOffIn(StrictModel):
    """Time off: from `start` to `end`, instants with their UTC offset (a whole day: the clinic's midnights)."""

    start: Instant
    end: Instant
    reason: str = Field(default="", max_length=MAX_REASON_LENGTH)
    confirm: bool = Field(
        default=False,
        description="Add it although bookings are in the way (you will move them); the owner only",
    )


CLINIC_TAG = "Clinic API"
THERAPIST_ID = path_param("id", {"type": "string"}, "The therapist's id (a uuid)")
TIME_OFF_ID = path_param("time_off_id", {"type": "string"}, "The time off's id (as listed)")
WALL = {"type": "string", "pattern": CLOCK_PATTERN, "examples": ["09:00"]}
SPAN = {
    "type": "object",
    "required": ["weekday", "start", "end"],
    "properties": {"weekday": {"type": "integer", "minimum": 0, "maximum": 6}, "start": WALL, "end": WALL},
}
WEEK = {
    "type": "object",
    "required": ["therapist", "timezone", "hours", "breaks"],
    "properties": {
        "therapist": UUID,
        "timezone": {"type": "string"},
        "hours": {"type": "array", "items": SPAN},
        "breaks": {"type": "array", "items": SPAN},
    },
}
TIME_OFF = {
    "type": "object",
    "required": ["id", "start", "end", "reason"],
    "properties": {"id": {"type": "string"}, "start": DATETIME, "end": DATETIME, "reason": {"type": "string"}},
}
TIME_OFF_LIST = {
    "type": "object",
    "required": ["therapist", "timezone", "time_off"],
    "properties": {"therapist": UUID, "timezone": {"type": "string"}, "time_off": {"type": "array", "items": TIME_OFF}},
}
IN_THE_WAY = error_response(
    409,
    "`bookings_in_the_way`: bookings that have not started would be left outside the therapist's working time; "
    "`details.bookings` lists them (`id`, `status`, `start`, `end` in clinic time, `treatment`, `customer_name`). "
    'Move them, or send the change again with `"confirm": true`.',
)
CONFLICTS = (
    "A change that would leave live bookings that have not started yet (confirmed, or awaiting payment) outside "
    "the therapist's working time is refused with 409 `bookings_in_the_way`, unless the request says "
    '`"confirm": true` (you will move them). A hold in the way (a customer still choosing; it lasts minutes) does '
    "not block the change: it is released, and its customer chooses again. Availability shows the change at once."
)


OPERATIONS: tuple[Operation, ...] = (
    operation(
        "GET",
        HOURS_PATH,
        summary="A therapist's week: working hours and breaks",
        tag=CLINIC_TAG,
        clinic_auth=True,
        parameters=[THERAPIST_ID],
        description="Wall times of the clinic's zone, `HH:MM`; weekday 0 is Monday. Owner and staff.",
        responses={200: json_response("The week", WEEK)},
    ),
    operation(
        "PUT",
        HOURS_PATH,
        summary="Replace a therapist's week: working hours and breaks",
        tag=CLINIC_TAG,
        clinic_auth=True,
        parameters=[THERAPIST_ID],
        body=WeekIn,
        errors=(403, 404, 409),
        description="The owner only. Both lists replace what there was, in one change. Wall times of the "
        "clinic's zone, `HH:MM` from 00:00 to 23:59, weekday 0 is Monday; each interval ends after it starts, on "
        "its own day. Hours of one day neither overlap nor meet (one interval with a break instead); each break "
        "lies within its day's hours and breaks do not overlap: else 422 with a message per field. " + CONFLICTS,
        responses={200: json_response("The week, as it now is", WEEK), 409: IN_THE_WAY},
    ),
    operation(
        "GET",
        TIME_OFF_PATH,
        summary="A therapist's time off that has not ended",
        tag=CLINIC_TAG,
        clinic_auth=True,
        parameters=[THERAPIST_ID],
        description="Owner and staff. Times in the clinic's zone, with their offset.",
        responses={200: json_response("Time off, by start", TIME_OFF_LIST)},
    ),
    operation(
        "POST",
        TIME_OFF_PATH,
        summary="Add time off (a holiday, a course, an appointment)",
        tag=CLINIC_TAG,
        clinic_auth=True,
        parameters=[THERAPIST_ID],
        body=TimeOffIn,
        errors=(403, 404, 409),
        description="Owner and staff (reception books holidays); only the owner may `confirm` (403 "
        "`owner_only`). `start` and `end` are instants with their UTC offset; a whole day off runs from the "
        "clinic's midnight to the next, e.g. `2026-12-24T00:00:00+00:00` to `2026-12-27T00:00:00+00:00` for "
        f"24–26 December in London. `end` after `start`, at most {MAX_TIME_OFF.days} days later: else 422. "
        + CONFLICTS,
        responses={201: json_response("Added", TIME_OFF), 409: IN_THE_WAY},
    ),
    operation(
        "DELETE",
        TIME_OFF_ITEM_PATH,
        summary="Remove time off",
        tag=CLINIC_TAG,
        clinic_auth=True,
        parameters=[THERAPIST_ID, TIME_OFF_ID],
        errors=(404,),
        description="Owner and staff. The time is bookable again at once (within the working hours).",
        responses={204: {"description": "Removed"}},
    ),
)
