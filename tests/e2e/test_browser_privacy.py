"""A customer's data rights (issue 19) in a real browser (Debian's Chromium driven by Playwright), through the gateway
of the whole stack:

1. an owner of the demo clinic, with the keyboard alone, goes to Privacy, downloads the data of a customer whose only
   booking was paid and then cancelled (the file is the API's "customer-data/1" export, with that booking), then
   erases it: the review lists what is erased and what is kept, the confirmation refuses to go on until its box is
   ticked (the error summary, focused, links to the box), then the result page counts what was done, and the recent
   requests name the customer by the masked email only;
2. a customer with a booking still to come cannot be erased: the review says what stands in the way and offers no
   confirmation at all (and the Privacy form's own error, for no email, links to its field);
3. the booking flow's optional date of birth (GOV.UK's three boxes): an impossible date (31 2 1990) is refused in the
   error summary, linked to the day box, with everything typed kept; a real one goes on to payment.

axe-core judges every page these tests look at, each at phone (390x844) and desktop width: no violation of impact
serious or critical, no sideways scrolling. Screenshots go to test-artifacts/ (git-ignored).

The stack's database is the session's: each test has customers of its own (a new email domain per test), and every
time booked is Tom Hughes's two weeks on (today + 14 to 20 days), which no other e2e test books: the booking tests and
the storms book Amara Okafor, the embedding and voucher tests next week, the diary test Tom's Thursdays and Fridays
from three weeks on, the crash-recovery test from four weeks on."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Page, expect

from services.booking.seed import stable_id
from tests.e2e.test_browser_booking import DESKTOP, PHONE
from tests.e2e.test_browser_dashboard import CLINIC_NAME, PASSWORD, account
from tests.e2e.test_browser_workspace import Judge, emailed
from tests.support.booking import ALL_CLEAR, CLINIC, next_weekday
from tests.support.infra import wait_for
from tests.support.keyboard import focused_name, press_and_load, tab_to
from tests.support.payments import customer_pays

pytestmark = pytest.mark.e2e
TOM = str(stable_id(CLINIC, "therapist", "tom-hughes"))
TRIGGER_POINT = str(stable_id(CLINIC, "treatment", "trigger-point-30"))
# Tom works Tuesday to Saturday: the Saturday two weeks on (a week later if the clinic is closed then).
DAY = next_weekday(5, weeks_ahead=2)
CONFIRM_SECONDS = 20
BLOCKER = (
    "This customer has 1 booking still to come. Cancel it, or wait until after the visit, before erasing their data."
)


def a_customer(tag: str) -> tuple[str, str]:
    """A new customer's email (a domain of its own, so the masked email is this test's alone) and its masked form."""
    domain = f"{tag}-{uuid.uuid4().hex[:8]}.privacy.example"
    return f"pat.quinn@{domain}", f"p***@{domain}"


# --- set-up through the public API (the proof is the dashboard's) ----------------------------------------------------


async def api(http: aiohttp.ClientSession, stack, method: str, path: str, status: int = 200, **kwargs) -> dict:
    async with http.request(method, stack.url() + path, **kwargs) as resp:
        text = await resp.text()
        assert resp.status == status, (method, path, resp.status, text[:2000])
        return json.loads(text) if text else {}


async def a_booking(http: aiohttp.ClientSession, stack, email: str) -> dict:
    """The customer holds Tom's first free trigger point time on DAY and books it: awaiting its card payment."""
    params = {"treatment": TRIGGER_POINT, "therapist": TOM, "from": DAY.isoformat(), "to": DAY.isoformat()}
    slots = (await api(http, stack, "GET", f"/api/v1/clinics/{CLINIC}/availability", params=params))["slots"]
    assert slots, f"Tom has no free time on {DAY}"
    body = {"clinic": CLINIC, "treatment": TRIGGER_POINT, "therapist": TOM, "start": slots[0]["start"]}
    held = await api(http, stack, "POST", "/api/v1/holds", 201, json=body)
    customer = {"name": "Pat Quinn", "email": email, "phone": "+44 7700 900456", "date_of_birth": "1990-02-14"}
    booking = await api(
        http,
        stack,
        "POST",
        "/api/v1/bookings",
        201,
        json={"hold": held["id"], "customer": customer, "screening": {"answers": ALL_CLEAR}},
    )
    assert booking["status"] == "pending_payment", booking
    return booking


async def a_cancelled_booking(http: aiohttp.ClientSession, stack, email: str) -> dict:
    """Booked, paid by card (fake Stripe), then cancelled by the customer with the manage link's token; returned once
    the refund's email has gone, so that nothing about the customer is still on its way through the stack."""
    booking = await a_booking(http, stack, email)
    stripe_url = f"http://127.0.0.1:{stack.env['FAKE_STRIPE_PORT']}"
    assert await customer_pays(stripe_url, booking["payment"]["stripe_payment_intent"]) == "succeeded"
    token = booking["manage_url"].split("token=", 1)[1]

    async def confirmed():
        seen = await api(http, stack, "GET", f"/api/v1/bookings/{booking['id']}", params={"token": token})
        return seen["status"] == "confirmed"

    await wait_for(confirmed, timeout=CONFIRM_SECONDS, interval=0.2, what="the booking confirmed")
    cancelled = await api(http, stack, "POST", f"/api/v1/bookings/{booking['id']}/cancel", json={"token": token})
    assert cancelled["status"] == "cancelled", cancelled
    for kind in ("booking_confirmed", "booking_cancelled", "payment_refunded"):
        await emailed(stack, email, kind)
    return booking


# --- the dashboard --------------------------------------------------------------------------------------------------


async def signed_in_with_the_keyboard(page: Page, email: str) -> None:
    await page.goto("/clinic")  # signed out: sent to sign in
    await expect(page.get_by_role("heading", name="Sign in to your clinic dashboard")).to_be_visible()
    await tab_to(page, "Email address")
    await page.keyboard.type(email)
    await tab_to(page, "Password")
    await page.keyboard.type(PASSWORD)
    await tab_to(page, "Sign in")
    await press_and_load(page, "Enter")
    await expect(page.get_by_role("heading", name=CLINIC_NAME)).to_be_visible()


async def test_the_owner_downloads_then_erases_a_customer_s_data_with_the_keyboard_alone(browser, stack, stack_db):
    owner = await account(stack_db, name="Olu Adeyemi")
    email, masked = a_customer("erase")
    typed = email.replace("pat.quinn", "Pat.Quinn")  # as the customer wrote it once: capitals do not matter
    async with aiohttp.ClientSession() as http:
        booking = await a_cancelled_booking(http, stack, email)

    context = await browser.new_context(viewport=PHONE, base_url=stack.url(), locale="en-GB", accept_downloads=True)
    try:
        page = await context.new_page()
        judge = Judge(page, "privacy-erase")
        keyboard = page.keyboard
        await signed_in_with_the_keyboard(page, owner)
        await tab_to(page, "Privacy")  # the owner's area in the workspace's navigation
        await press_and_load(page, "Enter")
        await expect(page.get_by_role("heading", name="Privacy", level=1)).to_be_visible()
        await expect(page.get_by_text(masked)).to_have_count(0)  # no request about this customer yet
        await judge.check("privacy")

        # Their data, downloaded: the export as the API makes it, this customer's booking in it.
        await tab_to(page, "Customer's email address")
        await keyboard.type(typed)
        await tab_to(page, "Download their data")
        async with page.expect_download() as downloading:
            await keyboard.press("Enter")
        download = await downloading.value
        assert re.fullmatch(r"customer-data-\d{4}-\d{2}-\d{2}\.json", download.suggested_filename)
        data = json.loads(Path(await download.path()).read_text())
        assert data["format"] == "customer-data/1" and data["email"] == email
        assert data["clinic"]["slug"] == CLINIC
        [exported] = data["bookings"]
        assert exported["id"] == booking["id"] and exported["status"] == "cancelled", exported
        assert "Pat Quinn" in data["customer"]["names"]
        assert data["customer"]["dates_of_birth"] == ["1990-02-14"]

        # Erase: first what it would do.
        await tab_to(page, "Erase their data")  # the form's other button, next to the download
        await press_and_load(page, "Enter")
        await expect(page.get_by_role("heading", name=f"Erase the data of {typed}?")).to_be_visible()
        erased_list = page.get_by_role("heading", name="What will be erased").locator("xpath=following-sibling::ul[1]")
        await expect(erased_list.get_by_role("listitem").filter(has_text=re.compile(r"^1 booking$"))).to_have_count(1)
        await expect(erased_list).to_contain_text("emails sent to them")
        kept = page.locator("dl.kept")
        await expect(kept.locator("dt").filter(has_text="1 health screening")).to_have_count(1)
        await expect(kept.locator("div").filter(has_text="1 payment record")).to_contain_text("HMRC")
        await judge.check("review")

        # The confirmation, without its box ticked: refused, the error summary (focused) links to the box.
        await tab_to(page, "Erase their data")
        await press_and_load(page, "Enter")
        summary = page.locator(".error-summary")
        await expect(summary).to_be_focused()
        problem = summary.get_by_role(
            "link", name="Tick the box to confirm you understand that erasing cannot be undone"
        )
        await expect(problem).to_have_attribute("href", "#understood")
        assert (await page.title()).startswith("Error: Erase this customer's data?")
        await expect(page.get_by_label("I understand this cannot be undone")).not_to_be_checked()
        await judge.check("review-error")
        await keyboard.press("Tab")
        assert (await focused_name(page)).startswith("Tick the box")
        await keyboard.press("Enter")  # the summary's link: to the box itself
        await expect(page.get_by_label("I understand this cannot be undone")).to_be_focused()
        await keyboard.press("Space")
        await expect(page.get_by_label("I understand this cannot be undone")).to_be_checked()
        await tab_to(page, "Erase their data")
        await press_and_load(page, "Enter")

        # Done: the counts, the customer named by the masked email only.
        await expect(page.get_by_role("heading", name="Their data has been erased")).to_be_visible()
        await expect(page.get_by_role("status")).to_contain_text(f"The data of {masked} was erased on ")
        done = page.get_by_role("heading", name="Erased", exact=True).locator("xpath=following-sibling::ul[1]")
        await expect(done.get_by_role("listitem").filter(has_text=re.compile(r"^1 booking$"))).to_have_count(1)
        await expect(page.locator("dl.kept dt").filter(has_text="1 health screening")).to_have_count(1)
        await expect(page.locator("main")).not_to_contain_text(re.compile(re.escape(email), re.I))
        await judge.check("done")

        # The recent requests: the download and the erasure, by the owner, the email masked.
        await tab_to(page, "Back to Privacy")
        await press_and_load(page, "Enter")
        rows = page.locator("table tbody tr").filter(has_text=masked)  # newest first
        await expect(rows).to_have_count(2)
        await expect(rows.nth(0)).to_contain_text("Data erased")
        await expect(rows.nth(0)).to_contain_text("Erased 1 booking")
        await expect(rows.nth(1)).to_contain_text("Data downloaded")
        for row in (rows.nth(0), rows.nth(1)):
            await expect(row.locator('[data-label="Customer"]')).to_have_text(masked)
            await expect(row.locator('[data-label="By"]')).to_have_text("Olu Adeyemi (owner)")
        await expect(page.locator("main")).not_to_contain_text(re.compile(re.escape(email), re.I))
        await expect(page.get_by_label("Customer's email address")).to_have_value("")
        await judge.check("privacy-requests")
    finally:
        await context.close()

    # Erased everywhere: a second download finds their booking without their name, email or date of birth.
    async with aiohttp.ClientSession() as http:
        token = (
            await api(http, stack, "POST", "/api/v1/staff/sessions", 201, json={"email": owner, "password": PASSWORD})
        )["token"]
        again = await api(
            http,
            stack,
            "POST",
            "/api/v1/clinic/privacy/export",
            json={"email": email},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert "Pat Quinn" not in json.dumps(again) and "1990-02-14" not in json.dumps(again)


async def test_a_customer_with_a_booking_to_come_cannot_be_erased_yet(browser, stack, stack_db):
    owner = await account(stack_db, name="Olu Adeyemi")
    email, masked = a_customer("blocked")
    async with aiohttp.ClientSession() as http:
        await a_booking(http, stack, email)  # awaiting its payment: a visit still to come

    context = await browser.new_context(viewport=DESKTOP, base_url=stack.url(), locale="en-GB")
    try:
        page = await context.new_page()
        judge = Judge(page, "privacy-blocked")
        await signed_in_with_the_keyboard(page, owner)
        await page.goto("/clinic/privacy")

        # No email: the form's own error, linked to its field.
        await page.get_by_role("button", name="Erase their data…").click()
        summary = page.locator(".error-summary")
        await expect(summary).to_be_focused()
        await expect(summary.get_by_role("link", name="Enter the customer's email address")).to_have_attribute(
            "href", "#email"
        )
        await judge.check("privacy-error")

        await page.get_by_label("Customer's email address").fill(email)
        await page.get_by_role("button", name="Erase their data…").click()
        await expect(page.get_by_role("heading", name="Their data cannot be erased yet")).to_be_visible()
        await expect(page.get_by_text("Nothing has been changed.")).to_be_visible()
        blockers = page.locator("ul.blockers li")
        await expect(blockers).to_have_count(1)
        await expect(blockers.get_by_text(BLOCKER)).to_be_visible()
        await expect(
            blockers.get_by_text("You can cancel a booking from its page: find it in the diary.")
        ).to_be_visible()
        # No way to confirm: no box, no button, no form that erases.
        await expect(page.get_by_role("checkbox")).to_have_count(0)
        await expect(page.get_by_role("button", name=re.compile("^Erase"))).to_have_count(0)
        await expect(page.locator('form[action="/clinic/privacy/erase/confirm"]')).to_have_count(0)
        await judge.check("blocked")

        await page.get_by_role("link", name="Back to Privacy").click()
        await expect(page.get_by_role("heading", name="Recent requests")).to_be_visible()
        await expect(page.get_by_text(masked)).to_have_count(0)  # a review is not a request: none is recorded
    finally:
        await context.close()


# --- the booking flow's date of birth -------------------------------------------------------------------------------


async def test_the_date_of_birth_refuses_an_impossible_date_and_keeps_what_was_typed(browser, stack):
    email, _ = a_customer("dob")
    context = await browser.new_context(viewport=PHONE, base_url=stack.url(), locale="en-GB")
    try:
        page = await context.new_page()
        judge = Judge(page, "privacy-date-of-birth")
        await page.goto(f"/c/{CLINIC}/book")
        await page.get_by_label("Trigger point therapy (30 min)", exact=True).check()
        await page.get_by_role("button", name="Continue").click()
        await page.get_by_label("Tom Hughes").check()
        await page.get_by_role("button", name="Continue").click()
        for _ in range(2):  # two weeks on: Tom's times no other test books
            before = page.url
            await page.get_by_role("link", name="Next week").first.click()
            await page.wait_for_url(lambda url, before=before: url != before)
        await page.locator("button.slot").first.click()
        await expect(page.get_by_role("heading", name="Before your treatment")).to_be_visible()
        for group in await page.locator("fieldset").all():
            await group.get_by_label("No", exact=True).check()
        await page.get_by_role("button", name="Continue").click()
        await expect(page.get_by_role("heading", name="Your details")).to_be_visible()
        await judge.check("details")

        day, month, year = (page.get_by_label(part, exact=True) for part in ("Day", "Month", "Year"))
        await page.get_by_label("Full name").fill("Pat Quinn")
        await page.get_by_label("Email address").fill(email)
        await page.get_by_label("Phone number (optional)").fill("07700 900456")
        await day.fill("31")
        await month.fill("2")
        await year.fill("1990")
        await page.get_by_label("I have read the cancellation policy").check()
        await page.get_by_role("button", name="Continue to payment").click()

        summary = page.locator(".error-summary")
        await expect(summary).to_be_focused()
        assert (await page.title()).startswith("Error: Your details")
        problem = summary.get_by_role("link", name="Date of birth must be a real date, like 27 3 2010")
        await expect(problem).to_have_attribute("href", "#dob_day")
        await expect(summary.get_by_role("listitem")).to_have_count(1)  # the other fields were fine
        # Beside the field too, and the group described by it; every box typed in kept, and the other fields.
        group = page.get_by_role("group", name="Date of birth (optional)")
        await expect(group).to_have_accessible_description(re.compile(r"Error: Date of birth must be a real date"))
        for box, value in ((day, "31"), (month, "2"), (year, "1990")):
            await expect(box).to_have_value(value)
        await expect(page.get_by_label("Full name")).to_have_value("Pat Quinn")
        await expect(page.get_by_label("Email address")).to_have_value(email)
        await expect(page.get_by_label("Phone number (optional)")).to_have_value("07700 900456")
        await judge.check("details-error")
        await problem.click()
        await expect(day).to_be_focused()

        await expect(page.get_by_label("I have read the cancellation policy")).to_be_checked()  # kept, as typed
        await day.fill("28")
        await page.get_by_role("button", name="Continue to payment").click()
        await expect(page.get_by_text("Test mode.")).to_be_visible()  # accepted: on to the payment
    finally:
        await context.close()
