"""The booking pages inside a clinic's own website, through the gateway: framed only by the websites the
clinic allows (CSP frame-ancestors), every other page by nobody; inside a frame our cookies are partitioned
(SameSite=None; Secure; Partitioned) so the flow can go on there; a browser that keeps no cookie in the
frame is offered a new window; the snippet's script under a stable name. (The same in Chromium: the
browser tests'.)"""

from __future__ import annotations

import re

import pytest

from tests.integration.test_web_booking import choose_a_slot, page, site  # noqa: F401  (site: a fixture)
from tests.support.booking import CLINIC
from tests.support.clinic_api import bearer

ALLOWED = ["https://www.urbantherapy.example", "http://localhost:8000"]
IN_A_FRAME = {"Sec-Fetch-Dest": "iframe", "Sec-Fetch-Site": "cross-site"}


@pytest.fixture
async def embeddable(site, keys):
    """The demo clinic allows two websites of its own (set before any page is read, so none is cached)."""
    resp = await site.patch("/api/v1/clinic/settings", headers=bearer(keys[CLINIC]), json={"embed_origins": ALLOWED})
    assert resp.status == 200, await resp.text()
    return site


def frame_ancestors(resp) -> list[str]:
    [directive] = [d for d in resp.headers["Content-Security-Policy"].split("; ") if d.startswith("frame-ancestors ")]
    return directive.split()[1:]


def set_cookies(resp) -> dict[str, str]:
    """Each cookie the answer sets: its whole Set-Cookie line, by name."""
    return {line.split("=", 1)[0]: line for line in resp.headers.getall("Set-Cookie", [])}


async def test_the_booking_pages_may_be_framed_by_the_clinics_own_websites_and_no_other_page(embeddable):
    week, fields = await choose_a_slot(embeddable)
    for path in (f"/c/{CLINIC}/book", f"/c/{CLINIC}/book?what=treatment:{fields['treatment']}"):
        assert frame_ancestors(await embeddable.get(path)) == ALLOWED, path
    held = await embeddable.post(f"/c/{CLINIC}/book/hold", data=fields)
    assert "Before your treatment" in await page(held) and frame_ancestors(held) == ALLOWED
    for path in ("/", f"/c/{CLINIC}", "/c/spinecare/book", f"/c/{CLINIC}/book/no-such-step", "/c/nowhere/book"):
        assert frame_ancestors(await embeddable.get(path)) == ["'none'"], path


async def test_a_clinic_that_allows_nobody_is_framed_by_nobody(site):
    assert frame_ancestors(await site.get(f"/c/{CLINIC}/book")) == ["'none'"]


async def test_inside_a_frame_every_cookie_is_partitioned_and_outside_nothing_changes(embeddable):
    framed = await embeddable.get(f"/c/{CLINIC}/book", headers=IN_A_FRAME)
    csrf = set_cookies(framed)["csrf"]
    assert re.search(r"; SameSite=None; Secure; Partitioned$", csrf) and "HttpOnly" in csrf
    _, fields = await choose_a_slot(embeddable)
    held = await embeddable.post(f"/c/{CLINIC}/book/hold", data=fields, headers=IN_A_FRAME, allow_redirects=False)
    assert held.status == 303
    flow = set_cookies(held)["booking_flow"]
    assert re.search(r"; SameSite=None; Secure; Partitioned$", flow) and "HttpOnly" in flow

    embeddable.session.cookie_jar.clear()
    opened = set_cookies(await embeddable.get(f"/c/{CLINIC}/book"))["csrf"]
    assert "SameSite=Strict" in opened and "Partitioned" not in opened


async def test_a_browser_that_keeps_no_cookie_in_the_frame_is_offered_a_new_window(embeddable, booking_pool):
    _, fields = await choose_a_slot(embeddable)
    embeddable.session.cookie_jar.clear()  # what such a browser sends back: nothing
    resp = await embeddable.post(f"/c/{CLINIC}/book/hold", data=fields, headers=IN_A_FRAME)
    text = await page(resp, 403)
    assert "Continue in a new window" in text and frame_ancestors(resp) == ALLOWED
    link = re.search(r'<a class="button" href="([^"]+)" target="_blank" rel="noopener">', text).group(1)
    assert link.startswith(f"/c/{CLINIC}/book?") and f"treatment={fields['treatment']}" in link
    assert f"week={fields['week']}" in link and f"therapist={fields['therapist_choice']}" in link
    async with booking_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM bookings") == 0
    # Outside a frame the same post is the expired form it is.
    outside = await page(await embeddable.post(f"/c/{CLINIC}/book/hold", data=fields), 403)
    assert "This form has expired" in outside and "new window" not in outside


async def test_the_snippets_script_keeps_its_name_and_is_kept_minutes_only(site):
    resp = await site.get("/embed.js")
    assert resp.status == 200 and resp.content_type in ("text/javascript", "application/javascript")
    assert resp.headers["Cache-Control"] == "public, max-age=300"
    assert "showModal" in await resp.text()
