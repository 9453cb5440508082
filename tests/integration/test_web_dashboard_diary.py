"""The diary and a booking's page as a browser without JavaScript uses them, through the gateway: a customer's booking,
a hold, breaks and time off in the day and week views (the zone named); the booking's page with the screening
answers and their flags; cancel on the customer's behalf (reason, refund), move, mark an outcome, book by phone
(paid at the clinic or online; a red flag books nothing); reception may do all of it; another clinic's booking is a
404 page; a form without its CSRF token is refused and changes nothing."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from jsonschema import Draft202012Validator

from services.booking.api_spec import CLINIC_BOOKING_DETAIL
from services.booking.seed import stable_id
from services.web.formatting import day_label
from shared.openapi import SHARED_SCHEMAS
from tests.support.booking import (
    ALL_CLEAR,
    OTHER_THERAPIST,
    THERAPIST,
    TREATMENT,
    book_and_pay,
    booking_body,
    free_slots,
    hold,
    next_weekday,
)
from tests.support.clinic_api import bearer
from tests.support.dashboard import (  # noqa: F401  (dashboard, owner, receptionist: fixtures)
    STAFF_EMAIL,
    csrf_of,
    dashboard,
    owner,
    page,
    receptionist,
    signed_in,
)

LONDON = ZoneInfo("Europe/London")
FLAGGED = {**ALL_CLEAR, "pain_both_legs": True}
RED_FLAG = {**ALL_CLEAR, "saddle_numbness": True}
SPINECARE_TREATMENT = str(stable_id("spinecare", "treatment", "sciatica-treatment-60"))
SPINECARE_THERAPIST = str(stable_id("spinecare", "therapist", "priya-shah"))
SLOT_BUTTON = re.compile(r'name="slot" value="([^"|]+)\|([^"]+)"')
TIME_RADIO = re.compile(r'name="start" type="radio" value="([^"]+)"')


def clock(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(LONDON).strftime("%H:%M")


async def status_of(pool, booking_id: str) -> str:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT status FROM bookings WHERE id = $1", uuid.UUID(booking_id))


async def bookings_count(pool) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM bookings")


async def add_time_off(pool, therapist: str, start: datetime, end: datetime, reason: str) -> None:
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO time_off (therapist_id, period, reason) VALUES ($1, tstzrange($2, $3), $4)",
            uuid.UUID(therapist),
            start,
            end,
            reason,
        )


async def customer_books(booking, checkout, day: date, answers=ALL_CLEAR, email="ada@example.com", index=0) -> dict:
    """A customer books Amara's deep tissue massage online and pays by card: the booking, confirmed."""
    if answers == ALL_CLEAR:
        return await book_and_pay(booking, checkout, email=email, day=day, slot_index=index)
    slot = (await free_slots(booking, day))[index]
    held = await hold(booking, slot["start"])
    resp = await booking.post("/api/v1/bookings", json=booking_body(held["id"], email, answers=answers))
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    await checkout.pay(made)
    return made


def section(text: str, start: str, end: str | None = None) -> str:
    """The page's text from `start` (to `end`)."""
    at = text.index(start)
    return text[at : text.index(end, at + len(start))] if end else text[at:]


async def new_booking_form(dashboard, day: date, therapist: str = THERAPIST) -> tuple[str, list[str]]:
    """The phone booking's page for a day: its text and the free times it offers."""
    params = {"treatment": TREATMENT, "therapist": therapist, "date": day.isoformat()}
    text = await page(await dashboard.get("/clinic/bookings/new", params=params))
    return text, TIME_RADIO.findall(text)


def phone_form(text: str, start: str, payment: str = "at_clinic", answers=ALL_CLEAR, **changes) -> dict:
    form = {
        "csrf": csrf_of(text),
        "key": re.search(r'name="key" value="([^"]+)"', text).group(1),
        "treatment": TREATMENT,
        "therapist": THERAPIST,
        "date": start[:10],
        "start": start,
        "name": "Grace Hopper",
        "email": "grace@example.com",
        "phone": "07700 900123",
        "payment": payment,
        **{question: "yes" if yes else "no" for question, yes in (answers or {}).items()},
    }
    return {**form, **changes}


# --- the diary ---------------------------------------------------------------------------------------------


async def test_a_booking_a_hold_breaks_and_time_off_appear_in_the_day_and_week_views(
    dashboard, owner, booking, checkout, booking_pool
):
    day = next_weekday(1)  # a Tuesday: Amara works 09:00-18:00 with a break at 13:00, Tom 10:00-19:00
    paid = await customer_books(booking, checkout, day)
    slots = await free_slots(booking, day)
    held = await hold(booking, slots[2]["start"])
    off_start = datetime.combine(day, datetime.min.time().replace(hour=15), LONDON)
    await add_time_off(booking_pool, OTHER_THERAPIST, off_start, off_start + timedelta(hours=2), "Dentist")
    await signed_in(dashboard)

    text = await page(await dashboard.get("/clinic/diary", params={"date": day.isoformat()}))
    assert f"<h1>Diary: {day_label(day)}</h1>" in text
    assert "Times are UK time, " in text and f"{day_label(day)} (UK time, " in text, "the zone named"
    amara = section(text, ">Amara Okafor</h3>", "</section>")
    assert "Working 09:00 to 18:00" in amara
    link = f'<a href="/clinic/bookings/{paid["id"]}">Ada Lovelace: Deep tissue massage (60 min)'
    assert link in amara and clock(paid["start"]) in amara and "Confirmed" in amara
    assert "13:00 to 14:00" in amara and ">Break<" in amara
    assert "Being booked" in amara and clock(held["start"]) in amara, "the hold, as a hold"
    assert amara.count("<a href=") == 1, "a hold links to nothing: nobody has booked it yet"
    tom = section(text, ">Tom Hughes</h3>", "</section>")
    assert "Time off" in tom and "15:00 to 17:00" in tom and "Dentist" in tom and "14:00 to 14:30" in tom

    week = await page(await dashboard.get("/clinic/diary", params={"view": "week", "date": day.isoformat()}))
    monday = day - timedelta(days=day.weekday())
    assert f"<h1>Diary: Week of {day_label(monday)}</h1>" in week
    for offset in range(7):
        assert f"{day_label(monday + timedelta(days=offset))} (UK time, " in week
    assert link in week and "Being booked" in week and "Dentist" in week
    assert f'href="/clinic/diary?view=week&date={(monday - timedelta(days=7)).isoformat()}"' in week

    # One therapist: Tom's days only.
    only_tom = await page(
        await dashboard.get("/clinic/diary", params={"date": day.isoformat(), "therapist": OTHER_THERAPIST})
    )
    assert "Dentist" in only_tom and "Ada Lovelace" not in only_tom and ">Amara Okafor</h3>" not in only_tom
    assert "<h1>Diary: " in only_tom and "Tom Hughes</span></h1>" in only_tom
    # Day by day, and today by default (the clinic's today).
    assert f'href="/clinic/diary?date={(day - timedelta(days=1)).isoformat()}">Previous day' in text
    assert f'href="/clinic/diary?date={(day + timedelta(days=1)).isoformat()}">Next day' in text
    today = datetime.now(timezone.utc).astimezone(LONDON).date()
    assert f"<h1>Diary: {day_label(today)}</h1>" in await page(await dashboard.get("/clinic/diary"))


async def test_the_diary_reads_an_address_typed_wrong_as_today_and_refuses_another_clinics_therapist(dashboard, owner):
    await signed_in(dashboard)
    today = datetime.now(timezone.utc).astimezone(LONDON).date()
    text = await page(await dashboard.get("/clinic/diary", params={"date": "2026-13-45", "view": "month"}))
    assert f"<h1>Diary: {day_label(today)}</h1>" in text
    await page(await dashboard.get("/clinic/diary", params={"therapist": SPINECARE_THERAPIST}), 404)


# --- a booking's page --------------------------------------------------------------------------------------


async def test_the_booking_page_shows_the_customer_payment_and_the_screening_answers_with_their_flags(
    dashboard, owner, booking, checkout, gateway, keys
):
    paid = await customer_books(booking, checkout, next_weekday(2), answers=FLAGGED, email="flagged@example.com")
    await signed_in(dashboard)
    text = await page(await dashboard.get(f"/clinic/bookings/{paid['id']}"))
    assert "Ada Lovelace" in text and "flagged@example.com" in text and "Amara Okafor" in text
    assert "Deep tissue massage (60 min)" in text and "£65.00" in text and "Online by card" in text
    assert "By the customer, online" in text and "Confirmed" in text and "(UK time, " in text
    answers = section(text, 'id="screening"', "<h2>History</h2>")
    assert "Answers to check before the treatment" in answers
    flagged = section(answers, "Does your pain spread into both legs?", "</tr>")
    assert "Yes" in flagged and "Flagged" in flagged
    calm = section(answers, "Is one of your calves swollen", "</tr>")
    assert "No" in calm and "Flagged" not in calm
    assert answers.count("Flagged") == 1
    # The page's API answer is what its OpenAPI schema says.
    resp = await gateway.get(f"/api/v1/clinic/bookings/{paid['id']}", headers=bearer(keys["urban-therapy"]))
    body = await resp.json()
    Draft202012Validator({**CLINIC_BOOKING_DETAIL, "components": {"schemas": SHARED_SCHEMAS}}).validate(body)
    assert (body["booked_by"], body["payment"], body["cancellation"], body["actions"]) == (
        "customer",
        {"mode": "online"},
        None,
        [],
    )
    assert body["screening"]["answers"]["pain_both_legs"] is True and body["voucher"] is None


async def test_cancel_for_the_customer_needs_a_reason_then_refunds_in_full_and_says_so(
    dashboard, owner, booking, checkout, booking_pool, payments_pool, event_path
):
    paid = await customer_books(booking, checkout, next_weekday(3))
    await signed_in(dashboard)
    question = await page(await dashboard.get(f"/clinic/bookings/{paid['id']}/cancel"))
    assert "the customer gets a full refund and an email" in question.lower()
    path = f"/clinic/bookings/{paid['id']}/cancel"
    empty = await page(await dashboard.post(path, data={"csrf": csrf_of(question), "reason": "  "}), 400)
    assert "There is a problem" in empty and "Enter why the booking is cancelled" in empty
    assert await status_of(booking_pool, paid["id"]) == "confirmed", "a form that failed changed nothing"

    reason = "Amara is unwell; offered Thursday"
    resp = await dashboard.post(path, data={"csrf": csrf_of(question), "reason": reason}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"/clinic/bookings/{paid['id']}?done=cancelled"
    text = await page(await dashboard.get(resp.headers["Location"]))
    assert "Booking cancelled. The customer gets a full refund and an email" in text
    assert "Cancelled by the clinic" in text and reason in text and "A full refund" in text
    assert "Cancelled for the customer</strong> by you" in text
    assert "Move to another time" not in text and "Mark completed" not in text, "no action on a cancelled booking"
    assert await status_of(booking_pool, paid["id"]) == "cancelled"
    await event_path.drain()
    async with payments_pool.acquire() as conn:
        refund = await conn.fetchrow("SELECT amount, reason, status FROM refunds")
    assert (refund["amount"], refund["reason"], refund["status"]) == (6500, "cancelled_by_clinic", "succeeded")
    # Again: the state machine's refusal, in words.
    again = await page(await dashboard.post(path, data={"csrf": csrf_of(question), "reason": reason}), 409)
    assert "cancelled" in again and "only a confirmed booking" in again.lower()


async def test_move_a_booking_to_a_free_time_of_the_same_week(dashboard, owner, booking, checkout, booking_pool):
    day = next_weekday(1)
    paid = await customer_books(booking, checkout, day)
    await signed_in(dashboard)
    text = await page(
        await dashboard.get(f"/clinic/bookings/{paid['id']}/reschedule", params={"week": day.isoformat()})
    )
    assert "Move this booking" in text and "times are UK time" in text
    times = SLOT_BUTTON.findall(text)
    assert times and all(therapist == THERAPIST for therapist, _ in times), "the same therapist's times"
    therapist, start = next(
        (t, s) for t, s in times if s != paid["start"] and s[:10] == (day + timedelta(days=1)).isoformat()
    )
    resp = await dashboard.post(
        f"/clinic/bookings/{paid['id']}/reschedule",
        data={"csrf": csrf_of(text), "slot": f"{therapist}|{start}", "week": day.isoformat()},
        allow_redirects=False,
    )
    assert resp.status == 303 and resp.headers["Location"].endswith("?done=moved")
    moved = await page(await dashboard.get(resp.headers["Location"]))
    assert "Booking moved." in moved and day_label(day + timedelta(days=1)) in moved and clock(start) in moved
    assert "Moved</strong> by you" in moved
    async with booking_pool.acquire() as conn:
        now_starts = await conn.fetchval("SELECT starts_at FROM bookings WHERE id = $1", uuid.UUID(paid["id"]))
    assert now_starts == datetime.fromisoformat(start)
    # A taken time: the page says so, and the booking stays where it is.
    other = await customer_books(booking, checkout, day, email="bob@example.com")
    taken = await dashboard.post(
        f"/clinic/bookings/{paid['id']}/reschedule",
        data={"csrf": csrf_of(text), "slot": f"{THERAPIST}|{other['start']}", "week": day.isoformat()},
    )
    assert "That time has just been taken" in await page(taken, 409)
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT starts_at FROM bookings WHERE id = $1", uuid.UUID(paid["id"])) == now_starts


async def test_an_outcome_is_refused_in_words_before_the_visit_and_recorded_after(
    dashboard, owner, booking, checkout, booking_pool
):
    paid = await customer_books(booking, checkout, next_weekday(4))
    text = await signed_in(dashboard)
    early = await dashboard.post(f"/clinic/bookings/{paid['id']}/no-show", data={"csrf": csrf_of(text)})
    assert "only once its start time has passed" in await page(early, 409)
    assert await status_of(booking_pool, paid["id"]) == "confirmed"
    async with booking_pool.acquire() as conn:
        await conn.execute(
            """UPDATE bookings SET starts_at = now() - interval '2 hours', ends_at = now() - interval '1 hour',
                   blocked = tstzrange(now() - interval '2 hours', now() - interval '1 hour') WHERE id = $1""",
            uuid.UUID(paid["id"]),
        )
    resp = await dashboard.post(
        f"/clinic/bookings/{paid['id']}/complete", data={"csrf": csrf_of(text)}, allow_redirects=False
    )
    assert resp.status == 303
    assert "Marked as completed." in await page(await dashboard.get(resp.headers["Location"]))
    assert await status_of(booking_pool, paid["id"]) == "completed"


# --- booking for a customer --------------------------------------------------------------------------------


async def test_a_phone_booking_paid_at_the_clinic_is_confirmed_and_in_the_diary(dashboard, owner, booking_pool):
    day = next_weekday(3)
    await signed_in(dashboard)
    first = await page(await dashboard.get("/clinic/bookings/new"))
    assert "Show free times" in first and 'name="start"' not in first
    text, times = await new_booking_form(dashboard, day)
    assert times and "Time (UK time, " in text and "Health questions" in text
    resp = await dashboard.post("/clinic/bookings/new", data=phone_form(text, times[1]), allow_redirects=False)
    assert resp.status == 303, await resp.text()
    location = resp.headers["Location"]
    assert re.fullmatch(r"/clinic/bookings/[0-9a-f-]{36}\?done=booked", location)
    booking_id = location.split("/")[3].split("?")[0]
    shown = await page(await dashboard.get(location))
    assert "Booked and confirmed, to be paid at the clinic" in shown and "Grace Hopper" in shown
    assert "At the clinic, on the day" in shown and "By the clinic, for the customer" in shown
    assert "07700 900123" in shown and "No concerns" in shown
    assert await status_of(booking_pool, booking_id) == "confirmed"
    diary = await page(await dashboard.get("/clinic/diary", params={"date": day.isoformat()}))
    assert f'<a href="/clinic/bookings/{booking_id}">Grace Hopper: Deep tissue massage (60 min)' in diary
    # The same form again (a double click): the same booking, not a second one.
    before = await bookings_count(booking_pool)
    again = await dashboard.post("/clinic/bookings/new", data=phone_form(text, times[1]), allow_redirects=False)
    assert again.status == 303 and again.headers["Location"] == location
    assert await bookings_count(booking_pool) == before


async def test_a_phone_booking_paid_online_awaits_the_payment_from_the_emailed_link(dashboard, owner, booking_pool):
    await signed_in(dashboard)
    text, times = await new_booking_form(dashboard, next_weekday(3))
    resp = await dashboard.post("/clinic/bookings/new", data=phone_form(text, times[0], "online"))
    shown = await page(resp)
    assert "We have emailed the customer a link to pay online" in shown
    assert "waiting for the customer to pay" in shown and "Awaiting online payment" in shown
    # The customer rings back before paying: it can be called off (and its payment link stops working).
    assert "Cancel the booking" in shown and "Move to another time" not in shown
    phoned = re.search(r'href="/clinic/bookings/([0-9a-f-]+)/cancel"', shown).group(1)
    form = await page(await dashboard.get(f"/clinic/bookings/{phoned}/cancel"))
    resp = await dashboard.post(
        f"/clinic/bookings/{phoned}/cancel", data={"csrf": csrf_of(form), "reason": "Rang back: not needed"}
    )
    assert "Booking cancelled." in await page(resp)
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM bookings WHERE id = $1", uuid.UUID(phoned)) == "cancelled"


async def test_a_red_flag_books_nothing_and_shows_the_advice(dashboard, owner, booking_pool):
    await signed_in(dashboard)
    text, times = await new_booking_form(dashboard, next_weekday(3))
    before = await bookings_count(booking_pool)
    stopped = await page(
        await dashboard.post("/clinic/bookings/new", data=phone_form(text, times[0], answers=RED_FLAG)), 422
    )
    assert (
        "This treatment cannot be booked now" in stopped
        and "Please go to A&E now" in stopped
        and "Nothing has been booked" in stopped
    )
    assert await bookings_count(booking_pool) == before


async def test_a_phone_booking_with_details_missing_says_what_and_keeps_what_was_typed(dashboard, owner, booking_pool):
    await signed_in(dashboard)
    text, times = await new_booking_form(dashboard, next_weekday(3))
    form = phone_form(text, times[0], name="", email="not an email", payment="", answers={"bladder_bowel": False})
    before = await bookings_count(booking_pool)
    again = await page(await dashboard.post("/clinic/bookings/new", data=form), 400)
    assert "There is a problem" in again
    for message in (
        "Enter the customer's full name",
        "Enter an email address in the correct format",
        "Choose how the customer will pay",
        "Answer yes or no: Have you suddenly developed weakness in both legs?",
    ):
        assert message in again, message
    assert 'value="not an email"' in again and 'value="07700 900123"' in again
    assert f'value="{times[0]}" checked' in again, "the time chosen, kept"
    assert await bookings_count(booking_pool) == before
    # A treatment the therapist does not give is refused before any time is shown.
    wrong = await page(
        await dashboard.get(
            "/clinic/bookings/new",
            params={
                "treatment": str(stable_id("urban-therapy", "treatment", "swedish-60")),
                "therapist": OTHER_THERAPIST,
                "date": next_weekday(3).isoformat(),
            },
        ),
        200,
    )
    assert "Tom Hughes does not give" in wrong and 'name="start"' not in wrong
    for day in ("yesterday", "2020-01-01", (next_weekday(3) + timedelta(days=120)).isoformat()):
        params = {"treatment": TREATMENT, "therapist": THERAPIST, "date": day}
        refused = await page(await dashboard.get("/clinic/bookings/new", params=params))
        assert 'href="#date">Choose a day' in refused and 'name="start"' not in refused, day


# --- reception, other clinics, CSRF ------------------------------------------------------------------------


async def test_reception_sees_the_diary_and_books_moves_and_cancels_for_customers(
    dashboard, owner, receptionist, booking, checkout, booking_pool
):
    day = next_weekday(2)
    paid = await customer_books(booking, checkout, day)
    await signed_in(dashboard, STAFF_EMAIL)
    diary = await page(await dashboard.get("/clinic/diary", params={"view": "week", "date": day.isoformat()}))
    assert f'href="/clinic/bookings/{paid["id"]}"' in diary
    shown = await page(await dashboard.get(f"/clinic/bookings/{paid['id']}"))
    assert "Does your pain spread into both legs?" in shown, "the screening answers, to reception too"

    text, times = await new_booking_form(dashboard, day)
    resp = await dashboard.post("/clinic/bookings/new", data=phone_form(text, times[-1]), allow_redirects=False)
    assert resp.status == 303
    phoned = resp.headers["Location"].split("/")[3].split("?")[0]
    move = await page(await dashboard.get(f"/clinic/bookings/{phoned}/reschedule", params={"week": day.isoformat()}))
    therapist, start = SLOT_BUTTON.findall(move)[-1]
    resp = await dashboard.post(
        f"/clinic/bookings/{phoned}/reschedule", data={"csrf": csrf_of(move), "slot": f"{therapist}|{start}"}
    )
    assert "Booking moved." in await page(resp)
    resp = await dashboard.post(f"/clinic/bookings/{phoned}/cancel", data={"csrf": csrf_of(move), "reason": "Asked to"})
    cancelled = await page(resp)
    assert "Booking cancelled." in cancelled and "Nothing was paid online, so nothing is refunded." in cancelled
    assert "Cancelled for the customer</strong> by you" in cancelled
    async with booking_pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT action, role FROM booking_actions WHERE booking_id = $1 ORDER BY id", uuid.UUID(phoned)
        )
    assert [(r["action"], r["role"]) for r in rows] == [("book", "staff"), ("reschedule", "staff"), ("cancel", "staff")]


async def test_another_clinics_booking_is_a_404_page_and_stays_as_it_was(dashboard, owner, booking, booking_pool):
    slot = (
        await free_slots(
            booking, next_weekday(2), therapist=SPINECARE_THERAPIST, treatment=SPINECARE_TREATMENT, clinic="spinecare"
        )
    )[0]
    held = await hold(
        booking, slot["start"], clinic="spinecare", treatment=SPINECARE_TREATMENT, therapist=SPINECARE_THERAPIST
    )
    home = await signed_in(dashboard)
    for path in (
        f"/clinic/bookings/{held['id']}",
        f"/clinic/bookings/{held['id']}/cancel",
        f"/clinic/bookings/{held['id']}/reschedule",
        f"/clinic/bookings/{uuid.uuid4()}",
        "/clinic/bookings/not-an-id",
    ):
        text = await page(await dashboard.get(path), 404)
        assert "Page not found" in text, path
    for action, data in (
        ("cancel", {"reason": "mine now"}),
        ("complete", {}),
        ("no-show", {}),
        ("reschedule", {"slot": f"{SPINECARE_THERAPIST}|{slot['start']}"}),
    ):
        resp = await dashboard.post(f"/clinic/bookings/{held['id']}/{action}", data={"csrf": csrf_of(home), **data})
        assert "Page not found" in await page(resp, 404), action
    assert await status_of(booking_pool, held["id"]) == "held"


async def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    dashboard, owner, booking, checkout, booking_pool
):
    day = next_weekday(2)
    paid = await customer_books(booking, checkout, day)
    await signed_in(dashboard)
    text, times = await new_booking_form(dashboard, day)
    before = await bookings_count(booking_pool)
    for path, data in (
        (f"/clinic/bookings/{paid['id']}/cancel", {"reason": "no token"}),
        (f"/clinic/bookings/{paid['id']}/reschedule", {"slot": f"{THERAPIST}|{times[-1]}"}),
        (f"/clinic/bookings/{paid['id']}/complete", {}),
        (f"/clinic/bookings/{paid['id']}/no-show", {}),
        ("/clinic/bookings/new", {k: v for k, v in phone_form(text, times[0]).items() if k != "csrf"}),
        ("/clinic/bookings/new", {**phone_form(text, times[0]), "csrf": "forged"}),
    ):
        refused = await page(await dashboard.post(path, data=data), 403)
        assert "This form cannot be sent" in refused, path
    assert await status_of(booking_pool, paid["id"]) == "confirmed"
    assert await bookings_count(booking_pool) == before
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval(
            "SELECT starts_at FROM bookings WHERE id = $1", uuid.UUID(paid["id"])
        ) == datetime.fromisoformat(paid["start"])


async def test_signed_out_visitors_are_sent_to_sign_in(dashboard):
    for path in ("/clinic/diary", "/clinic/bookings/new", f"/clinic/bookings/{uuid.uuid4()}"):
        resp = await dashboard.get(path, allow_redirects=False)
        location = urlsplit(resp.headers["Location"])  # signing in comes back to the page
        assert resp.status == 303 and location.path == "/clinic/sign-in", path
        assert dict(parse_qsl(location.query)) == {"next": path}, path
