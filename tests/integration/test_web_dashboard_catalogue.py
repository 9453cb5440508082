"""The dashboard's catalogue as a browser without JavaScript uses it, through the gateway: treatments and courses
listed in their order with their length, price and state; the owner adds one (seen on the public clinic page),
edits it, moves it up and down, hides it from booking and shows it again, deletes it (or, with bookings, has it
archived, and is told which) and restores it; a price typed wrong is explained and changes nothing; staff read
it all with no forms and are refused the owner's posts; a form without the session's CSRF token changes nothing."""

from __future__ import annotations

import re

from services.booking.seed import stable_id
from tests.support.booking import CLINIC, TREATMENT, book
from tests.support.dashboard import (  # noqa: F401  (dashboard, owner, receptionist: fixtures)
    STAFF_EMAIL,
    csrf_of,
    dashboard,
    owner,
    page,
    receptionist,
    signed_in,
)

CATALOGUE = "/clinic/catalogue"
CLINIC_ID = stable_id(CLINIC)
SWEDISH = str(stable_id(CLINIC, "treatment", "swedish-60"))
TRIGGER = str(stable_id(CLINIC, "treatment", "trigger-point-30"))
COURSE = str(stable_id(CLINIC, "course", "sciatica-course"))
HOT_STONES = {
    "name": "Hot stones massage (75 min)",
    "slug": "",
    "description": "Warm basalt stones and long strokes.",
    "duration": "75",
    "buffer_before": "5",
    "buffer_after": "15",
    "price": "82.50",
    "requires_screening": "yes",
}


async def treatments(pool) -> list[tuple]:
    """Urban Therapy's treatments as the database has them, in their order."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT id, name, price_amount, duration_minutes, bookable, archived_at IS NOT NULL AS archived
               FROM treatments WHERE clinic_id = $1 ORDER BY position, name""",
            CLINIC_ID,
        )
    return [tuple(r.values()) for r in rows]


def forms_in(text: str) -> list[str]:
    """The actions of the page's forms, but the header's sign-out."""
    return [a for a in re.findall(r'<form[^>]*action="([^"]+)"', text) if a != "/clinic/sign-out"]


def order_of(text: str, names: list[str]) -> list[str]:
    return sorted(names, key=text.index)


async def test_the_catalogue_lists_treatments_and_courses_in_order_with_length_price_and_state(dashboard, owner):
    await signed_in(dashboard)
    text = await page(await dashboard.get(CATALOGUE))
    assert "<h1>Catalogue</h1>" in text and 'aria-current="page">Catalogue</a>' in text
    names = [  # the seed's are all at the same place: by name
        "Deep tissue massage (60 min)",
        "Myofascial release (45 min)",
        "Swedish massage (60 min)",
        "Trigger point therapy (30 min)",
    ]
    assert order_of(text, names) == names
    row = text[text.index("Deep tissue massage (60 min)") :][:1500]
    assert "60 minutes" in row and "15 min free after" in row and "£65.00" in row and "Bookable" in row
    course = text[text.index("Sciatica course: 6 sessions") :][:1500]
    assert "6 × Deep tissue massage (60 min)" in course and "2 to 4 days apart" in course and "£345.00" in course
    assert f'href="{CATALOGUE}/treatments/new"' in text and f'href="{CATALOGUE}/courses/new"' in text
    assert f"{CATALOGUE}/treatments/{TREATMENT}/move" in forms_in(text)


async def test_the_owner_adds_a_treatment_and_the_public_clinic_page_shows_it(dashboard, owner, booking_pool):
    await signed_in(dashboard)
    form = await page(await dashboard.get(f"{CATALOGUE}/treatments/new"))
    assert "Add a treatment" in form and 'name="price"' in form and 'value="0"' in form, "buffers start at 0"
    resp = await dashboard.post(
        f"{CATALOGUE}/treatments", data={**HOT_STONES, "csrf": csrf_of(form)}, allow_redirects=False
    )
    assert resp.status == 303 and resp.headers["Location"].startswith(f"{CATALOGUE}?done=added&id="), (
        resp.status,
        await resp.text(),
    )
    listed = await page(await dashboard.get(resp.headers["Location"]))
    assert "Hot stones massage (75 min) added." in listed
    row = listed[listed.rindex("Hot stones massage (75 min)</a>") :][:1500]
    assert "75 minutes" in row and "£82.50" in row and "Bookable" in row
    made = [t for t in await treatments(booking_pool) if t[1] == HOT_STONES["name"]]
    assert [(t[2], t[3], t[4]) for t in made] == [(8250, 75, True)], "82.50 pounds is 8250 pence"
    # The customers' page (not viewed before by this web service, so nothing of it is kept yet) offers it.
    public = await page_of(dashboard, "/c/urban-therapy")
    assert "Hot stones massage (75 min)" in public and "75 minutes · £82.50" in public


async def page_of(site, path: str) -> str:
    resp = await site.get(path)
    text = await resp.text()
    assert resp.status == 200, (resp.status, text[:2000])
    import html

    return html.unescape(text)


async def test_a_price_typed_wrong_is_explained_kept_and_changes_nothing(dashboard, owner, booking_pool):
    await signed_in(dashboard)
    csrf = csrf_of(await page(await dashboard.get(f"{CATALOGUE}/treatments/new")))
    before = await treatments(booking_pool)
    for typed, message in (
        ("sixty five", "Enter the price in pounds and pence, like 65.00"),
        ("-5.00", "The price must be 0.00 (free) or more"),
        ("65.001", "Enter the price in pounds and pence, like 65.00"),
        ("0.20", "at least 0.50"),
        ("", "Enter the price in pounds, like 65.00"),
    ):
        resp = await dashboard.post(f"{CATALOGUE}/treatments", data={**HOT_STONES, "price": typed, "csrf": csrf})
        text = await page(resp, 400)
        assert "There is a problem" in text and 'href="#price"' in text and message in text, typed
        assert f'value="{typed}"' in text and 'value="Hot stones massage (75 min)"' in text, "what was typed is kept"
    # The API's own refusals go beside their fields too (here: a length it does not allow, a slug it refuses).
    refused = await dashboard.post(
        f"{CATALOGUE}/treatments",
        data={**HOT_STONES, "duration": "2", "slug": "Not A Slug", "csrf": csrf},
    )
    text = await page(refused, 400)
    assert 'href="#duration"' in text and "The length must be at least 5 minutes" in text
    assert 'href="#slug"' in text and "lower-case letters" in text
    assert await treatments(booking_pool) == before


async def test_the_owner_edits_a_treatment_s_price_and_the_list_shows_it(dashboard, owner, booking_pool):
    await signed_in(dashboard)
    form = await page(await dashboard.get(f"{CATALOGUE}/treatments/{SWEDISH}"))
    assert 'value="60.00"' in form and 'value="swedish-60"' in form and "checked" in form
    values = {
        "name": "Swedish massage (60 min)",
        "slug": "swedish-60",
        "description": "Long, flowing strokes.",
        "duration": "60",
        "buffer_before": "0",
        "buffer_after": "10",
        "price": "62",
        "csrf": csrf_of(form),
    }  # health questions unticked: a box not ticked is not sent
    resp = await dashboard.post(f"{CATALOGUE}/treatments/{SWEDISH}", data=values, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    listed = await page(await dashboard.get(resp.headers["Location"]))
    assert "Swedish massage (60 min) saved." in listed
    assert "£62.00" in listed[listed.index("Swedish massage (60 min)</a>") :][:800]
    async with booking_pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT price_amount, requires_screening, description FROM treatments WHERE id = $1",
            stable_id(CLINIC, "treatment", "swedish-60"),
        )
    assert tuple(row.values()) == (6200, False, "Long, flowing strokes.")


async def test_moving_a_treatment_up_and_down_changes_the_order_customers_see(dashboard, owner, booking_pool):
    await signed_in(dashboard)
    text = await page(await dashboard.get(CATALOGUE))
    csrf = csrf_of(text)
    deep, myofascial, swedish, trigger = [t[1] for t in await treatments(booking_pool)]
    assert swedish == "Swedish massage (60 min)" and trigger.startswith("Trigger")
    resp = await dashboard.post(
        f"{CATALOGUE}/treatments/{SWEDISH}/move", data={"csrf": csrf, "direction": "up"}, allow_redirects=False
    )
    assert resp.status == 303 and "done=moved" in resp.headers["Location"]
    assert "Swedish massage (60 min) moved." in await page(await dashboard.get(resp.headers["Location"]))
    await dashboard.post(f"{CATALOGUE}/treatments/{SWEDISH}/move", data={"csrf": csrf, "direction": "up"})
    await dashboard.post(f"{CATALOGUE}/treatments/{TREATMENT}/move", data={"csrf": csrf, "direction": "down"})
    now = [t[1] for t in await treatments(booking_pool)]
    assert now == [swedish, myofascial, deep, trigger]
    listed = await page(await dashboard.get(CATALOGUE))
    assert order_of(listed, now) == now
    public = await page_of(dashboard, "/c/urban-therapy")
    assert order_of(public, now) == now, "the booking pages list them in that order"
    # The first cannot move up (nor the last down): neither is offered, and a post of it changes nothing.
    assert f"{CATALOGUE}/treatments/{SWEDISH}/move" in forms_in(listed)
    assert 'Move down<span class="visually-hidden"> Swedish massage (60 min)' in listed
    assert 'Move up<span class="visually-hidden"> Swedish massage (60 min)' not in listed
    assert 'Move up<span class="visually-hidden"> Trigger point therapy (30 min)' in listed
    assert 'Move down<span class="visually-hidden"> Trigger point therapy (30 min)' not in listed
    await dashboard.post(f"{CATALOGUE}/treatments/{SWEDISH}/move", data={"csrf": csrf, "direction": "up"})
    await dashboard.post(f"{CATALOGUE}/treatments/{TRIGGER}/move", data={"csrf": csrf, "direction": "down"})
    assert [t[1] for t in await treatments(booking_pool)] == now


async def test_hiding_a_treatment_takes_it_off_the_booking_pages_and_showing_it_brings_it_back(
    dashboard, owner, booking_pool
):
    await signed_in(dashboard)
    csrf = csrf_of(await page(await dashboard.get(CATALOGUE)))
    resp = await dashboard.post(
        f"{CATALOGUE}/treatments/{TRIGGER}/visibility", data={"csrf": csrf, "bookable": "no"}, allow_redirects=False
    )
    listed = await page(await dashboard.get(resp.headers["Location"]))
    assert "Trigger point therapy (30 min) is hidden from booking" in listed
    assert "Hidden from booking" in listed[listed.index("Trigger point therapy (30 min)</a>") :][:800]
    assert "Show for booking" in listed
    assert "Trigger point therapy" not in await page_of(dashboard, "/c/urban-therapy")
    resp = await dashboard.post(
        f"{CATALOGUE}/treatments/{TRIGGER}/visibility", data={"csrf": csrf, "bookable": "yes"}, allow_redirects=False
    )
    assert "is offered for booking again" in await page(await dashboard.get(resp.headers["Location"]))
    assert [t[4] for t in await treatments(booking_pool) if t[1].startswith("Trigger")] == [True]


async def test_deleting_asks_first_then_deletes_one_without_bookings_and_archives_one_with_them(
    dashboard, owner, booking_pool
):
    await book(dashboard)  # a booking of deep tissue: that treatment must be kept
    await signed_in(dashboard)
    csrf = csrf_of(await page(await dashboard.get(CATALOGUE)))
    question = await page(await dashboard.post(f"{CATALOGUE}/treatments/{TRIGGER}/delete", data={"csrf": csrf}))
    assert "Delete Trigger point therapy (30 min)?" in question and "archived instead" in question
    assert len(await treatments(booking_pool)) == 4, "nothing yet"
    resp = await dashboard.post(
        f"{CATALOGUE}/treatments/{TRIGGER}/delete", data={"csrf": csrf, "confirm": "yes"}, allow_redirects=False
    )
    assert resp.status == 303
    listed = await page(await dashboard.get(resp.headers["Location"]))
    assert "The treatment was deleted." in listed and "Trigger point therapy" not in listed
    assert [t[1] for t in await treatments(booking_pool) if t[1].startswith("Trigger")] == []

    resp = await dashboard.post(
        f"{CATALOGUE}/treatments/{TREATMENT}/delete", data={"csrf": csrf, "confirm": "yes"}, allow_redirects=False
    )
    listed = await page(await dashboard.get(resp.headers["Location"]))
    assert "Deep tissue massage (60 min) was archived, not deleted, because it has bookings" in listed
    assert "Archived" in listed[listed.index("Deep tissue massage (60 min)</a>") :][:800]
    assert [t[5] for t in await treatments(booking_pool) if t[1].startswith("Deep")] == [True]
    assert "Deep tissue massage (60 min)" not in await page_of(dashboard, "/c/urban-therapy")

    resp = await dashboard.post(f"{CATALOGUE}/treatments/{TREATMENT}/restore", data={"csrf": csrf})
    assert "Deep tissue massage (60 min) is restored." in await page(resp)
    assert [t[5] for t in await treatments(booking_pool) if t[1].startswith("Deep")] == [False]


async def test_the_owner_adds_and_edits_a_course(dashboard, owner, booking_pool):
    await signed_in(dashboard)
    form = await page(await dashboard.get(f"{CATALOGUE}/courses/new"))
    assert '<select id="treatment" name="treatment"' in form and f'<option value="{SWEDISH}">' in form
    course = {
        "name": "Relax course: 4 sessions",
        "slug": "relax-4",
        "description": "",
        "treatment": SWEDISH,
        "sessions": "4",
        "min_days": "7",
        "max_days": "3",
        "price": "220",
        "csrf": csrf_of(form),
    }
    refused = await page(await dashboard.post(f"{CATALOGUE}/courses", data=course), 400)
    assert 'href="#max_days"' in refused and "must not be less than" in refused, "the API's spacing rule"
    assert f'<option value="{SWEDISH}" selected>' in refused
    resp = await dashboard.post(f"{CATALOGUE}/courses", data={**course, "max_days": "14"}, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    listed = await page(await dashboard.get(resp.headers["Location"]))
    assert "Relax course: 4 sessions added." in listed
    row = listed[listed.index("Relax course: 4 sessions</a>") :][:800]
    assert "4 × Swedish massage (60 min)" in row and "7 to 14 days apart" in row and "£220.00" in row
    async with booking_pool.acquire() as conn:
        made = await conn.fetchrow("SELECT id, price_amount, sessions FROM courses WHERE slug = 'relax-4'")
    assert (made["price_amount"], made["sessions"]) == (22000, 4)
    edit = await page(await dashboard.get(f"{CATALOGUE}/courses/{made['id']}"))
    assert "Swedish massage (60 min)" in edit and 'name="treatment"' not in edit, "a course keeps its treatment"
    changed = await dashboard.post(
        f"{CATALOGUE}/courses/{made['id']}",
        data={**course, "max_days": "14", "price": "200.00", "csrf": csrf_of(edit)},
        allow_redirects=False,
    )
    assert changed.status == 303, await changed.text()
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT price_amount FROM courses WHERE id = $1", made["id"]) == 20000


async def test_staff_read_the_catalogue_without_forms_and_are_refused_the_owner_s_posts(
    dashboard, owner, receptionist, booking_pool
):
    await signed_in(dashboard, STAFF_EMAIL)
    text = await page(await dashboard.get(CATALOGUE))
    assert "Deep tissue massage (60 min)" in text and "£65.00" in text and "Only the clinic's owner" in text
    assert forms_in(text) == [] and "Add a treatment" not in text
    one = await page(await dashboard.get(f"{CATALOGUE}/treatments/{TREATMENT}"))
    assert forms_in(one) == [] and "£65.00" in one and "15 minutes" in one
    course = await page(await dashboard.get(f"{CATALOGUE}/courses/{COURSE}"))
    assert forms_in(course) == [] and "2 to 4 days apart" in course
    await page(await dashboard.get(f"{CATALOGUE}/treatments/new"), 403)
    csrf = csrf_of(text)
    before = await treatments(booking_pool)
    for path, data in (
        (f"{CATALOGUE}/treatments", HOT_STONES),
        (f"{CATALOGUE}/treatments/{TREATMENT}", {**HOT_STONES, "price": "1.00"}),
        (f"{CATALOGUE}/treatments/{SWEDISH}/move", {"direction": "up"}),
        (f"{CATALOGUE}/treatments/{TRIGGER}/visibility", {"bookable": "no"}),
        (f"{CATALOGUE}/treatments/{TRIGGER}/delete", {"confirm": "yes"}),
    ):
        refused = await page(await dashboard.post(path, data={**data, "csrf": csrf}), 403)
        assert "You cannot use this page" in refused, path
    assert await treatments(booking_pool) == before


async def test_a_form_without_the_session_s_csrf_token_is_refused_and_changes_nothing(dashboard, owner, booking_pool):
    await signed_in(dashboard)
    before = await treatments(booking_pool)
    for token in (None, "", "forged"):
        extra = {} if token is None else {"csrf": token}
        for path, data in (
            (f"{CATALOGUE}/treatments", HOT_STONES),
            (f"{CATALOGUE}/treatments/{SWEDISH}", {**HOT_STONES, "price": "1.00"}),
            (f"{CATALOGUE}/treatments/{SWEDISH}/move", {"direction": "up"}),
            (f"{CATALOGUE}/treatments/{TRIGGER}/visibility", {"bookable": "no"}),
            (f"{CATALOGUE}/treatments/{TRIGGER}/delete", {"confirm": "yes"}),
        ):
            text = await page(await dashboard.post(path, data={**data, **extra}), 403)
            assert "This form has expired" in text, path
    assert await treatments(booking_pool) == before


async def test_another_clinic_s_treatment_is_not_found(dashboard, owner):
    await signed_in(dashboard)
    theirs = stable_id("spinecare", "treatment", "deep-tissue-90")
    text = await page(await dashboard.get(f"{CATALOGUE}/treatments/{theirs}"), 404)
    assert "Page not found" in text and "Deep tissue massage (90 min)" not in text
    csrf = csrf_of(text)
    await page(await dashboard.post(f"{CATALOGUE}/treatments/{theirs}/delete", data={"csrf": csrf}), 404)
    await page(await dashboard.get(f"{CATALOGUE}/treatments/not-a-uuid"), 404)
