"""The dashboard's therapists as a browser without JavaScript uses them, through the gateway: the owner adds a
therapist and sets their profile (qualifications one a line, the treatments they give) and working week, which
the public availability shows at once; the week's mistakes are put beside the inputs they are about; time off
over a booking is refused with the booking listed (linked to the diary), then saved when the owner confirms; a
photo upload (a PNG) is kept and shown, a text file or an oversized image is refused beside the input; the
calendar feed's address is shown once and can be revoked; staff read it all, add and remove time off, and have
no other forms; a form without the session's CSRF token changes nothing."""

from __future__ import annotations

import html
import io
import re
import struct
import uuid
import zlib
from datetime import timedelta

import aiohttp

from services.booking.seed import stable_id
from tests.support.booking import CLINIC, OTHER_THERAPIST, THERAPIST, TREATMENT, book, free_slots, next_weekday
from tests.support.dashboard import (  # noqa: F401  (dashboard, owner, receptionist: fixtures)
    STAFF_EMAIL,
    csrf_of,
    dashboard,
    owner,
    page,
    receptionist,
    signed_in,
)

THERAPISTS = "/clinic/therapists"
AMARA = f"{THERAPISTS}/{THERAPIST}"
TOM = f"{THERAPISTS}/{OTHER_THERAPIST}"
SWEDISH = str(stable_id(CLINIC, "treatment", "swedish-60"))
MYOFASCIAL = str(stable_id(CLINIC, "treatment", "myofascial-45"))


def png(width: int = 2, height: int = 2) -> bytes:
    """A real (tiny, grey) PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def forms_in(text: str) -> list[str]:
    """The actions of the page's forms, but the header's sign-out."""
    return [a for a in re.findall(r'<form[^>]*action="([^"]+)"', text) if a != "/clinic/sign-out"]


def week_inputs(text: str) -> dict[str, str]:
    """The week editor's inputs in a page, and their values."""
    found = {}
    for tag in re.findall(r"<input [^>]*>", text):
        name = re.search(r'name="([hb]\d_\d+_(?:start|end))"', tag)
        if name:
            found[name.group(1)] = re.search(r'value="([^"]*)"', tag).group(1)
    return found


def week_form(**days) -> dict:
    """The week editor's inputs: days as {weekday: ([(start, end) of hours], [(start, end) of breaks])}."""
    data = {}
    for weekday, (hours, breaks) in ((int(k[1:]), v) for k, v in days.items()):
        for kind, spans in (("h", hours), ("b", breaks)):
            for row, (start, end) in enumerate(spans):
                data[f"{kind}{weekday}_{row}_start"], data[f"{kind}{weekday}_{row}_end"] = start, end
    return data


async def week_of(pool, therapist: str) -> tuple[list, list]:
    async with pool.acquire() as conn:
        hours = await conn.fetch(
            "SELECT weekday, starts, ends FROM working_hours WHERE therapist_id = $1 ORDER BY 1, 2",
            uuid.UUID(therapist),
        )
        breaks = await conn.fetch(
            "SELECT weekday, starts, ends FROM breaks WHERE therapist_id = $1 ORDER BY 1, 2", uuid.UUID(therapist)
        )
    return [tuple(r.values()) for r in hours], [tuple(r.values()) for r in breaks]


async def time_off_of(pool, therapist: str = THERAPIST) -> list[tuple]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT lower(period) AS start, upper(period) AS end, reason FROM time_off WHERE therapist_id = $1 "
            "ORDER BY 1",
            uuid.UUID(therapist),
        )
    return [tuple(r.values()) for r in rows]


def feed_url(text: str) -> str:
    """The calendar feed's address, as the page shows it once."""
    return re.search(r'<textarea id="feed-url" class="feed-url"[^>]*readonly[^>]*>([^<]+)</textarea>', text).group(1)


def upload(csrf: str | None, name: str, content: bytes, content_type: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    if csrf is not None:
        form.add_field("csrf", csrf)
    form.add_field("photo", io.BytesIO(content), filename=name, content_type=content_type)
    return form


# --- the list, adding, the profile ---------------------------------------------------------------------------


async def test_the_owner_adds_a_therapist_sets_their_week_and_the_public_availability_shows_it(
    dashboard, owner, booking_pool
):
    await signed_in(dashboard)
    listed = await page(await dashboard.get(THERAPISTS))
    assert "Amara Okafor" in listed and "Tom Hughes" in listed and 'aria-current="page">Therapists</a>' in listed
    assert "Deep tissue massage (60 min), " in listed[listed.index("Amara Okafor") :][:600]
    added = await dashboard.post(
        THERAPISTS,
        data=[
            ("csrf", csrf_of(listed)),
            ("name", "Jo Park"),
            ("slug", ""),
            ("bio", "Sports massage."),
            ("credentials", "Level 4 Sports Massage\n\n  ITEC diploma  \n"),
            ("treatments", SWEDISH),
            ("treatments", MYOFASCIAL),
        ],
        allow_redirects=False,
    )
    assert added.status == 303, (added.status, await added.text())
    jo_page = added.headers["Location"].split("?")[0]
    jo = jo_page.rsplit("/", 1)[1]
    text = await page(await dashboard.get(added.headers["Location"]))
    assert "Jo Park added." in text and "Not working" in text
    assert "Level 4 Sports Massage\nITEC diploma</textarea>" in text, "one a line, blanks dropped"
    assert text.count("checked") == 2
    async with booking_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT slug, credentials FROM therapists WHERE id = $1", uuid.UUID(jo))
    assert (row["slug"], row["credentials"]) == ("jo-park", ["Level 4 Sports Massage", "ITEC diploma"])

    monday = next_weekday(0)
    assert await free_slots(dashboard, monday, therapist=jo, treatment=SWEDISH) == []
    editor = await page(await dashboard.get(f"{jo_page}/hours"))
    assert len(week_inputs(editor)) == 7 * 2 * 4, "each weekday: two working periods and two breaks"
    assert 'id="h0_0_start"' in editor and 'id="b6_1_end"' in editor
    saved = await dashboard.post(
        f"{jo_page}/hours",
        data={
            "csrf": csrf_of(editor),
            **week_form(d0=([("09:00", "12:00"), ("14:00", "17:00")], [("10:00", "10:30")])),
        },
        allow_redirects=False,
    )
    assert saved.status == 303, (saved.status, await saved.text())
    shown = await page(await dashboard.get(saved.headers["Location"]))
    assert "Jo Park's working week saved." in shown
    assert "09:00–12:00, 14:00–17:00" in shown and "10:00–10:30" in shown
    slots = await free_slots(dashboard, monday, therapist=jo, treatment=SWEDISH)
    starts = {s["start"][11:16] for s in slots}
    assert {"09:00", "10:30", "14:00", "16:00"} <= starts, starts  # inside the periods, after the break
    assert not {"09:30", "10:00", "11:30", "12:00", "13:00", "16:15"} & starts, starts  # over the break or an end
    again = await page(await dashboard.get(f"{jo_page}/hours"))
    assert week_inputs(again)["h0_1_start"] == "14:00", "the editor shows the week"


async def test_the_owner_changes_a_profile_and_the_api_s_refusals_go_beside_their_fields(
    dashboard, owner, booking_pool
):
    await signed_in(dashboard)
    text = await page(await dashboard.get(TOM))
    assert 'value="tom-hughes"' in text and "Level 5 Clinical Massage\nCPD in neuropathic pain</textarea>" in text
    csrf = csrf_of(text)
    profile = {"csrf": csrf, "name": "Tom Hughes", "slug": "amara-okafor", "bio": "Runners.", "credentials": ""}
    refused = await page(await dashboard.post(TOM, data=profile), 400)
    assert 'href="#slug"' in refused and "another therapist of this clinic has this slug" in refused
    assert 'value="amara-okafor"' in refused, "what was typed is kept"
    nameless = await page(await dashboard.post(TOM, data={**profile, "name": " ", "slug": "tom-hughes"}), 400)
    assert 'href="#name"' in nameless and "Enter the therapist's name" in nameless
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT slug FROM therapists WHERE id = $1", uuid.UUID(OTHER_THERAPIST)) == (
            "tom-hughes"
        )
    saved = await dashboard.post(
        TOM, data=[*{**profile, "slug": "tom-hughes"}.items(), ("treatments", TREATMENT)], allow_redirects=False
    )
    assert saved.status == 303
    assert "Tom Hughes saved." in await page(await dashboard.get(saved.headers["Location"]))
    async with booking_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT bio, credentials FROM therapists WHERE id = $1", uuid.UUID(OTHER_THERAPIST))
        gives = await conn.fetch(
            "SELECT treatment_id FROM therapist_treatments WHERE therapist_id = $1", uuid.UUID(OTHER_THERAPIST)
        )
    assert (row["bio"], row["credentials"], [str(g["treatment_id"]) for g in gives]) == ("Runners.", [], [TREATMENT])


# --- the week's mistakes ----------------------------------------------------------------------------------------


async def test_a_week_with_mistakes_is_shown_again_with_each_message_beside_its_input(dashboard, owner, booking_pool):
    await signed_in(dashboard)
    editor = await page(await dashboard.get(f"{AMARA}/hours"))
    assert week_inputs(editor)["h0_0_start"] == "09:00" and 'aria-describedby="h0_0_start-error"' not in editor
    before = await week_of(booking_pool, THERAPIST)
    csrf = csrf_of(editor)
    # The page's own: a time that is not one, a row with one time of two.
    mine = await page(
        await dashboard.post(
            f"{AMARA}/hours", data={"csrf": csrf, **week_form(d0=([("9 o'clock", "18:00")], [])), "h1_0_start": "10:00"}
        ),
        400,
    )
    assert 'href="#h0_0_start"' in mine and "Monday, working period 1: enter the start time like 09:00" in mine
    assert 'href="#h1_0_end"' in mine and "Tuesday, working period 1: enter the end time too" in mine
    assert 'value="9 o&#39;clock"' in html.escape(mine, quote=False) or 'value="9 o\'clock"' in mine
    # The API's: an end before its start, a break outside the day's hours, overlapping periods.
    theirs = await page(
        await dashboard.post(
            f"{AMARA}/hours",
            data={
                "csrf": csrf,
                **week_form(
                    d0=([("09:00", "08:00")], []),
                    d2=([("09:00", "13:00"), ("12:00", "18:00")], []),
                    d3=([("09:00", "17:00")], [("08:00", "08:30"), ("12:00", "12:30")]),
                ),
            },
        ),
        400,
    )
    assert 'href="#h0_0_end"' in theirs and "Monday, working period 1: must be after the start (09:00)" in theirs
    assert 'href="#h2_1_start"' in theirs and "Wednesday, working period 2: overlaps or meets" in theirs
    assert "(hours." not in theirs, "the API's own references are left out"
    assert 'href="#b3_0_start"' in theirs and "Thursday, break 1: must lie within Thursday's working hours" in theirs
    assert 'href="#b3_1_start"' not in theirs
    assert week_inputs(theirs)["b3_0_start"] == "08:00", "what was typed is kept"
    assert 'aria-describedby="b3_0_start-error"' in theirs
    assert await week_of(booking_pool, THERAPIST) == before


# --- bookings in the way ----------------------------------------------------------------------------------------


async def test_time_off_over_a_booking_lists_it_and_is_refused_until_the_owner_confirms(dashboard, owner, booking_pool):
    tuesday = next_weekday(1)
    booking = await book(dashboard, day=tuesday)
    await signed_in(dashboard)
    text = await page(await dashboard.get(AMARA))
    assert f"{AMARA}/time-off" in forms_in(text) and "UK time" in text
    before = await time_off_of(booking_pool)
    form = {"off_from_day": tuesday.isoformat(), "off_to_day": "", "off_from_time": "", "off_to_time": ""}
    refused = await page(
        await dashboard.post(f"{AMARA}/time-off", data={"csrf": csrf_of(text), **form, "off_reason": "Course"}), 409
    )
    assert "This time off would leave 1 booking outside Amara Okafor's working time" in refused
    assert "Nothing has been saved." in refused
    assert f'href="/clinic/bookings/{booking["id"]}"' in refused
    row = refused[refused.index(f"/clinic/bookings/{booking['id']}") :][:800]
    assert "09:00 (UK time, GMT) to 10:00" in row and "Deep tissue massage (60 min)" in row and "Ada Lovelace" in row
    assert "Awaiting payment" in row
    assert await time_off_of(booking_pool) == before, "refused: nothing saved"
    assert "I will move these bookings — save anyway" in refused
    confirm = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', refused))
    assert confirm["confirm"] == "yes" and confirm["off_from_day"] == tuesday.isoformat()
    saved = await dashboard.post(f"{AMARA}/time-off", data=confirm, allow_redirects=False)
    assert saved.status == 303, (saved.status, await saved.text())
    after = await page(await dashboard.get(saved.headers["Location"]))
    assert "Time off added for Amara Okafor." in after
    assert f"{tuesday:%A} {tuesday.day} {tuesday:%B %Y} (whole day)" in after and "Course" in after
    added = [t for t in await time_off_of(booking_pool) if t not in before]
    assert [(t[0].date(), t[1] - t[0], t[2]) for t in added] == [(tuesday, timedelta(days=1), "Course")]
    assert await free_slots(dashboard, tuesday) == [], "the day is off"


async def test_shorter_hours_over_a_booking_list_it_and_save_when_the_owner_confirms(dashboard, owner, booking_pool):
    tuesday = next_weekday(1)
    booking = await book(dashboard, day=tuesday)  # 09:00
    await signed_in(dashboard)
    editor = await page(await dashboard.get(f"{AMARA}/hours"))
    before = await week_of(booking_pool, THERAPIST)
    week = week_inputs(editor)
    week["h1_0_start"] = "12:00"
    refused = await page(await dashboard.post(f"{AMARA}/hours", data={"csrf": csrf_of(editor), **week}), 409)
    assert "These working hours would leave 1 booking" in refused and f"/clinic/bookings/{booking['id']}" in refused
    assert await week_of(booking_pool, THERAPIST) == before
    confirm = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', refused))
    assert confirm["h1_0_start"] == "12:00" and confirm["confirm"] == "yes"
    saved = await dashboard.post(f"{AMARA}/hours", data=confirm, allow_redirects=False)
    assert saved.status == 303, await saved.text()
    hours, _ = await week_of(booking_pool, THERAPIST)
    assert [(str(h[1]), str(h[2])) for h in hours if h[0] == 1] == [("12:00:00", "18:00:00")]


async def test_time_off_with_times_is_in_the_clinic_s_zone_across_the_change_of_the_clocks(
    dashboard, owner, booking_pool
):
    await signed_in(dashboard)
    csrf = csrf_of(await page(await dashboard.get(AMARA)))
    before = await time_off_of(booking_pool)
    # 28 March 2027: the clocks go forward at 01:00 GMT. 00:30 GMT to 12:00 BST is 10.5 hours.
    form = {"off_from_day": "2027-03-28", "off_from_time": "00:30", "off_to_day": "", "off_to_time": "12:00"}
    saved = await dashboard.post(f"{AMARA}/time-off", data={"csrf": csrf, **form}, allow_redirects=False)
    assert saved.status == 303, await saved.text()
    added = [t for t in await time_off_of(booking_pool) if t not in before]
    assert [(t[0].isoformat(), t[1].isoformat()) for t in added] == [
        ("2027-03-28T00:30:00+00:00", "2027-03-28T11:00:00+00:00")
    ]
    text = await page(await dashboard.get(AMARA))
    assert "Sunday 28 March 2027, 00:30 (UK time, GMT) to Sunday 28 March 2027, 12:00 (UK time, BST)" in text
    # A time the clocks skip is explained; an end before the start too; nothing saved.
    skipped = await page(
        await dashboard.post(
            f"{AMARA}/time-off", data={"csrf": csrf, **form, "off_from_time": "01:30", "off_to_time": "03:00"}
        ),
        400,
    )
    assert 'href="#off_from_time"' in skipped and "01:30 does not happen on 28 March 2027 in UK time" in skipped
    backwards = await page(
        await dashboard.post(
            f"{AMARA}/time-off", data={"csrf": csrf, **form, "off_from_time": "15:00", "off_to_time": "12:00"}
        ),
        400,
    )
    assert 'href="#off_to_time"' in backwards and "must end after it starts" in backwards
    missing = await page(await dashboard.post(f"{AMARA}/time-off", data={"csrf": csrf}), 400)
    assert 'href="#off_from_day"' in missing and "Enter the first day" in missing
    assert len(await time_off_of(booking_pool)) == len(before) + 1

    # Removing it.
    text = await page(await dashboard.get(AMARA))
    remove = next(a for a in forms_in(text) if a.endswith("/remove") and "/time-off/" in a)
    listed_before = len(await time_off_of(booking_pool))
    removed = await dashboard.post(remove, data={"csrf": csrf}, allow_redirects=False)
    assert removed.status == 303 and len(await time_off_of(booking_pool)) == listed_before - 1
    assert "Time off removed." in await page(await dashboard.get(removed.headers["Location"]))


# --- the photo --------------------------------------------------------------------------------------------------


async def test_a_png_photo_is_kept_and_shown_and_a_text_file_or_a_large_one_is_refused_beside_the_input(
    dashboard, owner, booking_pool
):
    await signed_in(dashboard)
    text = await page(await dashboard.get(AMARA))
    assert 'enctype="multipart/form-data"' in text and "No photo yet." in text
    csrf = csrf_of(text)
    image = png()
    resp = await dashboard.post(
        f"{AMARA}/photo", data=upload(csrf, "amara.png", image, "image/png"), allow_redirects=False
    )
    assert resp.status == 303, (resp.status, await resp.text())
    shown = await page(await dashboard.get(resp.headers["Location"]))
    assert "Amara Okafor's photo saved." in shown
    src = re.search(r'<img class="therapist-photo" src="([^"]+)" alt="Photo of Amara Okafor"', shown).group(1)
    served = await dashboard.get(src)
    assert served.status == 200 and served.content_type == "image/png" and await served.read() == image

    for name, content, kind, message in (
        ("notes.txt", b"just some text, not an image", "image/png", "The photo must be a JPEG, PNG or WebP image"),
        (
            "huge.png",
            image + b"\0" * (2 * 1024 * 1024),
            "image/png",
            "The photo is too large: choose a smaller one, or save it smaller first. A photo may be at most 2 MB",
        ),
        ("", b"", "application/octet-stream", "Choose a photo to upload"),
    ):
        refused = await page(await dashboard.post(f"{AMARA}/photo", data=upload(csrf, name, content, kind)), 400)
        assert 'href="#photo"' in refused and message in refused, name
        assert 'aria-describedby="photo-hint photo-error"' in refused
    assert await (await dashboard.get(src)).read() == image, "the photo kept is the PNG"

    no_token = await page(
        await dashboard.post(f"{AMARA}/photo", data=upload(None, "x.png", png(3, 3), "image/png")), 403
    )
    assert "This form has expired" in no_token
    for headers in ({"Content-Type": "multipart/form-data"}, {"Content-Type": "multipart/form-data; boundary=x"}):
        broken = await dashboard.post(f"{AMARA}/photo", data=b"--y\r\nnot a part", headers=headers)
        assert "This form has expired" in await page(broken, 403), "not a form a browser sends: refused, no error"
    assert await (await dashboard.get(src)).read() == image

    removed = await dashboard.post(f"{AMARA}/photo/remove", data={"csrf": csrf}, allow_redirects=False)
    assert "Amara Okafor's photo removed." in await page(await dashboard.get(removed.headers["Location"]))
    async with booking_pool.acquire() as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM therapist_photos WHERE therapist_id = $1", uuid.UUID(THERAPIST))
            == 0
        )


# --- the calendar feed ------------------------------------------------------------------------------------------


async def test_the_calendar_feed_address_is_shown_once_and_can_be_replaced_and_revoked(dashboard, owner):
    await signed_in(dashboard)
    text = await page(await dashboard.get(AMARA))
    assert "Make a calendar feed address" in text
    made = await page(await dashboard.post(f"{AMARA}/calendar-feed", data={"csrf": csrf_of(text)}))
    url = feed_url(made)
    assert url.endswith(".ics") and "/api/v1/calendar/" in url and "Copy this address now" in made
    path = url[url.index("/api/v1/calendar/") :]
    feed = await dashboard.get(path)
    assert feed.status == 200 and feed.content_type == "text/calendar"
    state = await page(await dashboard.get(AMARA))
    assert url not in state and "Replace the address" in state and "Turn off the feed" in state
    assert "(UK time, " in state[state.index("Made") :][:300]
    replaced = await page(await dashboard.post(f"{AMARA}/calendar-feed", data={"csrf": csrf_of(text)}))
    new_url = feed_url(replaced)
    assert new_url != url and (await dashboard.get(path)).status == 404, "the old address stops working"
    revoked = await dashboard.post(f"{AMARA}/calendar-feed/revoke", data={"csrf": csrf_of(text)}, allow_redirects=False)
    assert "calendar feed is turned off" in await page(await dashboard.get(revoked.headers["Location"]))
    assert (await dashboard.get(new_url[new_url.index("/api/v1/calendar/") :])).status == 404


# --- staff, CSRF, another clinic --------------------------------------------------------------------------------


async def test_staff_read_therapists_and_add_time_off_but_not_over_bookings_and_have_no_other_forms(
    dashboard, owner, receptionist, booking_pool
):
    tuesday = next_weekday(1)
    booking = await book(dashboard, day=tuesday)
    await signed_in(dashboard, STAFF_EMAIL)
    listed = await page(await dashboard.get(THERAPISTS))
    assert "Amara Okafor" in listed and forms_in(listed) == [] and "Add a therapist" not in listed
    text = await page(await dashboard.get(AMARA))
    assert "GCMT registration" in text and "09:00–18:00" in text and "Calendar feed" not in text
    assert [a for a in forms_in(text) if not a.endswith("/remove")] == [f"{AMARA}/time-off"], "time off only"
    await page(await dashboard.get(f"{AMARA}/hours"), 403)
    csrf = csrf_of(text)
    before_week, before_off = await week_of(booking_pool, THERAPIST), await time_off_of(booking_pool)
    refusals = (
        (THERAPISTS, {"name": "Eve"}),
        (AMARA, {"name": "Eve", "bio": ""}),
        (f"{AMARA}/hours", week_form(d0=([("10:00", "11:00")], []))),
        (f"{AMARA}/calendar-feed", {}),
        (f"{AMARA}/delete", {"confirm": "yes"}),
    )
    for path, data in refusals:
        assert "You cannot use this page" in await page(await dashboard.post(path, data={**data, "csrf": csrf}), 403)

    over = {"csrf": csrf, "off_from_day": tuesday.isoformat(), "confirm": "yes"}  # confirm: not theirs to give
    refused = await page(await dashboard.post(f"{AMARA}/time-off", data=over), 409)
    assert f"/clinic/bookings/{booking['id']}" in refused and "save anyway" not in refused
    assert "Only the clinic's owner can save it over bookings" in refused
    assert (await week_of(booking_pool, THERAPIST), await time_off_of(booking_pool)) == (before_week, before_off)

    later = tuesday + timedelta(days=14)
    added = await dashboard.post(
        f"{AMARA}/time-off", data={"csrf": csrf, "off_from_day": later.isoformat()}, allow_redirects=False
    )
    assert added.status == 303, await added.text()
    assert len(await time_off_of(booking_pool)) == len(before_off) + 1
    text = await page(await dashboard.get(added.headers["Location"]))
    remove = [a for a in forms_in(text) if a.endswith("/remove")]
    assert remove
    for action in remove:
        assert (await dashboard.post(action, data={"csrf": csrf}, allow_redirects=False)).status == 303
    assert await time_off_of(booking_pool) == []


async def test_forms_without_the_session_s_csrf_token_are_refused_and_change_nothing(dashboard, owner, booking_pool):
    await signed_in(dashboard)
    before = (await week_of(booking_pool, THERAPIST), await time_off_of(booking_pool))
    tuesday = next_weekday(1)
    for token in (None, "", "forged"):
        extra = {} if token is None else {"csrf": token}
        for path, data in (
            (f"{AMARA}/hours", week_form(d0=([("10:00", "11:00")], []))),
            (f"{AMARA}/time-off", {"off_from_day": tuesday.isoformat()}),
            (AMARA, {"name": "Mallory"}),
            (THERAPISTS, {"name": "Mallory"}),
        ):
            assert "This form has expired" in await page(await dashboard.post(path, data={**data, **extra}), 403)
    assert (await week_of(booking_pool, THERAPIST), await time_off_of(booking_pool)) == before


async def test_another_clinic_s_therapist_is_not_found(dashboard, owner):
    await signed_in(dashboard)
    priya = stable_id("spinecare", "therapist", "priya-shah")
    text = await page(await dashboard.get(f"{THERAPISTS}/{priya}"), 404)
    assert "Priya Shah" not in text
    await page(await dashboard.get(f"{THERAPISTS}/{priya}/hours"), 404)
    csrf = csrf_of(text)
    await page(
        await dashboard.post(f"{THERAPISTS}/{priya}/time-off", data={"csrf": csrf, "off_from_day": "2027-01-05"}), 404
    )
