"""The snippet of docs/embedding.md on a clinic's own website, in Debian's Chromium: a test page served from
another origin (http://localhost:<port>, another site than the stack's http://127.0.0.1:<port>) with exactly
that snippet. Allowed by the clinic, BOOK NOW at desktop width opens the booking in an overlay and the whole
flow runs inside the frame (its cookies partitioned); Escape closes it and gives the focus back; at phone
width the link opens the booking as a page. Not allowed, the browser refuses the frame.

Every part runs as a bounded, named step (tests/support/browser.py), so a wait that never ends fails saying
which part, well before pytest-timeout's 120 s."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Page, expect

from shared import db
from shared.config import Settings
from tests.support.browser import bounded_context, step
from tests.support.clinic_api import bearer, issue_keys
from tests.support.infra import database_url, free_port

pytestmark = pytest.mark.e2e
DOCS = Path(__file__).resolve().parents[2] / "docs" / "embedding.md"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
ALLOWED, NOT_ALLOWED = "urban-therapy", "spinecare"
CATALOGUE_FRESH_SECONDS = 15  # the web service keeps a clinic's catalogue (its setting too) for 5 s
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=10)  # one call to the stack (aiohttp's own default: 5 minutes)


def documented_snippet(stack_url: str, slug: str) -> str:
    """The snippet as docs/embedding.md gives it, with the stack's address and the clinic's slug."""
    text = DOCS.read_text()
    block = re.search(r"<!-- snippet:.*?-->\n```html\n(.*?)```", text, re.S).group(1)
    return block.replace("https://booking.example.com", stack_url).replace("your-clinic", slug)


@pytest.fixture
async def clinic_website(stack, aiohttp_server) -> str:
    """The clinic's own website, another origin: /<clinic> is an article with the snippet."""

    async def article(request: web.Request) -> web.Response:
        slug = request.match_info["clinic"]
        return web.Response(
            content_type="text/html",
            text=(
                '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Massage for sciatica</title>'
                '<meta name="viewport" content="width=device-width, initial-scale=1"></head><body><main>'
                "<h1>Massage for sciatica</h1><p>How clinical massage eases back and leg pain.</p>"
                f"{documented_snippet(stack.url(), slug)}</main></body></html>"
            ),
        )

    app = web.Application()
    app.router.add_get("/{clinic}", article)
    server = await aiohttp_server(app, port=free_port())
    return f"http://localhost:{server.port}"


async def allow(stack, stack_db: str, slug: str, origins: list[str]) -> None:
    """The clinic allows `origins` through its API; back once the booking pages say so (the web service's
    catalogue is a few seconds old at most)."""
    async with step(f"{slug} allows {origins or 'no website'}", seconds=CATALOGUE_FRESH_SECONDS + 15):
        await _allow(stack, stack_db, slug, origins)


async def _allow(stack, stack_db: str, slug: str, origins: list[str]) -> None:
    pool = await db.create_pool(Settings(database_url=database_url(stack_db)), "booking", min_size=1, max_size=1)
    try:
        key = (await issue_keys(pool))[slug]
    finally:
        await pool.close()
    async with aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as http:
        async with http.patch(
            f"{stack.url()}/api/v1/clinic/settings", headers=bearer(key), json={"embed_origins": origins}
        ) as resp:
            assert resp.status == 200, await resp.text()
        wanted = "frame-ancestors " + (" ".join(origins) or "'none'")
        deadline = time.monotonic() + CATALOGUE_FRESH_SECONDS
        while True:
            async with http.get(f"{stack.url()}/c/{slug}/book") as resp:
                if wanted in resp.headers["Content-Security-Policy"].split("; "):
                    return
            assert time.monotonic() < deadline, f"the booking pages never allowed {origins}"
            await asyncio.sleep(0.2)


@pytest.fixture
async def allowed_website(stack, stack_db, clinic_website):
    await allow(stack, stack_db, ALLOWED, [clinic_website])
    yield clinic_website
    await allow(stack, stack_db, ALLOWED, [])


async def book_inside(page: Page, frame) -> None:
    """The whole booking, inside the overlay's frame, to the confirmation."""
    async with step("choose the treatment and the therapist in the frame", page):
        await frame.get_by_label("Trigger point therapy (30 min)").check()
        await frame.get_by_role("button", name="Continue").click()
        await frame.get_by_label("Tom Hughes").check()
        await frame.get_by_role("button", name="Continue").click()
    async with step("hold a time next week in the frame", page):
        await frame.get_by_role("link", name="Next week").first.click()
        await frame.locator("button.slot").first.click()
        # A form posted from inside the frame, and its answer: the partitioned cookies came back.
        await expect(frame.get_by_role("heading", name="Before your treatment")).to_be_visible()
    async with step("answer the health screening in the frame", page):
        for group in await frame.locator("fieldset").all():
            await group.get_by_label("No", exact=True).check()
        await frame.get_by_role("button", name="Continue").click()
    async with step("give the customer's details in the frame", page):
        await frame.get_by_label("Full name").fill("Mary Seacole")
        await frame.get_by_label("Email address").fill("mary.embedded@example.com")
        await frame.get_by_label("I have read the cancellation policy").check()
        await frame.get_by_role("button", name="Continue to payment").click()
    async with step("pay in the frame, to the confirmation", page):
        await frame.get_by_role("button", name=re.compile(r"^Pay £")).click()
        await expect(frame.get_by_role("heading", name="Booking confirmed")).to_be_visible(timeout=20_000)
        # The manage page may not be framed: its link opens a window of its own.
        await expect(frame.get_by_role("link", name="Cancel or move this booking")).to_have_attribute(
            "target", "_blank"
        )


async def escape_inside(page: Page, frame, dialog) -> None:
    """Escape pressed inside the frame (the clinic's page cannot hear it: our page tells it, on the key going
    down). The key comes up once the overlay is gone, so on the clinic's page: a key-up sent while the frame is
    being removed is acknowledged by nobody, and Playwright's keyboard.press would wait for it for ever."""
    await frame.get_by_role("heading", name="Booking confirmed").click()
    await page.keyboard.down("Escape")
    await expect(dialog).to_have_count(0)
    await page.keyboard.up("Escape")


async def test_an_allowed_website_opens_the_booking_in_an_overlay_that_runs_it_to_the_end(browser, allowed_website):
    async with bounded_context(browser, viewport=DESKTOP) as context:
        page = await context.new_page()
        book_now = page.get_by_role("link", name="BOOK NOW")
        dialog = page.get_by_role("dialog", name="Online booking")
        frame = page.frame_locator("dialog iframe")
        async with step("open the clinic's article", page):
            await page.goto(f"{allowed_website}/{ALLOWED}")
        async with step("BOOK NOW opens the overlay, the focus on its Close button", page):
            await book_now.click()
            await expect(dialog).to_be_visible()
            await expect(dialog.get_by_role("button", name="Close")).to_be_focused()
        async with step("the booking's first page in the overlay's frame", page):
            await expect(frame.get_by_text("What would you like to book?")).to_be_visible()
            assert page.url == f"{allowed_website}/{ALLOWED}", "the customer is still on the clinic's page"
        await book_inside(page, frame)
        async with step("Escape inside the frame closes the overlay, the focus back on BOOK NOW", page):
            await escape_inside(page, frame, dialog)
            await expect(book_now).to_be_focused()
        async with step("open again, and Escape on the clinic's page closes it", page):
            await book_now.click()
            await expect(dialog).to_be_visible()
            await page.keyboard.press("Escape")
            await expect(dialog).to_have_count(0)
            await expect(book_now).to_be_focused()


async def test_on_a_phone_the_link_opens_the_booking_as_a_page(browser, allowed_website, stack):
    async with bounded_context(browser, viewport=PHONE) as context:
        page = await context.new_page()
        async with step("open the clinic's article", page):
            await page.goto(f"{allowed_website}/{ALLOWED}")
        async with step("BOOK NOW opens the booking as a page", page):
            await page.get_by_role("link", name="BOOK NOW").click()
            await expect(page).to_have_url(f"{stack.url()}/c/{ALLOWED}/book")
            await expect(page.get_by_text("What would you like to book?")).to_be_visible()
            assert await page.get_by_role("dialog").count() == 0


async def refused_frame(page: Page) -> str:
    """The overlay's frame once the browser has dealt with it: its address (Chromium's error page if refused)."""
    frame = await (await page.locator("dialog iframe").element_handle()).content_frame()
    await frame.wait_for_load_state()
    return frame.url


async def test_a_website_the_clinic_did_not_allow_gets_no_booking_page(browser, clinic_website):
    async with bounded_context(browser, viewport=DESKTOP) as context:
        page = await context.new_page()
        async with step("open the clinic's article", page):
            await page.goto(f"{clinic_website}/{NOT_ALLOWED}")
        async with step("BOOK NOW opens the overlay, whose frame the browser refuses", page):
            async with page.expect_console_message(lambda m: "frame-ancestors 'none'" in m.text) as refusal:
                await page.get_by_role("link", name="BOOK NOW").click()
            assert "The request has been blocked" in (await refusal.value).text
            await expect(page.get_by_role("dialog", name="Online booking")).to_be_visible()
            assert (await refused_frame(page)).startswith("chrome-error://")
            await expect(page.frame_locator("dialog iframe").get_by_text("What would you like to book?")).to_have_count(
                0
            )


async def test_a_browser_step_that_never_ends_fails_naming_itself(browser, clinic_website):
    """The bound every step above has: a wait with no end of its own (here a popup that never opens, waited
    for without Playwright's timeout) fails within the step's seconds, naming the step and where the page was."""
    async with bounded_context(browser, viewport=DESKTOP) as context:
        page = await context.new_page()
        await page.goto(f"{clinic_website}/{NOT_ALLOWED}")
        started = time.monotonic()
        with pytest.raises(AssertionError) as failure:
            async with step("wait for a popup nobody opens", page, seconds=1):
                await page.wait_for_event("popup", timeout=0)
        assert time.monotonic() - started < 1 + 10  # the step's second, and the screenshot's few at most
        message = str(failure.value)
        assert message.startswith("step 'wait for a popup nobody opens' hung: not done within 1 s")
        assert f"at {clinic_website}/{NOT_ALLOWED}" in message
