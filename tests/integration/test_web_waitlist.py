"""The waitlist's pages as a browser without JavaScript uses them, through the gateway: the link under the week's times,
the join form (its errors, what was typed kept), the confirmation; an offer's emailed link into the booking flow with
the time held for the customer (and a page saying so once the offer has ended); leaving from the emails' link; and the
dashboard's Waitlist page (staff and owner) with its Remove buttons, another clinic's entries neither shown nor
removable. The matcher (services/booking/waitlist.py) is driven by calling it, as its background task would."""

from __future__ import annotations

import html
import json
import re
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from services.booking import service
from services.booking.seed import stable_id
from services.booking.unit_of_work import PostgresUnitOfWork
from services.booking.waitlist import Links, offer_freed_times
from tests.support.booking import ALL_CLEAR, CLINIC, COURSE, OTHER_THERAPIST, THERAPIST, TREATMENT, next_weekday
from tests.support.dashboard import (  # noqa: F401  (dashboard, owner, receptionist: fixtures)
    STAFF_EMAIL,
    add_account,
    csrf_of,
    dashboard,
    make_site,
    owner,
    page,
    receptionist,
    signed_in,
)

ADA = {"name": "Ada Lovelace", "email": "ada@example.com"}
TUESDAY = next_weekday(1).weekday()  # 1: the wishes below match Amara's Tuesday mornings
ANSWERS = {q: "yes" if v else "no" for q, v in ALL_CLEAR.items()}
LONDON = ZoneInfo("Europe/London")


async def customer_page(resp, status: int = 200) -> str:
    """The page's HTML, its entities and runs of white space (the templates' line breaks) each made one."""
    text = await resp.text()
    assert resp.status == status, (resp.status, text[:3000])
    assert resp.content_type == "text/html"
    return re.sub(r"\s+", " ", html.unescape(text))


async def join_form(site, therapist: str = THERAPIST) -> str:
    return await customer_page(
        await site.get(f"/c/{CLINIC}/book/waitlist", params={"treatment": TREATMENT, "therapist": therapist})
    )


async def join(site, status: int = 200, **fields) -> str:
    """The join form sent: Ada, for Amara on Tuesday mornings, unless `fields` say otherwise (lists: boxes ticked)."""
    return await customer_page(
        await site.post(f"/c/{CLINIC}/book/waitlist", data=await join_fields(site, **fields)), status
    )


async def join_fields(site, **fields) -> list[tuple[str, str]]:
    """What the join form sends (see `join`)."""
    form = await join_form(site)
    data = {
        "csrf": csrf_of(form),
        "treatment": TREATMENT,
        "therapist": THERAPIST,
        "weekdays": [str(TUESDAY)],
        "times_of_day": ["morning"],
        **ADA,
        **fields,
    }
    return [(k, v) for k, values in data.items() for v in (values if isinstance(values, list) else [values])]


async def entries(booking_pool) -> list[dict]:
    async with booking_pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM waitlist_entries ORDER BY created_at")
    return [dict(r) for r in rows]


async def events(booking_pool, kind: str) -> list[dict]:
    """The data of the booking service's outbox events of this type, oldest first."""
    async with booking_pool.acquire() as conn:
        rows = await conn.fetch("SELECT envelope FROM outbox ORDER BY seq")
    found = []
    for row in rows:
        envelope = json.loads(row["envelope"]) if isinstance(row["envelope"], str) else row["envelope"]
        if envelope.get("type") == kind:
            found.append(envelope["data"])
    return found


def local(url: str) -> str:
    """An emailed link's path and query, to follow through the test's gateway."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def offered(booking_pool, settings, email: str = ADA["email"]) -> dict:
    """The matcher run once (as its background task does): the offer made to `email`, as its email's event says."""
    await offer_freed_times(
        booking_pool, datetime.now(timezone.utc), Links(settings.public_url, settings.manage_link_key)
    )
    [offer] = [o for o in await events(booking_pool, "waitlist.offered") if o["customer"]["email"] == email]
    return offer


async def offer_row(booking_pool, offer_id: str):
    async with booking_pool.acquire() as conn:
        return await conn.fetchrow(
            """SELECT o.status, o.booking_id, b.status AS hold_status, e.status AS entry_status
               FROM waitlist_offers o JOIN bookings b ON b.id = o.booking_id JOIN waitlist_entries e ON e.id = o.entry_id
               WHERE o.id = $1""",
            uuid.UUID(offer_id),
        )


# --- joining ----------------------------------------------------------------------------------------------------


async def test_the_week_of_times_links_to_the_waitlist_for_its_treatment_and_therapist(dashboard):
    week = await customer_page(
        await dashboard.get(
            f"/c/{CLINIC}/book",
            params={"treatment": TREATMENT, "therapist": THERAPIST, "week": next_weekday(1).isoformat()},
        )
    )
    assert "None of these times suit you?" in week
    link = re.search(r'<a href="(/c/urban-therapy/book/waitlist\?[^"]+)">Join the waitlist</a>', week).group(1)
    assert parse_qs(urlsplit(link).query) == {"treatment": [TREATMENT], "therapist": [THERAPIST]}
    course = await customer_page(
        await dashboard.get(f"/c/{CLINIC}/book", params={"course": COURSE, "therapist": "any"})
    )
    assert "Choose a time" in course and "Join the waitlist" not in course, "an offer holds one time, not a course"

    form = await customer_page(await dashboard.get(link))
    assert (
        "<h1>Join the waitlist</h1>" in form and "Deep tissue massage (60 min) at Urban Therapy Clinic, London" in form
    )
    assert "hold it for you for 30 minutes" in form, "the clinic's waitlist_offer_minutes"
    assert re.search(rf'name="therapist" type="radio" value="{THERAPIST}" checked', form), "the week's therapist"
    assert f'value="{OTHER_THERAPIST}"' in form and 'value="any"' in form and "No preference" in form
    for day in ("Monday", "Sunday"):
        assert re.search(rf'name="weekdays" type="checkbox" value="\d"[^>]*>\s*<label[^>]*>{day}</label>', form), day
    assert 'name="times_of_day" type="checkbox" value="evening"' in form and "From 17:00" in form
    assert "Times are UK time." in form and 'autocomplete="email"' in form
    anyone = await customer_page(
        await dashboard.get(f"/c/{CLINIC}/book/waitlist", params={"treatment": TREATMENT, "therapist": "any"})
    )
    assert re.search(r'name="therapist" type="radio" value="any" checked', anyone)
    unknown = await dashboard.get(
        f"/c/{CLINIC}/book/waitlist", params={"treatment": str(stable_id("x"))}, allow_redirects=False
    )
    assert unknown.status == 303 and unknown.headers["Location"] == f"/c/{CLINIC}/book"


async def test_joining_puts_the_customer_on_the_waitlist_and_says_what_happens_next(dashboard, booking_pool):
    done = await join(dashboard, weekdays=[str(TUESDAY), "3"], times_of_day=["morning", "evening"])
    assert "You're on the waitlist" in done
    for said in (
        "Deep tissue massage (60 min)",
        "Amara Okafor",
        "Tuesdays or Thursdays, mornings (before 12:00) or evenings (from 17:00)",
        "we'll email you at ada@example.com",
        "for 30 minutes",
        "You can leave the waitlist at any time, from the link in our emails.",
    ):
        assert said in done, said
    [entry] = await entries(booking_pool)
    assert str(entry["therapist_id"]) == THERAPIST and str(entry["treatment_id"]) == TREATMENT
    assert list(entry["weekdays"]) == [TUESDAY, 3] and list(entry["times_of_day"]) == ["morning", "evening"]
    assert (entry["customer_name"], entry["customer_email"], entry["status"]) == (*ADA.values(), "waiting")
    [joined] = await events(booking_pool, "waitlist.joined")
    assert joined["entry_id"] == str(entry["id"])

    anyone = await join(dashboard, therapist="any", weekdays=[], times_of_day=[], email="bo@example.com")
    assert "Any therapist" in anyone and "Any day, any time of day" in anyone
    assert [e["therapist_id"] for e in await entries(booking_pool)][1] is None


async def test_a_form_with_mistakes_is_shown_again_with_each_field_s_error_and_what_was_typed(dashboard, booking_pool):
    text = await join(
        dashboard, 400, name="", email="not an email", weekdays=["2", "9"], times_of_day=["evening"], therapist="x"
    )
    assert text.startswith("<!doctype html>") and "<title>Error: Join the waitlist" in text
    assert "There is a problem" in text
    for field in ("name", "email", "weekdays", "therapist"):
        assert f'href="#{field}"' in text, field
    assert "Enter your full name" in text and "Enter an email address like name@example.com" in text
    assert 'value="not an email"' in text, "what was typed is kept"
    assert re.search(r'name="weekdays" type="checkbox" value="2" checked', text), "the boxes ticked, kept"
    assert re.search(r'name="times_of_day" type="checkbox" value="evening" checked', text)
    assert not re.search(r'name="times_of_day" type="checkbox" value="morning" checked', text)
    forged = await dashboard.post(
        f"/c/{CLINIC}/book/waitlist", data={"csrf": "forged", "treatment": TREATMENT, "therapist": "any", **ADA}
    )
    assert forged.status == 403
    assert await entries(booking_pool) == [], "nothing stored"


async def test_only_the_treatment_s_therapists_are_offered_and_another_is_refused(dashboard, booking_pool):
    # Tom does not give Swedish massage: the page offers only those who do, and a forged choice of him is refused.
    swedish = str(stable_id(CLINIC, "treatment", "swedish-60"))
    form = await customer_page(await dashboard.get(f"/c/{CLINIC}/book/waitlist", params={"treatment": swedish}))
    assert f'value="{THERAPIST}"' in form and f'value="{OTHER_THERAPIST}"' not in form
    data = {"csrf": csrf_of(form), "treatment": swedish, "therapist": OTHER_THERAPIST, **ADA}
    refused = await customer_page(await dashboard.post(f"/c/{CLINIC}/book/waitlist", data=data), 400)
    assert 'href="#therapist"' in refused and "Choose a therapist, or no preference" in refused
    assert await entries(booking_pool) == []


async def test_the_api_s_refusal_is_put_beside_its_field_and_what_was_typed_kept(dashboard, booking_pool):
    # Ada already waits for as many times as one address may at one clinic: the API refuses another, in words.
    async with booking_pool.acquire() as conn:
        for _ in range(20):
            await conn.execute(
                """INSERT INTO waitlist_entries (id, clinic_id, treatment_id, customer_name, customer_email)
                   VALUES ($1, $2, $3, 'Ada Lovelace', 'ada@example.com')""",
                uuid.uuid4(),
                stable_id(CLINIC),
                uuid.UUID(TREATMENT),
            )
    refused = await join(dashboard, 400, weekdays=["3"])
    assert 'href="#email"' in refused and "You are already waiting for 20 times at this clinic" in refused
    assert 'value="ada@example.com"' in refused and re.search(r'value="3" checked', refused)
    assert len(await entries(booking_pool)) == 20


async def test_joining_from_the_page_counts_against_the_hold_limit(
    linked, booking_server, payments_server, aiohttp_server, aiohttp_client, booking_pool
):
    _, settings = linked
    site = await make_site(settings, aiohttp_server, aiohttp_client, rate_limit_holds_per_ip=2)
    statuses = [
        (await site.post(f"/c/{CLINIC}/book/waitlist", data=await join_fields(site, email=f"c{n}@example.com"))).status
        for n in range(3)
    ]
    assert statuses == [200, 200, 429]
    assert len(await entries(booking_pool)) == 2


# --- an offer's link ------------------------------------------------------------------------------------------


async def test_an_offer_s_link_starts_the_booking_flow_with_the_time_held_for_the_customer(
    dashboard, booking_pool, settings, checkout
):
    await join(dashboard)
    offer = await offered(booking_pool, settings)
    link = local(offer["offer_url"])
    assert link.startswith(f"/c/{CLINIC}/book/offer/{offer['offer_id']}?token=")

    browser = dashboard  # the customer's browser, from the email
    browser.session.cookie_jar.clear()
    went = await browser.get(link, allow_redirects=False)
    assert went.status == 303 and went.headers["Location"] == f"/c/{CLINIC}/book/screening", "the token left behind"
    assert went.headers["Referrer-Policy"] == "no-referrer"
    screening = await customer_page(await browser.get(went.headers["Location"]))
    assert "Before your treatment" in screening and "We are holding this time for you until" in screening
    start = datetime.fromisoformat(offer["start"]).astimezone(LONDON)
    assert f"{start:%A} {start.day} {start:%B %Y}, {start:%H:%M} (UK time, " in screening, "the offered time"
    expires = datetime.fromisoformat(offer["expires_at"]).astimezone(LONDON)
    assert f"<strong>{expires:%H:%M} (UK time, {expires:%Z})</strong>" in screening, "held until the offer's end"

    # The link opened again (a second click in the email): the same held time, not let go.
    again = await browser.get(link, allow_redirects=False)
    assert again.status == 303
    row = await offer_row(booking_pool, offer["offer_id"])
    assert (row["status"], row["hold_status"]) == ("open", "held")

    # On through the flow: the booking is made from the offer's hold.
    screening = await customer_page(await browser.get(f"/c/{CLINIC}/book/screening"))
    details = await customer_page(
        await browser.post(f"/c/{CLINIC}/book/screening", data={"csrf": csrf_of(screening), **ANSWERS})
    )
    pay = await customer_page(
        await browser.post(
            f"/c/{CLINIC}/book/details",
            data={"csrf": csrf_of(details), **ANSWERS, **ADA, "policy": "yes"},
        )
    )
    assert "Test mode." in pay
    row = await offer_row(booking_pool, offer["offer_id"])
    assert (row["status"], row["entry_status"]) == ("taken", "booked")
    async with booking_pool.acquire() as conn:
        booked = await conn.fetchrow("SELECT id, customer_email FROM bookings WHERE id = $1", row["booking_id"])
    assert booked["customer_email"] == ADA["email"], "the held time itself was booked"


async def test_an_offer_that_has_ended_is_a_page_saying_so_and_a_bad_link_is_not_valid(
    dashboard, booking_pool, settings
):
    await join(dashboard)
    offer = await offered(booking_pool, settings)
    link = local(offer["offer_url"])
    bad = link.rsplit("token=", 1)[0] + "token=forged"
    for wrong in (bad, link.replace(f"/c/{CLINIC}/", "/c/spinecare/"), f"/c/{CLINIC}/book/offer/not-an-id?token=x"):
        refused = await customer_page(await dashboard.get(wrong, allow_redirects=False), 404)
        assert "This link is not valid" in refused or "Page not found" in refused, wrong
    assert (await offer_row(booking_pool, offer["offer_id"]))["status"] == "open"

    # The offer runs out: its hold lapses (as the hold sweep finds it), the link says so in words.
    hold_id = (await offer_row(booking_pool, offer["offer_id"]))["booking_id"]
    async with booking_pool.acquire() as conn:
        await conn.execute(
            "UPDATE waitlist_offers SET expires_at = now() - interval '1 minute' WHERE id = $1",
            uuid.UUID(offer["offer_id"]),
        )
        await conn.execute("UPDATE bookings SET expires_at = now() - interval '1 minute' WHERE id = $1", hold_id)
    await service.expire_lapsed(PostgresUnitOfWork(booking_pool))
    assert (await offer_row(booking_pool, offer["offer_id"]))["status"] == "lapsed"
    gone = await dashboard.get(link, allow_redirects=False)
    text = await customer_page(gone, 410)
    assert "This time is no longer held for you" in text and gone.headers["Cache-Control"] == "no-store"
    assert "This offer has run out" in text and "You are still on the waitlist." in text, "the API's words: why"
    assert f'href="/c/{CLINIC}/book' in text and "See the times you can book now" in text
    assert not any("booking_flow" in cookie for cookie in gone.headers.getall("Set-Cookie", [])), "no flow started"


# --- leaving ----------------------------------------------------------------------------------------------------


async def test_leaving_from_the_emails_link_withdraws_the_offer_and_lets_its_time_go(dashboard, booking_pool, settings):
    await join(dashboard)
    offer = await offered(booking_pool, settings)
    leave = local(offer["leave_url"])
    entry_id = offer["entry_id"]
    assert leave.startswith(f"/waitlist/{entry_id}/leave?token=")
    [joined] = await events(booking_pool, "waitlist.joined")
    assert local(joined["leave_url"]) == leave

    asked = await customer_page(await dashboard.get(leave))
    assert "<h1>Leave the waitlist?</h1>" in asked and "Leave the waitlist</button>" in asked
    token = parse_qs(urlsplit(leave).query)["token"][0]
    assert f'name="token" value="{token}"' in asked
    forged = await dashboard.post(f"/waitlist/{entry_id}/leave", data={"csrf": "forged", "token": token})
    assert forged.status == 403
    assert (await offer_row(booking_pool, offer["offer_id"]))["entry_status"] == "offered"

    wrong = await customer_page(
        await dashboard.post(f"/waitlist/{entry_id}/leave", data={"csrf": csrf_of(asked), "token": "forged"}), 404
    )
    assert "This link is not valid" in wrong
    left = await customer_page(
        await dashboard.post(f"/waitlist/{entry_id}/leave", data={"csrf": csrf_of(asked), "token": token})
    )
    assert "You have left the waitlist" in left
    row = await offer_row(booking_pool, offer["offer_id"])
    assert (row["entry_status"], row["status"]) == ("left", "withdrawn")
    assert row["hold_status"] != "held", "its time is free for the next person"
    again = await customer_page(
        await dashboard.post(f"/waitlist/{entry_id}/leave", data={"csrf": csrf_of(asked), "token": token})
    )
    assert "You have left the waitlist" in again, "twice is the same"
    gone = await customer_page(await dashboard.get(local(offer["offer_url"])), 410)
    assert "This time is no longer held for you" in gone and "This offer was withdrawn: you left the waitlist" in gone
    assert "This link is not valid" in await customer_page(await dashboard.get(f"/waitlist/{entry_id}/leave"), 404)


# --- the dashboard ----------------------------------------------------------------------------------------------


async def test_reception_sees_the_waitlist_oldest_first_and_removes_an_entry(
    dashboard, receptionist, booking_pool, settings
):
    await join(dashboard)  # Ada, for Amara: offered a time below
    await join(  # Sunday evenings: nobody works then, so Bo waits
        dashboard, therapist="any", weekdays=["6"], times_of_day=["evening"], name="Bo Chen", email="bo@example.com"
    )
    offer = await offered(booking_pool, settings)
    assert offer["customer"]["email"] == ADA["email"], "the first to join"

    dashboard.session.cookie_jar.clear()
    home = await signed_in(dashboard, STAFF_EMAIL)
    assert '<a href="/clinic/waitlist">Waitlist</a>' in home
    listed = await page(await dashboard.get("/clinic/waitlist"))
    assert '<a href="/clinic/waitlist" aria-current="page">Waitlist</a>' in listed and "<h1>Waitlist</h1>" in listed
    assert listed.index("Ada Lovelace") < listed.index("Bo Chen"), "oldest first"
    ada = listed[listed.index("Ada Lovelace") : listed.index("Bo Chen")]
    for said in (
        "ada@example.com",
        "Deep tissue massage (60 min)",
        "Amara Okafor",
        "Tuesdays, mornings (before 12:00)",
    ):
        assert said in ada, said
    start = datetime.fromisoformat(offer["start"]).astimezone(LONDON)
    assert "Offered a time" in ada and f"{start:%H:%M} (UK time, " in ada and "held for them until" in ada
    bo = listed[listed.index("Bo Chen") :]
    assert "Any therapist" in bo and "Sundays, evenings (from 17:00)" in bo and "Waiting" in bo

    ada_id = offer["entry_id"]
    assert f'action="/clinic/waitlist/{ada_id}/remove"' in listed
    removed = await dashboard.post(  # the question first (test_web_polish.py), then confirmed
        f"/clinic/waitlist/{ada_id}/remove", data={"csrf": csrf_of(listed), "confirm": "yes"}, allow_redirects=False
    )
    assert removed.status == 303 and removed.headers["Location"] == "/clinic/waitlist?done=removed"
    after = await page(await dashboard.get(removed.headers["Location"]))
    assert "Removed from the waitlist." in after
    row = await offer_row(booking_pool, offer["offer_id"])
    assert (row["entry_status"], row["status"]) == ("removed", "withdrawn") and row["hold_status"] != "held"
    assert f'action="/clinic/waitlist/{ada_id}/remove"' not in after, "no button once removed"
    forged = await dashboard.post(f"/clinic/waitlist/{ada_id}/remove", data={"csrf": "forged"})
    assert forged.status == 403


async def test_another_clinic_sees_none_of_the_waitlist_and_removes_nothing(dashboard, booking_pool):
    await join(dashboard)
    [entry] = await entries(booking_pool)
    await add_account(booking_pool, "sam@spinecare.example", "Sam Owner", "owner", clinic="spinecare")
    dashboard.session.cookie_jar.clear()
    home = await signed_in(dashboard, "sam@spinecare.example")
    listed = await page(await dashboard.get("/clinic/waitlist"))
    assert "Ada Lovelace" not in listed and "Nobody is on the waitlist." in listed
    refused = await dashboard.post(f"/clinic/waitlist/{entry['id']}/remove", data={"csrf": csrf_of(home)})
    assert refused.status == 404 and "Page not found" in await refused.text()
    assert [e["status"] for e in await entries(booking_pool)] == ["waiting"]
