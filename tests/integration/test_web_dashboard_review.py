"""A clinic owner's and receptionist's first day, through the gateway as a browser without JavaScript uses the
dashboard: what a person sees when their session has ended under an open form (told that nothing was saved and to
sign in again, never a silent sign-in page); what cancelling a booking nobody paid online for says about a refund
(nothing is refunded: never "a full refund"); and working hours typed past midnight (explained as two periods)."""

from __future__ import annotations

import re

from services.web.dashboard import session as sessions
from services.web.dashboard.session import SessionStore
from tests.integration.test_web_dashboard_diary import new_booking_form, phone_form, status_of
from tests.integration.test_web_dashboard_therapists import week_of
from tests.support.booking import THERAPIST, next_weekday
from tests.support.dashboard import (  # noqa: F401  (dashboard, owner: fixtures)
    csrf_of,
    dashboard,
    owner,
    page,
    sign_in,
)

SETTINGS = "/clinic/settings"
UNSAVED = "Your session ended before what you sent was saved: nothing was changed. Sign in again"


async def clinic_name(booking_pool) -> str:
    async with booking_pool.acquire() as conn:
        return await conn.fetchval("SELECT name FROM clinics WHERE slug = 'urban-therapy'")


# --- a session that ends under an open form --------------------------------------------------------------


async def test_a_form_sent_after_the_session_lapsed_says_nothing_was_saved_and_to_sign_in_again(
    dashboard, owner, redis, settings, booking_pool
):
    cookie = (await sign_in(dashboard)).cookies[sessions.COOKIE].value
    form = await page(await dashboard.get(SETTINGS))
    # The owner leaves the settings open; the session lapses (12 hours on, or Redis restarted: it keeps nothing).
    store = SessionStore(redis, settings.redis_prefix, secure=False)
    await redis.delete(store._key(cookie))

    sent = await dashboard.post(
        SETTINGS, data={"csrf": csrf_of(form), "name": "Urban Therapy Renamed"}, allow_redirects=False
    )
    assert sent.status == 303 and sent.headers["Location"] == "/clinic/sign-in?m=expired-unsaved&next=/clinic/settings"
    told = await page(await dashboard.get(sent.headers["Location"]))
    assert UNSAVED in told and 'name="password"' in told
    assert await clinic_name(booking_pool) == "Urban Therapy Clinic, London", "nothing changed"


async def test_a_form_sent_after_the_browser_dropped_the_session_cookie_says_nothing_was_saved(dashboard, owner):
    await sign_in(dashboard)
    form = await page(await dashboard.get(SETTINGS))
    dashboard.session.cookie_jar.clear(lambda cookie: cookie.key == sessions.COOKIE)  # its max-age ran out
    sent = await dashboard.post(SETTINGS, data={"csrf": csrf_of(form), "name": "X"}, allow_redirects=False)
    assert sent.status == 303 and sent.headers["Location"] == "/clinic/sign-in?m=expired-unsaved&next=/clinic/settings"


async def test_a_form_sent_with_a_token_the_api_no_longer_takes_says_nothing_was_saved(
    dashboard, owner, redis, settings, booking_pool
):
    cookie = (await sign_in(dashboard)).cookies[sessions.COOKIE].value
    form = await page(await dashboard.get(SETTINGS))
    token = (await SessionStore(redis, settings.redis_prefix, secure=False).load(cookie)).token
    ended = await dashboard.delete("/api/v1/clinic/session", headers={"Authorization": f"Bearer {token}"})
    assert ended.status == 204
    invite = {"csrf": csrf_of(form), "email": "tom@example.com", "name": "Tom Hughes", "role": "staff"}
    sent = await dashboard.post("/clinic/staff", data=invite, allow_redirects=False)
    assert sent.status == 303 and sent.headers["Location"] == "/clinic/sign-in?m=expired-unsaved&next=/clinic/staff"
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM clinic_staff WHERE email = 'tom@example.com'") == 0


# --- cancelling what nobody paid online for --------------------------------------------------------------


async def phone_booking(dashboard, payment: str) -> str:
    """Reception books by phone (paid at the clinic, or online from the emailed link); the booking's id."""
    text, times = await new_booking_form(dashboard, next_weekday(3))
    resp = await dashboard.post("/clinic/bookings/new", data=phone_form(text, times[0], payment), allow_redirects=False)
    assert resp.status == 303, await resp.text()
    return re.search(r"/clinic/bookings/([0-9a-f-]{36})", resp.headers["Location"]).group(1)


async def test_cancelling_a_booking_to_be_paid_at_the_clinic_promises_no_refund(dashboard, owner, booking_pool):
    await sign_in(dashboard)
    booking_id = await phone_booking(dashboard, "at_clinic")
    path = f"/clinic/bookings/{booking_id}/cancel"
    question = await page(await dashboard.get(path))
    assert "Nothing was paid online, so nothing is refunded." in question
    assert "full refund" not in question

    resp = await dashboard.post(path, data={"csrf": csrf_of(question), "reason": "Cannot come"}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"/clinic/bookings/{booking_id}?done=cancelled-unpaid"
    done = await page(await dashboard.get(resp.headers["Location"]))
    assert "Booking cancelled. Nothing was paid online, so nothing is refunded" in done
    assert "full refund" not in done
    assert await status_of(booking_pool, booking_id) == "cancelled"


async def test_cancelling_a_phone_booking_not_yet_paid_online_says_the_link_stops_working(
    dashboard, owner, booking_pool
):
    await sign_in(dashboard)
    booking_id = await phone_booking(dashboard, "online")
    assert await status_of(booking_pool, booking_id) == "pending_payment"
    path = f"/clinic/bookings/{booking_id}/cancel"
    question = await page(await dashboard.get(path))
    assert "has not paid yet, so nothing is refunded: their payment link stops working" in question
    assert "full refund" not in question

    resp = await dashboard.post(path, data={"csrf": csrf_of(question), "reason": "Changed mind"}, allow_redirects=False)
    assert resp.headers["Location"] == f"/clinic/bookings/{booking_id}?done=cancelled-unpaid"
    done = await page(await dashboard.get(resp.headers["Location"]))
    assert "Booking cancelled. Nothing was paid online, so nothing is refunded" in done


# --- a late shift ----------------------------------------------------------------------------------------


async def test_hours_past_midnight_are_explained_as_two_periods_and_nothing_changes(dashboard, owner, booking_pool):
    await sign_in(dashboard)
    hours = f"/clinic/therapists/{THERAPIST}/hours"
    editor = await page(await dashboard.get(hours))
    before = await week_of(booking_pool, THERAPIST)
    late = {"csrf": csrf_of(editor), "h6_0_start": "18:00", "h6_0_end": "01:00"}  # Sunday evening into Monday
    refused = await page(await dashboard.post(hours, data=late), 400)
    assert 'href="#h6_0_end"' in refused
    assert (
        "Sunday, working period 1: must be after the start (18:00). A day's hours end by midnight: for hours past "
        "it, end this period at 23:59 and add one from 00:00 on Monday" in refused
    )
    assert 'value="01:00"' in refused, "what was typed is kept"
    assert await week_of(booking_pool, THERAPIST) == before
