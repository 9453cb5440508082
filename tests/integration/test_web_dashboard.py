"""The clinic dashboard's shell as a browser without JavaScript uses it, through the gateway: the home page and its
areas by role, the owner's staff page (invite, remove), a staff account refused the owner's pages, CSRF on every
form, the set-password link taken out of the address, and a session the API no longer takes."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

from services.web.dashboard import pages as dashboard_pages
from services.web.dashboard import session as sessions
from tests.support.dashboard import (  # noqa: F401  (dashboard, owner, receptionist: fixtures)
    OWNER_EMAIL,
    STAFF_EMAIL,
    csrf_of,
    dashboard,
    invitation_links,
    kept_session,
    owner,
    page,
    receptionist,
    sign_in,
    signed_in,
)

OWNER_AREAS = (
    "Diary",
    "Catalogue",
    "Therapists",
    "Vouchers",
    "Waitlist",
    "Staff",
    "Integrations",
    "Settings",
    "Privacy",
)
OWNER_ONLY = {"/clinic/staff", "/clinic/integrations", "/clinic/settings", "/clinic/privacy"}


def links(text: str) -> set[str]:
    return set(re.findall(r'href="(/clinic[^"]*)"', text))


async def staff_rows(booking_pool) -> dict[str, tuple]:
    async with booking_pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT email, role, password_hash IS NOT NULL AS active, disabled_at FROM clinic_staff"
        )
    return {r["email"]: (r["role"], r["active"], r["disabled_at"] is not None) for r in rows}


async def test_the_owner_s_home_names_the_clinic_and_who_is_signed_in_and_every_area(dashboard, owner):
    home = await signed_in(dashboard)
    assert (
        "Urban Therapy Clinic, London" in home
        and "Signed in as <strong>Alice Jones</strong>" in home
        and "(Owner)" in home
    )
    for area in OWNER_AREAS:
        assert f">{area}</a>" in home, area
    assert OWNER_ONLY <= links(home)
    assert 'action="/clinic/sign-out"' in home and "Sign out" in home
    assert 'aria-current="page">Home</a>' in home


async def test_a_staff_account_sees_no_owner_links_and_is_refused_the_staff_page(
    dashboard, owner, receptionist, booking_pool
):
    home = await signed_in(dashboard, STAFF_EMAIL)
    assert "Signed in as <strong>Rita Patel</strong>" in home and "(Staff)" in home
    assert {
        "/clinic/diary",
        "/clinic/catalogue",
        "/clinic/therapists",
        "/clinic/vouchers",
        "/clinic/waitlist",
    } <= links(home)
    assert not OWNER_ONLY & links(home), "no link to what the role may not use"
    refused = await page(await dashboard.get("/clinic/staff"), 403)
    assert "You cannot use this page" in refused and "Only the clinic's owner" in refused
    assert "Rita Patel" in refused and OWNER_EMAIL not in refused, "the header, and nobody's account listed"
    before = await staff_rows(booking_pool)
    csrf = csrf_of(home)
    invited = await dashboard.post(
        "/clinic/staff", data={"csrf": csrf, "email": "eve@example.com", "name": "Eve", "role": "owner"}
    )
    await page(invited, 403)
    removed = await dashboard.post(f"/clinic/staff/{owner}/remove", data={"csrf": csrf, "confirm": "yes"})
    await page(removed, 403)
    assert await staff_rows(booking_pool) == before, "nothing changed"


async def test_the_owner_invites_staff_who_then_appear_in_the_list(dashboard, owner, booking_pool):
    await signed_in(dashboard)
    staff = await page(await dashboard.get("/clinic/staff"))
    mine = staff[staff.index("Alice Jones (you)") : staff.index("Alice Jones (you)") + 600]
    assert OWNER_EMAIL in mine and "Owner" in mine and "Active" in mine and "(UK time, " in mine, "last signed in"
    invited = await dashboard.post(
        "/clinic/staff",
        data={"csrf": csrf_of(staff), "email": "sam@urban-therapy.example", "name": "Sam Lee", "role": "staff"},
        allow_redirects=False,
    )
    assert invited.status == 303 and invited.headers["Location"] == "/clinic/staff?done=invited"
    listed = await page(await dashboard.get(invited.headers["Location"]))
    assert "Invitation sent." in listed
    row = listed[listed.index("Sam Lee") : listed.index("Sam Lee") + 600]
    assert "sam@urban-therapy.example" in row and "Staff" in row and "Invited" in row and "Never" in row
    assert (await staff_rows(booking_pool))["sam@urban-therapy.example"] == ("staff", False, False)
    assert "sam@urban-therapy.example" in await invitation_links(booking_pool)


async def test_an_invitation_with_mistakes_is_shown_again_with_each_field_s_message(dashboard, owner, booking_pool):
    await signed_in(dashboard)
    csrf = csrf_of(await page(await dashboard.get("/clinic/staff")))
    before = await staff_rows(booking_pool)
    resp = await dashboard.post(
        "/clinic/staff", data={"csrf": csrf, "email": "not an email", "name": "", "role": "boss"}
    )
    text = await page(resp, 400)
    assert "There is a problem" in text and 'href="#email"' in text and 'href="#name"' in text
    assert "like name@example.com" in text and "Enter their name" in text and "Choose what they may do" in text
    assert 'value="not an email"' in text, "what was typed is kept"
    taken = await dashboard.post(
        "/clinic/staff", data={"csrf": csrf, "email": OWNER_EMAIL, "name": "Alice again", "role": "staff"}
    )
    assert 'href="#email"' in await page(taken, 400)
    assert await staff_rows(booking_pool) == before


async def test_the_owner_removes_a_staff_account_after_a_question_and_its_sessions_end(
    dashboard, owner, receptionist, booking_pool, linked, aiohttp_server, aiohttp_client
):
    from tests.support.dashboard import make_site

    _, settings = linked
    reception = await make_site(settings, aiohttp_server, aiohttp_client)  # Rita, in another browser
    await signed_in(reception, STAFF_EMAIL)
    await signed_in(dashboard)
    staff = await page(await dashboard.get("/clinic/staff"))
    assert f'action="/clinic/staff/{owner}/remove"' not in staff, "no button to remove oneself"
    question = await page(await dashboard.post(f"/clinic/staff/{receptionist}/remove", data={"csrf": csrf_of(staff)}))
    assert "Remove Rita Patel?" in question and STAFF_EMAIL in question
    assert (await staff_rows(booking_pool))[STAFF_EMAIL][2] is False, "asking changed nothing"
    done = await dashboard.post(
        f"/clinic/staff/{receptionist}/remove",
        data={"csrf": csrf_of(question), "confirm": "yes"},
        allow_redirects=False,
    )
    assert done.headers["Location"] == "/clinic/staff?done=removed"
    listed = await page(await dashboard.get(done.headers["Location"]))
    assert "Account removed." in listed and STAFF_EMAIL not in listed
    assert (await staff_rows(booking_pool))[STAFF_EMAIL][2] is True
    ended = await reception.get("/clinic", allow_redirects=False)
    assert ended.status == 303 and ended.headers["Location"] == "/clinic/sign-in?m=expired"


async def test_a_form_without_the_session_s_csrf_token_is_refused_and_changes_nothing(
    dashboard, owner, receptionist, booking_pool
):
    await signed_in(dashboard)
    before = await staff_rows(booking_pool)
    for token in ("", "forged", None):
        data = {"email": "mallory@example.com", "name": "Mallory", "role": "owner"}
        if token is not None:
            data["csrf"] = token
        assert "This form has expired" in await page(await dashboard.post("/clinic/staff", data=data), 403)
        removal = {"confirm": "yes", **({"csrf": token} if token is not None else {})}
        await page(await dashboard.post(f"/clinic/staff/{receptionist}/remove", data=removal), 403)
    # The double-submit token of the pages before sign-in is not the session's either.
    pre_sign_in = dashboard.session.cookie_jar.filter_cookies(dashboard.make_url("/"))["csrf"].value
    await page(await dashboard.post("/clinic/staff", data={**data, "csrf": pre_sign_in}), 403)
    assert await staff_rows(booking_pool) == before
    assert (await dashboard.get("/clinic", allow_redirects=False)).status == 200, "and the session goes on"


async def test_a_signed_out_visitor_is_sent_to_sign_in_from_every_dashboard_page(dashboard):
    for path in ("/clinic", "/clinic/staff"):
        resp = await dashboard.get(path, allow_redirects=False)
        location = urlsplit(resp.headers["Location"])  # signing in comes back to the page (home: by default)
        back = {} if path == "/clinic" else {"next": path}
        assert resp.status == 303 and location.path == "/clinic/sign-in", path
        assert dict(parse_qsl(location.query)) == back, path
        assert resp.headers["Cache-Control"] == "no-store"
    posted = await dashboard.post("/clinic/staff", data={"email": "x@example.com"}, allow_redirects=False)
    # a signed-in page's form whose session lapsed meanwhile: the sign-in page says nothing was saved
    assert posted.status == 303 and posted.headers["Location"] == "/clinic/sign-in?m=expired-unsaved&next=/clinic/staff"


async def test_a_session_the_api_no_longer_takes_means_signing_in_again_with_a_message(
    dashboard, owner, redis, settings
):
    resp = await sign_in(dashboard)
    cookie = resp.cookies[sessions.COOKIE].value
    token = (await kept_session(redis, settings, cookie)).token
    # Signed out through the API (another tab, an integration): the token is dead though the cookie is not.
    ended = await dashboard.delete("/api/v1/clinic/session", headers={"Authorization": f"Bearer {token}"})
    assert ended.status == 204
    home = await dashboard.get("/clinic", allow_redirects=False)
    assert home.status == 303 and home.headers["Location"] == "/clinic/sign-in?m=expired"
    assert await kept_session(redis, settings, cookie) is None, "the dead session is forgotten"
    again = await page(await dashboard.get(home.headers["Location"]))
    assert "Your session has ended. Sign in again to carry on." in again and 'name="password"' in again


async def test_the_set_password_link_leaves_the_address_at_once_and_works_once(dashboard, owner, booking_pool):
    await signed_in(dashboard)
    staff = await page(await dashboard.get("/clinic/staff"))
    await dashboard.post(
        "/clinic/staff",
        data={"csrf": csrf_of(staff), "email": "sam@urban-therapy.example", "name": "Sam Lee", "role": "staff"},
    )
    link = (await invitation_links(booking_pool))["sam@urban-therapy.example"]
    path = link[link.index("/clinic/set-password") :]
    token = path.split("token=", 1)[1]
    dashboard.session.cookie_jar.clear()  # Sam, in a browser of their own

    arrived = await dashboard.get(path, allow_redirects=False)
    assert arrived.status == 303 and arrived.headers["Location"] == "/clinic/set-password", "the token is dropped"
    kept = arrived.cookies[dashboard_pages.PASSWORD_LINK_COOKIE]
    assert kept["httponly"] and kept["path"] == "/clinic/set-password" and kept["samesite"] == "Lax"
    assert arrived.headers["Cache-Control"] == "no-store"
    form_resp = await dashboard.get("/clinic/set-password")
    form = await page(form_resp)
    assert token not in form and "token" not in urlsplit(str(form_resp.url)).query
    assert "Choose your password" in form and 'autocomplete="new-password"' in form

    mismatch = await page(
        await dashboard.post(
            "/clinic/set-password",
            data={"csrf": csrf_of(form), "password": "a long new password", "password_again": "something else"},
        ),
        400,
    )
    assert "The two passwords are different" in mismatch and 'href="#password_again"' in mismatch
    weak = await page(
        await dashboard.post(
            "/clinic/set-password", data={"csrf": csrf_of(form), "password": "x", "password_again": "x"}
        ),
        400,
    )
    assert 'href="#password"' in weak
    done = await dashboard.post(
        "/clinic/set-password",
        data={
            "csrf": csrf_of(form),
            "password": "sam's long new password",
            "password_again": "sam's long new password",
        },
        allow_redirects=False,
    )
    assert done.status == 303 and done.headers["Location"] == "/clinic/sign-in?m=password-set"
    assert "Your password is set." in await page(await dashboard.get(done.headers["Location"]))
    home = await signed_in(dashboard, "sam@urban-therapy.example", "sam's long new password")
    assert "Signed in as <strong>Sam Lee</strong>" in home and "(Staff)" in home

    dashboard.session.cookie_jar.clear()
    await dashboard.get(path)  # the same link again
    used = await page(await dashboard.get("/clinic/set-password"))
    used = await page(
        await dashboard.post(
            "/clinic/set-password",
            data={
                "csrf": csrf_of(used),
                "password": "another long password",
                "password_again": "another long password",
            },
        ),
        410,
    )
    assert "This link has already been used" in used and "sign in with it" in used


async def test_an_expired_set_password_link_is_explained(dashboard, owner, booking_pool):
    await signed_in(dashboard)
    staff = await page(await dashboard.get("/clinic/staff"))
    await dashboard.post(
        "/clinic/staff",
        data={"csrf": csrf_of(staff), "email": "sam@urban-therapy.example", "name": "Sam Lee", "role": "staff"},
    )
    link = (await invitation_links(booking_pool))["sam@urban-therapy.example"]
    async with booking_pool.acquire() as conn:
        await conn.execute("UPDATE staff_password_links SET expires_at = now() - interval '1 minute'")
    dashboard.session.cookie_jar.clear()
    form = await page(await dashboard.get(link[link.index("/clinic/set-password") :]))
    expired = await page(
        await dashboard.post(
            "/clinic/set-password",
            data={"csrf": csrf_of(form), "password": "a long new password", "password_again": "a long new password"},
        ),
        410,
    )
    assert "This link has expired" in expired and "Ask your clinic's owner to invite you again" in expired
    without = await page(await dashboard.get("/clinic/set-password"), 400)
    assert "Open the link from your email" in without, "the link's cookie went with the refusal"


async def test_pages_that_are_not_there_yet_are_a_dashboard_page_saying_so(dashboard, owner):
    await signed_in(dashboard)
    missing = await page(await dashboard.get("/clinic/nothing-here"), 404)
    assert "Page not found" in missing and "Signed in as <strong>Alice Jones</strong>" in missing


async def test_an_owner_cannot_remove_themselves_and_is_told_why(dashboard, owner, booking_pool):
    await signed_in(dashboard)
    staff = await page(await dashboard.get("/clinic/staff"))
    resp = await dashboard.post(f"/clinic/staff/{owner}/remove", data={"csrf": csrf_of(staff), "confirm": "yes"})
    text = await page(resp, 409)
    assert "You cannot remove your own account" in text and "Alice Jones (you)" in text
    assert (await staff_rows(booking_pool))[OWNER_EMAIL][2] is False


async def test_a_set_password_link_cut_short_is_explained(dashboard):
    form = await page(await dashboard.get("/clinic/set-password?token=not-the-whole-link"))
    refused = await dashboard.post(
        "/clinic/set-password",
        data={"csrf": csrf_of(form), "password": "a long new password", "password_again": "a long new password"},
    )
    text = await page(refused, 410)
    assert "This link is not valid" in text and "Open the whole link from your email" in text
