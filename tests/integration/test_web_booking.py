"""The customer's pages, as a browser without JavaScript uses them, through the gateway: the clinic list,
the clinic's page, and the booking flow from a treatment to a confirmed, paid booking. (The same flows
in Chromium, with axe-core, are the browser tests'.)"""

from __future__ import annotations

import html
import re
import uuid
from datetime import date, datetime, timedelta

import pytest
from icalendar import Calendar

from services.gateway.app import create_app as create_gateway
from services.notifications.app import create_app as create_notifications
from services.web.app import create_app as create_web
from tests.support.booking import CLINIC, THERAPIST, TREATMENT, next_weekday
from tests.support.infra import free_port

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
async def site(linked, booking_server, payments_server, aiohttp_server, aiohttp_client):
    """The gateway in front of the web pages and the services they call, as a browser sees it."""
    _, settings = linked
    web_port = free_port()
    notifications = await aiohttp_server(create_notifications(settings))
    upstreams = {
        **settings.upstreams,
        "notifications": str(notifications.make_url("")).rstrip("/"),
        "web": f"http://127.0.0.1:{web_port}",
    }
    await aiohttp_server(create_web(settings.with_overrides(upstreams=upstreams)), port=web_port)
    return await aiohttp_client(create_gateway(settings.with_overrides(upstreams=upstreams)))


async def page(resp, status: int = 200) -> str:
    text = await resp.text()
    assert resp.status == status, (resp.status, text[:3000])
    assert resp.content_type == "text/html"
    return html.unescape(text)


def csrf_of(text: str) -> str:
    return CSRF.search(text).group(1)


async def choose_a_slot(site, day=None) -> tuple[str, dict]:
    """The week page for the demo treatment and therapist, and the first slot's hidden fields."""
    day = day or next_weekday(1, weeks_ahead=1)
    text = await page(
        await site.get(
            f"/c/{CLINIC}/book", params={"treatment": TREATMENT, "therapist": THERAPIST, "week": day.isoformat()}
        )
    )
    return text, week_form(text)


def week_form(text: str) -> dict:
    """The week's form as pressing its first time submits it."""
    form = re.search(r'<form method="post" action="/c/urban-therapy/book/hold">(.*?)</form>', text, re.S).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    fields["slot"] = re.search(r'name="slot" value="([^"]+)"', form).group(1)
    return fields


DETAILS = {"name": "Ada Lovelace", "email": "ada@example.com", "policy": "yes"}


async def post_details(site, details: str, **fields: str):
    """The details page sent with every screening answer "no" and Ada's details; `fields` add or replace."""
    return await site.post(
        f"/c/{CLINIC}/book/details", data={"csrf": csrf_of(details), **ALL_CLEAR, **DETAILS, **fields}
    )


async def hold_first_slot(site) -> str:
    _, fields = await choose_a_slot(site)
    return await page(await site.post(f"/c/{CLINIC}/book/hold", data=fields))


ALL_CLEAR = {
    q: "no"
    for q in (
        "bladder_bowel",
        "saddle_numbness",
        "both_legs_weakness",
        "calf_swelling",
        "acute_inflammation",
        "pain_both_legs",
        "worsening_numbness",
    )
}


async def test_the_clinic_list_and_the_clinic_page_lead_to_booking(site):
    home = await page(await site.get("/"))
    assert "Urban Therapy Clinic, London" in home and 'href="/c/urban-therapy"' in home
    clinic = await page(await site.get("/c/urban-therapy"))
    for shown in (
        "Deep tissue massage (60 min)",
        "£65.00",
        "60 minutes",
        "Amara Okafor",
        "GCMT registration",
        "Sciatica course: 6 sessions",
        "Book now",
        "Buy vouchers",
        "hello@urbantherapy.example",
    ):
        assert shown in clinic, shown
    assert 'href="/c/urban-therapy/book"' in clinic and 'href="/c/urban-therapy/vouchers"' in clinic


async def test_pages_load_only_our_own_hashed_files_and_allow_no_inline_code(site):
    resp = await site.get("/c/urban-therapy")
    csp = resp.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
    text = await page(resp)
    assert "<style" not in text and "style=" not in text and not re.search(r"<script(?![^>]*\bsrc=)", text)
    [css] = re.findall(r'href="(/assets/site\.[0-9a-f]{12}\.css)"', text)
    asset = await site.get(css)
    assert asset.status == 200 and "immutable" in asset.headers["Cache-Control"]
    assert (await site.get("/assets/site.000000000000.css")).status == 404


async def test_an_unknown_clinic_is_a_page_not_json(site):
    text = await page(await site.get("/c/nowhere"), 404)
    assert "Page not found" in text
    assert "Page not found" in await page(await site.get("/c/Not..A..Slug"), 404)


async def test_choosing_step_by_step_without_javascript(site):
    what = await page(await site.get(f"/c/{CLINIC}/book"))
    assert 'name="what"' in what and f'value="treatment:{TREATMENT}"' in what
    who = await page(await site.get(f"/c/{CLINIC}/book", params={"what": f"treatment:{TREATMENT}"}))
    assert 'value="any"' in who and "No preference" in who and THERAPIST in who
    week, fields = await choose_a_slot(site)
    assert "Times are UK time." in week and "(UK time, GMT)</h2>" in week and "Next week" in week
    assert fields["treatment"] == TREATMENT and fields["slot"].startswith(THERAPIST + "|") and fields["csrf"]


async def test_book_and_pay_by_test_card_to_a_confirmation(site, checkout, booking_pool):
    screening = await hold_first_slot(site)
    assert "Before your treatment" in screening and "We are holding this time for you until" in screening
    details = await page(await site.post(f"/c/{CLINIC}/book/screening", data={"csrf": csrf_of(screening), **ALL_CLEAR}))
    assert "Your details" in details and 'name="bladder_bowel" value="no"' in details
    pay = await page(await post_details(site, details))
    assert "Test mode." in pay and "£65.00" in pay
    confirming = await page(await site.post(f"/c/{CLINIC}/book/pay", data={"csrf": csrf_of(pay), "card": "visa"}))
    assert "Confirming your booking" in confirming
    await checkout.reconcile()  # the payment event reaches the booking service
    confirmed = await page(await site.get(f"/c/{CLINIC}/book/confirming"))
    assert "Booking confirmed" in confirmed and "ada@example.com" in confirmed and "(UK time, GMT)" in confirmed
    assert re.search(r'href="http[^"]*/manage/[0-9a-f-]+\?token=', confirmed)
    calendar = re.search(r'href="(https://calendar\.google\.com/calendar/render\?[^"]+)"', confirmed).group(1)
    assert "action=TEMPLATE" in calendar and re.search(r"dates=\d{8}T\d{6}Z%2F\d{8}T\d{6}Z", calendar)
    async with booking_pool.acquire() as conn:
        booking_id, starts_at = await conn.fetchrow(
            "SELECT id, starts_at FROM bookings WHERE customer_email = 'ada@example.com' AND status = 'confirmed'"
        )
    # The calendar file: found through the flow's cookie alone, the same entry (UID) as the email's invite.
    assert 'href="/c/urban-therapy/book/confirmed/booking.ics"' in confirmed
    ics = await site.get(f"/c/{CLINIC}/book/confirmed/booking.ics")
    assert ics.status == 200 and ics.content_type == "text/calendar" and ics.headers["Cache-Control"] == "no-store"
    assert "attachment" in ics.headers["Content-Disposition"]
    calendar = Calendar.from_ical(await ics.text())
    [event] = calendar.walk("VEVENT")
    assert calendar["METHOD"] == "PUBLISH" and event["UID"] == f"booking-{booking_id}@clinic-booking"
    assert event.decoded("DTSTART") == starts_at and "Deep tissue massage" in event["SUMMARY"]
    site.session.cookie_jar.clear()  # another browser: no flow, no file
    elsewhere = await site.get(f"/c/{CLINIC}/book/confirmed/booking.ics", allow_redirects=False)
    assert elsewhere.status == 303 and "booking.ics" not in elsewhere.headers["Location"]


async def test_a_red_flag_stops_with_the_advice_and_books_nothing(site, booking_pool):
    screening = await hold_first_slot(site)
    answers = {**ALL_CLEAR, "saddle_numbness": "yes"}
    stopped = await page(await site.post(f"/c/{CLINIC}/book/screening", data={"csrf": csrf_of(screening), **answers}))
    assert "We cannot book this treatment for you now" in stopped and "Please go to A&amp;E now" not in stopped
    assert "Please go to A&E now" in stopped and "Nothing has been booked" in stopped
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM bookings WHERE customer_email IS NOT NULL") == 0
        # and the time is free again at once
        assert await conn.fetchval("SELECT status FROM bookings") == "released"


async def test_choosing_a_different_time_lets_the_first_one_go(site, booking_pool):
    screening = await hold_first_slot(site)
    week = await page(await site.post(f"/c/{CLINIC}/book/release", data={"csrf": csrf_of(screening)}))
    assert "Choose a time" in week
    _, fields = await choose_a_slot(site)
    await page(await site.post(f"/c/{CLINIC}/book/hold", data=fields))  # the same time, held again
    async with booking_pool.acquire() as conn:
        assert sorted(r["status"] for r in await conn.fetch("SELECT status FROM bookings")) == ["held", "released"]


async def test_unanswered_questions_and_missing_details_are_named_and_what_was_typed_kept(site, booking_pool):
    screening = await hold_first_slot(site)
    partial = {k: v for k, v in ALL_CLEAR.items() if k != "calf_swelling"}
    again = await page(
        await site.post(f"/c/{CLINIC}/book/screening", data={"csrf": csrf_of(screening), **partial}), 400
    )
    assert "There is a problem" in again and 'href="#calf_swelling"' in again
    details = await page(await site.post(f"/c/{CLINIC}/book/screening", data={"csrf": csrf_of(again), **ALL_CLEAR}))
    refused = await page(
        await site.post(
            f"/c/{CLINIC}/book/details",
            data={"csrf": csrf_of(details), **ALL_CLEAR, "name": "Ada Lovelace", "email": "not-an-email"},
        ),
        400,
    )
    assert 'href="#email"' in refused and 'href="#policy"' in refused and 'value="Ada Lovelace"' in refused
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM bookings WHERE customer_email IS NOT NULL") == 0


async def test_a_form_without_its_csrf_token_changes_nothing(site, booking_pool):
    _, fields = await choose_a_slot(site)
    resp = await site.post(f"/c/{CLINIC}/book/hold", data={**fields, "csrf": "forged"})
    assert resp.status == 403
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM bookings") == 0


async def test_the_week_shows_the_times_free_now_not_those_of_an_earlier_look(site):
    # The week's buttons are kept by the API's answer (booking.rendered_week): a time held since is not offered.
    before, fields = await choose_a_slot(site)
    await page(await site.post(f"/c/{CLINIC}/book/hold", data=fields))
    after, _ = await choose_a_slot(site)
    taken = f'name="slot" value="{fields["slot"]}"'
    assert taken in before and taken not in after
    assert 0 < len(re.findall(r'name="slot"', after)) < len(re.findall(r'name="slot"', before))


async def test_a_taken_time_sends_the_customer_back_to_the_week_told_why(site):
    _, fields = await choose_a_slot(site)
    await page(await site.post(f"/c/{CLINIC}/book/hold", data=fields))
    other = await page(await site.post(f"/c/{CLINIC}/book/hold", data=fields))
    assert "that time has just been taken" in other and "Choose a time" in other
    # back on the week they were looking at, not the current one
    assert f'name="week" value="{next_weekday(1, weeks_ahead=1).isoformat()}"' in other


async def test_a_hold_taken_from_a_page_counts_against_the_hold_limit(
    linked, booking_server, payments_server, aiohttp_server, aiohttp_client
):
    _, settings = linked
    web_port = free_port()
    upstreams = {**settings.upstreams, "web": f"http://127.0.0.1:{web_port}"}
    strict = settings.with_overrides(upstreams=upstreams, rate_limit_holds_per_ip=2)
    await aiohttp_server(create_web(strict), port=web_port)
    site = await aiohttp_client(create_gateway(strict))
    _, fields = await choose_a_slot(site)
    statuses = [
        (await site.post(f"/c/{CLINIC}/book/hold", data=fields, allow_redirects=False)).status for _ in range(3)
    ]
    assert statuses[:2] == [303, 303] and statuses[2] == 429


# --- the manage page (the link in every confirmation email) ------------------------------------------


async def booked_by_api(site, checkout) -> tuple[str, str]:
    """A confirmed booking made through the API; the path and query of its manage link."""
    from tests.support.booking import book_and_pay

    booking = await book_and_pay(site, checkout, day=next_weekday(2, weeks_ahead=1))
    link = booking["manage_url"]
    return booking["id"], link[link.index("/manage/") :]


def token_of(link: str) -> str:
    return link.split("token=", 1)[1]


async def test_the_manage_link_shows_the_booking_and_cancels_it_with_the_refund_shown(site, checkout, booking_pool):
    booking_id, link = await booked_by_api(site, checkout)
    shown = await page(await site.get(link))
    assert "Your booking" in shown and "Deep tissue massage (60 min)" in shown and "(UK time, GMT)" in shown
    assert "Move this booking" in shown and "Cancel this booking" in shown
    assert (await site.get(link)).headers["Cache-Control"] == "no-store"
    question = await page(
        await site.post(f"/manage/{booking_id}/cancel", data={"csrf": csrf_of(shown), "token": token_of(link)})
    )
    assert "Cancel your booking?" in question and "£65.00" in question
    async with booking_pool.acquire() as conn:  # asking changed nothing
        assert await conn.fetchval("SELECT status FROM bookings WHERE id = $1", uuid.UUID(booking_id)) == "confirmed"
    done = await page(
        await site.post(
            f"/manage/{booking_id}/cancel", data={"csrf": csrf_of(question), "token": token_of(link), "confirm": "yes"}
        )
    )
    assert "Booking cancelled" in done
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM bookings WHERE id = $1", uuid.UUID(booking_id)) == "cancelled"


async def test_the_manage_link_moves_the_booking_to_a_time_chosen_from_the_week(site, checkout, booking_pool):
    booking_id, link = await booked_by_api(site, checkout)
    shown = await page(await site.get(link))
    week = await page(
        await site.post(
            f"/manage/{booking_id}/move",
            data={"csrf": csrf_of(shown), "token": token_of(link), "week": next_weekday(4, weeks_ahead=1).isoformat()},
        )
    )
    assert "Choose a new time" in week
    start = re.search(r'name="start" value="([^"]+)"', week).group(1)
    moved = await page(
        await site.post(
            f"/manage/{booking_id}/move", data={"csrf": csrf_of(week), "token": token_of(link), "start": start}
        )
    )
    assert "Booking moved" in moved
    async with booking_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT status, starts_at FROM bookings WHERE id = $1", uuid.UUID(booking_id))
    assert row["status"] == "confirmed" and row["starts_at"].isoformat() == datetime.fromisoformat(start).isoformat()


async def test_a_manage_link_that_is_not_valid_is_a_page_saying_so(site, checkout):
    booking_id, link = await booked_by_api(site, checkout)
    text = await page(await site.get(f"/manage/{booking_id}?token=forged"), 403)
    assert "This link is not valid or has expired" in text
    assert "Page not found" in await page(await site.get("/manage/not-a-booking?token=x"), 404)


async def test_outside_the_change_window_the_policy_replaces_the_buttons(site, checkout, booking_pool):
    booking_id, link = await booked_by_api(site, checkout)
    async with booking_pool.acquire() as conn:
        await conn.execute("UPDATE clinics SET change_window_hours = 24 * 365")
    shown = await page(await site.get(link))
    assert "It is too late to cancel or move this booking online" in shown and "Cancel this booking" not in shown


async def test_a_week_across_the_spring_change_names_each_days_zone_and_offers_no_time_that_does_not_exist(
    site, booking_pool
):
    async with booking_pool.acquire() as conn:  # 2027-03-28 within reach, and Amara working that Sunday
        await conn.execute("UPDATE clinics SET booking_horizon_days = 730")
        await conn.execute(
            "INSERT INTO working_hours (therapist_id, weekday, starts, ends) VALUES ($1, 6, '00:00', '04:00')",
            uuid.UUID(THERAPIST),
        )
    week = await page(
        await site.get(
            f"/c/{CLINIC}/book", params={"treatment": TREATMENT, "therapist": THERAPIST, "week": "2027-03-23"}
        )
    )
    assert "Saturday 27 March 2027 (UK time, GMT)</h2>" in week and "Monday 29 March 2027 (UK time, BST)</h2>" in week
    sunday = week[week.index("Sunday 28 March 2027") : week.index("Monday 29 March 2027")]
    times = re.findall(r'class="button button--secondary slot" name="slot" value="[^"]+"[^>]*>(\d\d:\d\d)<', sunday)
    assert times and not any(t.startswith("01:") for t in times), times  # 01:00-01:59 does not exist that night
    # Every time is described by its own day's heading, which names the zone (GMT or BST) that day.
    described = 0
    for day in week.split('<li class="day">')[1:]:
        heading_id, heading = re.search(r'<h2 class="h3" id="([^"]+)">([^<]+)</h2>', day).groups()
        assert heading.endswith(("(UK time, GMT)", "(UK time, BST)")), heading
        buttons = re.findall(r'<button class="button button--secondary slot"[^>]*>', day)
        assert all(f'aria-describedby="{heading_id}"' in b for b in buttons), (heading, buttons[:2])
        described += len(buttons)
    assert described == week.count('name="slot"') > len(times)


async def test_a_hold_that_runs_out_while_the_customer_types_is_told_in_words(site, booking_pool):
    screening = await hold_first_slot(site)
    details = await page(await site.post(f"/c/{CLINIC}/book/screening", data={"csrf": csrf_of(screening), **ALL_CLEAR}))
    async with booking_pool.acquire() as conn:  # the ten minutes pass while they type
        await conn.execute("UPDATE bookings SET expires_at = now() - interval '1 second'")
    back = await page(await post_details(site, details))
    assert "The time we were holding for you ran out" in back and "Choose a time" in back
    _, fields = await choose_a_slot(site)  # and the same time can be chosen again
    assert "Before your treatment" in await page(await site.post(f"/c/{CLINIC}/book/hold", data=fields))


async def test_a_voucher_pays_part_and_the_test_card_the_rest(site, checkout, payments_pool, settings):
    from tests.support.vouchers import buy_voucher

    _, code = await buy_voucher(site, checkout, payments_pool, settings, amount={"amount": 2500, "currency": "GBP"})
    screening = await hold_first_slot(site)
    details = await page(await site.post(f"/c/{CLINIC}/book/screening", data={"csrf": csrf_of(screening), **ALL_CLEAR}))
    pay = await page(await post_details(site, details, voucher_code=code))
    assert "Gift voucher" in pay and "− £25.00" in pay and "Pay £40.00" in pay
    await page(await site.post(f"/c/{CLINIC}/book/pay", data={"csrf": csrf_of(pay), "card": "visa"}))
    await checkout.reconcile()
    confirmed = await page(await site.get(f"/c/{CLINIC}/book/confirming"))
    assert "Booking confirmed" in confirmed
    assert f"Your gift voucher …{code[-4:]} paid £25.00; nothing is left on it." in confirmed


async def test_a_declined_card_is_said_in_words_and_nothing_is_confirmed(site, booking_pool):
    screening = await hold_first_slot(site)
    details = await page(await site.post(f"/c/{CLINIC}/book/screening", data={"csrf": csrf_of(screening), **ALL_CLEAR}))
    pay = await page(await post_details(site, details))
    declined = await page(
        await site.post(f"/c/{CLINIC}/book/pay", data={"csrf": csrf_of(pay), "card": "declined"}), 400
    )
    assert "Your card was declined. Nothing was charged." in declined and 'href="#card"' in declined
    # (Real Stripe lets the customer try another card on the same payment; the offline fake cannot, and says so.)
    again = await page(await site.post(f"/c/{CLINIC}/book/pay", data={"csrf": csrf_of(declined), "card": "visa"}), 400)
    assert "Nothing was charged" in again
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT status FROM bookings WHERE customer_email IS NOT NULL") == "pending_payment"


async def test_a_course_books_all_its_sessions_in_one_go_listed_with_dates(site, checkout, booking_pool):
    from tests.support.booking import COURSE

    week = await page(
        await site.get(
            f"/c/{CLINIC}/book",
            params={"course": COURSE, "therapist": THERAPIST, "week": next_weekday(0, weeks_ahead=5).isoformat()},
        )
    )
    assert "Choose the first session; we plan the other 5" in week
    fields = week_form(week)
    assert fields["course"] == COURSE
    screening = await page(await site.post(f"/c/{CLINIC}/book/hold", data=fields))
    assert "We are holding these times for you" in screening
    assert len(re.findall(r"<li>\w+day \d+ \w+ 20\d\d, \d\d:\d\d \(UK time, GMT\)</li>", screening)) == 6
    details = await page(await site.post(f"/c/{CLINIC}/book/screening", data={"csrf": csrf_of(screening), **ALL_CLEAR}))
    pay = await page(await post_details(site, details))
    assert "£345.00" in pay
    await page(await site.post(f"/c/{CLINIC}/book/pay", data={"csrf": csrf_of(pay), "card": "visa"}))
    await checkout.reconcile()
    confirmed = await page(await site.get(f"/c/{CLINIC}/book/confirming"))
    assert "Booking confirmed" in confirmed and len(re.findall(r"<li>\w+day \d+ \w+ 20\d\d", confirmed)) == 6
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM bookings WHERE status = 'confirmed'") == 6


def week_of(text: str) -> str:
    """The first day the week page shows (its hidden field)."""
    return re.search(r'name="week" value="(\d{4}-\d\d-\d\d)"', text).group(1)


async def test_first_available_finds_the_first_week_with_a_free_time(site, booking_pool):
    async with booking_pool.acquire() as conn:  # nothing may be booked for the next 20 days
        await conn.execute("UPDATE clinics SET min_notice_minutes = 20 * 24 * 60")
    query = {"treatment": TREATMENT, "therapist": THERAPIST}
    this_week = await page(await site.get(f"/c/{CLINIC}/book", params=query))
    assert "There are no free times this week." in this_week and "First available time" in this_week
    assert 'class="button button--secondary slot"' not in this_week
    first = await page(await site.get(f"/c/{CLINIC}/book", params={**query, "week": "first"}))
    shown = date.fromisoformat(week_of(first))
    assert shown >= date.today() + timedelta(days=19), shown
    before = await site.get(
        f"/api/v1/clinics/{CLINIC}/availability",
        params={**query, "from": date.today().isoformat(), "to": (shown - timedelta(days=1)).isoformat()},
    )
    assert (await before.json())["slots"] == [], "no day before the one shown has a free time"
    day = first[first.index('<h2 class="h3"') :]
    assert day.index('class="button button--secondary slot"') < day.index("</li>"), "its first day has a free time"


async def test_first_available_says_so_when_nothing_is_free_before_the_horizon(site, booking_pool):
    async with booking_pool.acquire() as conn:
        await conn.execute("UPDATE clinics SET min_notice_minutes = 40 * 24 * 60, booking_horizon_days = 30")
    text = await page(
        await site.get(f"/c/{CLINIC}/book", params={"treatment": TREATMENT, "therapist": THERAPIST, "week": "first"})
    )
    assert "There are no free times for this in the next 30 days. Please contact Urban Therapy Clinic" in text
    assert 'class="button button--secondary slot"' not in text
