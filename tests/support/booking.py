"""Booking the demo clinic as a customer would: availability → hold → booking (with screening)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

from services.booking.screening import questionnaire
from services.booking.seed import CHRISTMAS, stable_id

CLINIC = "urban-therapy"
TREATMENT = str(stable_id(CLINIC, "treatment", "deep-tissue-60"))
THERAPIST = str(stable_id(CLINIC, "therapist", "amara-okafor"))
OTHER_THERAPIST = str(stable_id(CLINIC, "therapist", "tom-hughes"))
COURSE = str(stable_id(CLINIC, "course", "sciatica-course"))
# Days a course may span (6 sessions at most 4 days apart).
COURSE_DAYS = 21
ALL_CLEAR = {q.id: False for q in questionnaire().questions}


def _demo_closed(day: date) -> bool:
    """Is the demo clinic closed all that day (the seed's Christmas closure)?"""
    start, end, _ = CHRISTMAS
    return datetime.fromisoformat(start).date() <= day < datetime.fromisoformat(end).date()


def next_weekday(weekday: int = 1, weeks_ahead: int = 1, open_days: int = 1) -> date:
    """A date at least a few days ahead (past min notice), e.g. Tuesday next week, that starts `open_days`
    days without the demo clinic's closure (a week later otherwise), so the suite passes whatever day it runs."""
    today = datetime.now(timezone.utc).date()
    day = today + timedelta(days=(weekday - today.weekday()) % 7 + 7 * weeks_ahead)
    while any(_demo_closed(day + timedelta(days=d)) for d in range(open_days)):
        day += timedelta(days=7)
    return day


def hold_body(start: str, **overrides) -> dict:
    body = {"clinic": CLINIC, "treatment": TREATMENT, "therapist": THERAPIST, "start": start}
    body.update(overrides)
    return body


def booking_body(hold_id: str, email: str = "ada@example.com", answers: dict | None = ALL_CLEAR, **overrides) -> dict:
    body = {"hold": hold_id, "customer": {"name": "Ada Lovelace", "email": email}}
    if answers is not None:
        body["screening"] = {"answers": answers}
    body.update(overrides)
    return body


async def free_slots(
    http,
    day: date | None = None,
    therapist: str | None = THERAPIST,
    treatment: str = TREATMENT,
    days: int = 1,
    clinic: str = CLINIC,
) -> list[dict]:
    """`http` is an aiohttp test client, or anything with .request(method, path) answering JSON.
    `therapist` None: any therapist giving the treatment."""
    day = day or next_weekday()
    params = {"treatment": treatment, "from": day.isoformat(), "to": (day + timedelta(days=days - 1)).isoformat()}
    if therapist is not None:
        params["therapist"] = therapist
    resp = await http.request("GET", f"/api/v1/clinics/{clinic}/availability", params=params)
    assert resp.status == 200, await resp.text()
    return (await resp.json())["slots"]


async def hold(http, start: str, **overrides) -> dict:
    resp = await http.request("POST", "/api/v1/holds", json=hold_body(start, **overrides))
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def book(http, email: str = "ada@example.com", day: date | None = None, slot_index: int = 0) -> dict:
    """Hold a free slot of `day` and book it; returns the booking, awaiting its card payment."""
    slot = (await free_slots(http, day))[slot_index]
    held = await hold(http, slot["start"])
    resp = await http.request("POST", "/api/v1/bookings", json=booking_body(held["id"], email))
    assert resp.status == 201, await resp.text()
    booking = await resp.json()
    assert booking["status"] == "pending_payment" and booking["payment"]["client_secret"]
    return booking


async def book_and_pay(http, checkout, **kwargs) -> dict:
    """Book and pay by card; returns the booking as the customer then sees it (confirmed)."""
    booking = await book(http, **kwargs)
    await checkout.pay(booking)
    token = booking["manage_url"].split("token=", 1)[1]
    resp = await http.request("GET", f"/api/v1/bookings/{booking['id']}", params={"token": token})
    assert resp.status == 200, await resp.text()
    return {**await resp.json(), "manage_url": booking["manage_url"], "payment": booking["payment"]}


class BaseUrlClient:
    """An aiohttp ClientSession bound to a base URL, with the test client's request(method, path)."""

    def __init__(self, session, base_url: str):
        self.session = session
        self.base_url = base_url.rstrip("/")

    async def request(self, method: str, path: str, **kwargs):
        resp = await self.session.request(method, self.base_url + path, **kwargs)
        await resp.read()
        return resp


async def move_visit(booking_pool, booking_id: str, to: datetime) -> None:
    """The booking's visit at `to`, its blocked time with it (the past for a no-show; inside the change window for
    a late cancellation), written straight to the booking service's database."""
    async with booking_pool.acquire() as conn:
        await conn.execute(
            "UPDATE bookings SET blocked = tstzrange($2::timestamptz - (starts_at - lower(blocked)),"
            " $2::timestamptz + (upper(blocked) - starts_at)), ends_at = $2::timestamptz + (ends_at - starts_at),"
            " starts_at = $2::timestamptz WHERE id = $1",
            uuid.UUID(booking_id),
            to,
        )
