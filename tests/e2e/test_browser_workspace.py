"""The clinic workspace's proofs (issue 18) in a real browser (Debian's Chromium driven by Playwright), through the
gateway of the whole stack, each test with a clinic of its own made by the operators' onboarding command:

1. the new clinic's owner sets a password from the emailed link, adds a treatment and a therapist with hours with the
   keyboard alone, the public booking page then offers that therapist's times, a customer books one in another
   browser context and the booking is in the owner's diary;
2. time off over a booking is refused with that booking listed; cancelled for the customer (who gets the email and
   a refund), the time off is accepted and the day's times are gone from the public page;
3. a webhook endpoint (a local receiver): a test event, a real booking's delivery in the log, replayed with the same
   webhook-id (in the log and at the receiver);
4. a therapist's calendar feed parses with `icalendar` and holds the customer's initials only; turned off, it is a 404;
5. a staff account, invited from the staff page, sees no API keys or webhooks (no links, the pages answer 403).

axe-core judges every dashboard page these tests visit, each at phone (390x844) and desktop width: no violation of
impact serious or critical, no sideways scrolling. Set-up that is not the thing proven (a customer's booking made
quickly, the catalogue of a clinic whose proof is elsewhere) goes through the public and clinic APIs. Screenshots go to
test-artifacts/ (git-ignored)."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from axe_playwright_python.async_playwright import Axe
from icalendar import Calendar
from playwright.async_api import Locator, Page, expect
from standardwebhooks.webhooks import Webhook

from tests.e2e.test_browser_booking import ARTIFACTS, BLOCKING, DESKTOP, PHONE, refunds_at_fake_stripe
from tests.e2e.test_browser_dashboard_integrations import tab_to_words
from tests.support.booking import ALL_CLEAR, next_weekday
from tests.support.infra import wait_for
from tests.support.keyboard import press_and_load, tab_to
from tests.support.payments import customer_pays
from tests.support.receiver import receiver  # noqa: F401  (fixture)
from tests.support.stack import REPO_ROOT

pytestmark = pytest.mark.e2e
PASSWORD = "a long workspace password"
ZONE = ZoneInfo("Europe/London")
LINK = re.compile(r"https?://\S+/clinic/set-password\?token=[A-Za-z0-9_%-]+")
# Emails and webhooks wait for the stack's relay, consumers and Celery worker.
MAIL_SECONDS = 30
DELIVERY_SECONDS = 30
# The booking pages keep a clinic's catalogue this long (services/web/catalogue.py FRESH_SECONDS): a change shows
# on them within it. Waited for by looking again, at most three times that.
CATALOGUE_SECONDS = 5
WIDTHS = {"phone": PHONE, "desktop": DESKTOP}


# --- the clinic, made as an operator makes one ------------------------------------------------------------------


@dataclass(frozen=True)
class Clinic:
    slug: str
    name: str
    owner_email: str
    owner_name: str
    printed: str = ""  # what the command said


def onboard(stack, tag: str) -> Clinic:
    """`python -m services.booking.onboard …` against the stack's database and settings (its environment)."""
    suffix = uuid.uuid4().hex[:6]
    clinic = Clinic(
        slug=f"ws-{tag}-{suffix}",
        name=f"Workspace {tag.title()} Clinic {suffix}",
        owner_email=f"owner.{tag}.{suffix}@workspace.example",
        owner_name=f"Olive {tag.title()}",
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.booking.onboard",
            "--slug",
            clinic.slug,
            "--name",
            clinic.name,
            "--timezone",
            "Europe/London",
            "--address",
            "1 River Lane, Bristol BS1 4AA",
            "--email",
            f"hello.{suffix}@workspace.example",
            "--owner-email",
            clinic.owner_email,
            "--owner-name",
            clinic.owner_name,
        ],
        cwd=REPO_ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert re.search(rf"^clinic {clinic.slug}: [0-9a-f-]{{36}}$", done.stdout, re.M), done.stdout
    assert "token=" not in done.stdout + done.stderr  # the link is the owner's secret: only in their email
    return dataclasses.replace(clinic, printed=done.stdout)


async def mailbox(stack, address: str, kind: str) -> list[dict]:
    """What the stack's SMTP sink caught for `address` of this kind (the dev mailbox's JSON), newest first."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{stack.url()}/dev/mailbox/messages") as resp:
            assert resp.status == 200, await resp.text()
            messages = (await resp.json())["messages"]
    return [m for m in messages if m["to"] == address and m["kind"] == kind]


async def emailed(stack, address: str, kind: str) -> dict:
    [message] = await wait_for(
        lambda: mailbox(stack, address, kind), timeout=MAIL_SECONDS, interval=0.3, what=f"the {kind} email to {address}"
    )
    return message


async def set_password_link(stack, address: str) -> tuple[dict, str]:
    message = await emailed(stack, address, "staff_invited")
    [link] = LINK.findall(message["text"])
    return message, link


# --- axe-core on every dashboard page, at both widths -------------------------------------------------------------


class Judge:
    """The dashboard pages one person saw: each photographed, and judged by axe-core at phone and desktop width
    (no violation of impact serious or critical, no sideways scrolling); the page is left at its own width."""

    def __init__(self, page: Page, name: str):
        self.page, self.name, self.seen = page, name, 0
        self.axe = Axe()

    async def check(self, what: str) -> None:
        self.seen += 1
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(ARTIFACTS / f"{self.name}-{self.seen:02d}-{what}.png"), full_page=True)
        own = self.page.viewport_size
        try:
            for width, size in sorted(WIDTHS.items(), key=lambda item: item[1] != own):  # its own width first
                if size != self.page.viewport_size:
                    await self.page.set_viewport_size(size)
                results = await self.axe.run(self.page)
                serious = [v for v in results.response["violations"] if v["impact"] in BLOCKING]
                assert not serious, (
                    what,
                    width,
                    [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in serious],
                )
                assert await self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
                    what,
                    width,
                )
        finally:
            if self.page.viewport_size != own:
                await self.page.set_viewport_size(own)


# --- the dashboard, as its people use it --------------------------------------------------------------------------


async def choose_password(page: Page, judge: Judge, link: str, *, keyboard: bool = False) -> None:
    """The emailed link opened: the password chosen (typed twice), then the sign-in page says it is set."""
    await page.goto(link)
    await expect(page.get_by_role("heading", name="Choose your password")).to_be_visible()
    assert "token" not in page.url  # taken out of the address at once
    await judge.check("set-password")
    if keyboard:
        await tab_to(page, "New password")
        await page.keyboard.type(PASSWORD)
        await tab_to(page, "Type the password again")
        await page.keyboard.type(PASSWORD)
        await tab_to(page, "Set password")
        await press_and_load(page, "Enter")
    else:
        await page.get_by_label("New password").fill(PASSWORD)
        await page.get_by_label("Type the password again").fill(PASSWORD)
        await page.get_by_role("button", name="Set password").click()
    await expect(page.get_by_text("Your password is set.")).to_be_visible()
    await judge.check("password-set")


async def sign_in(page: Page, email: str, *, keyboard: bool = False) -> None:
    await expect(page.get_by_role("heading", name="Sign in to your clinic dashboard")).to_be_visible()
    if keyboard:
        await tab_to(page, "Email address")
        await page.keyboard.type(email)
        await tab_to(page, "Password")
        await page.keyboard.type(PASSWORD)
        await tab_to(page, "Sign in")
        await press_and_load(page, "Enter")
    else:
        await page.get_by_label("Email address").fill(email)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()


async def owner_signs_up(page: Page, judge: Judge, stack, clinic: Clinic) -> None:
    """The owner's first visit: the password from the onboarding email, then signed in to the clinic's home."""
    message, link = await set_password_link(stack, clinic.owner_email)
    assert message["subject"] == f"{clinic.name} is ready: set your password"
    await choose_password(page, judge, link)
    await sign_in(page, clinic.owner_email)
    await expect(page.get_by_role("heading", name=clinic.name)).to_be_visible()
    await expect(page.get_by_text(f"Signed in as {clinic.owner_name}")).to_be_visible()
    await judge.check("home")


def nav(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Clinic workspace")


async def tab_to_input(page: Page, element_id: str, presses: int = 200) -> None:
    """Tab until the input of that id has the focus (a time input takes a Tab for each of its hours and minutes)."""
    for _ in range(presses):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"Tab never reached #{element_id}")


async def shown_within_the_cache(page: Page, url: str, thing: Locator) -> None:
    """The booking pages keep a clinic's catalogue a few seconds: look again (with Playwright's own waiting)
    until `thing` is there, at most three times that long."""
    deadline = time.monotonic() + 3 * CATALOGUE_SECONDS
    while True:
        await page.goto(url)
        try:
            await expect(thing).to_be_visible(timeout=1_000)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise


# --- set-up through the APIs (for the proofs whose subject is elsewhere) ------------------------------------------


class ClinicCalls:
    """The clinic API as the signed-in owner (a `cst_` staff token), and the public booking API, through the
    gateway."""

    def __init__(self, http: aiohttp.ClientSession, stack, token: str = ""):
        self.http, self.stack, self.token = http, stack, token

    async def call(self, method: str, path: str, status: int = 200, **kwargs) -> dict:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with self.http.request(method, self.stack.url() + path, headers=headers, **kwargs) as resp:
            text = await resp.text()
            assert resp.status == status, (method, path, resp.status, text[:2000])
            return await resp.json() if text else {}

    async def signed_in(self, email: str) -> ClinicCalls:
        made = await self.call("POST", "/api/v1/staff/sessions", 201, json={"email": email, "password": PASSWORD})
        return ClinicCalls(self.http, self.stack, made["token"])


@dataclass(frozen=True)
class Catalogue:
    treatment: str
    treatment_name: str
    therapist: str
    therapist_name: str
    price: int


async def a_therapist_working_every_day(owner: ClinicCalls, tag: str) -> Catalogue:
    """A treatment (60 min, £60) and a therapist who gives it, 09:00–17:00 every day."""
    treatment_name, therapist_name = f"Deep tissue {tag}", f"Tessa {tag.title()} Moss"
    price = 6000
    treatment = await owner.call(
        "POST",
        "/api/v1/clinic/treatments",
        201,
        json={"name": treatment_name, "duration_minutes": 60, "price": {"amount": price, "currency": "GBP"}},
    )
    therapist = await owner.call(
        "POST", "/api/v1/clinic/therapists", 201, json={"name": therapist_name, "treatments": [treatment["id"]]}
    )
    week = {"hours": [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(7)], "breaks": []}
    await owner.call("PUT", f"/api/v1/clinic/therapists/{therapist['id']}/hours", json=week)
    return Catalogue(treatment["id"], treatment_name, therapist["id"], therapist_name, price)


async def free_starts(public: ClinicCalls, clinic: Clinic, catalogue: Catalogue, day: date) -> list[str]:
    params = {
        "treatment": catalogue.treatment,
        "therapist": catalogue.therapist,
        "from": day.isoformat(),
        "to": day.isoformat(),
    }
    found = await public.call("GET", f"/api/v1/clinics/{clinic.slug}/availability", params=params)
    return [slot["start"] for slot in found["slots"]]


async def a_paid_booking(public: ClinicCalls, clinic: Clinic, catalogue: Catalogue, day: date, customer: dict) -> dict:
    """A customer holds the therapist's first free time on `day`, books it and pays by card (fake Stripe); the
    booking once confirmed."""
    start = (await free_starts(public, clinic, catalogue, day))[0]
    body = {"clinic": clinic.slug, "treatment": catalogue.treatment, "therapist": catalogue.therapist, "start": start}
    held = await public.call("POST", "/api/v1/holds", 201, json=body)
    booking = await public.call(
        "POST",
        "/api/v1/bookings",
        201,
        json={"hold": held["id"], "customer": customer, "screening": {"answers": ALL_CLEAR}},
    )
    stripe_url = f"http://127.0.0.1:{public.stack.env['FAKE_STRIPE_PORT']}"
    assert await customer_pays(stripe_url, booking["payment"]["stripe_payment_intent"]) == "succeeded"
    token = booking["manage_url"].split("token=", 1)[1]

    async def confirmed():
        seen = await public.call("GET", f"/api/v1/bookings/{booking['id']}", params={"token": token})
        return seen if seen["status"] == "confirmed" else None

    return {
        **await wait_for(confirmed, timeout=DELIVERY_SECONDS, interval=0.3, what="the booking confirmed"),
        **booking,
    }


# --- 1. onboarding to a customer's booking in the diary ------------------------------------------------------------


async def test_a_new_clinic_s_owner_sets_up_with_the_keyboard_and_a_customer_s_booking_lands_in_the_diary(
    browser, stack
):
    clinic = onboard(stack, "keys")
    assert f"signs in at {stack.url()}/clinic/sign-in" in clinic.printed
    suffix = uuid.uuid4().hex[:4]
    treatment_name, therapist_name = f"Sports massage {suffix}", f"Kim Keys {suffix}"
    owner = await browser.new_context(viewport=DESKTOP, base_url=stack.url(), locale="en-GB")
    customer = await browser.new_context(viewport=PHONE, base_url=stack.url(), locale="en-GB")
    try:
        page = await owner.new_page()
        judge = Judge(page, "workspace-onboarding")
        message, link = await set_password_link(stack, clinic.owner_email)
        assert message["subject"] == f"{clinic.name} is ready: set your password"
        await choose_password(page, judge, link, keyboard=True)
        await sign_in(page, clinic.owner_email, keyboard=True)
        await expect(page.get_by_role("heading", name=clinic.name)).to_be_visible()
        # The emailed link did its one job: opened again, it sets nothing.
        await page.goto(link)
        await page.get_by_label("New password").fill("another long password")
        await page.get_by_label("Type the password again").fill("another long password")
        await page.get_by_role("button", name="Set password").click()
        await expect(page.get_by_role("heading", name="This link has already been used")).to_be_visible()
        await judge.check("link-used")
        await page.goto("/clinic")
        await expect(page.get_by_role("heading", name=clinic.name)).to_be_visible()
        await expect(page.get_by_text(f"Signed in as {clinic.owner_name}")).to_be_visible()
        await judge.check("home")

        # The catalogue: the clinic's first treatment, typed in.
        await tab_to(page, "Catalogue")
        await press_and_load(page, "Enter")
        await expect(page.get_by_role("heading", name="Catalogue", exact=True)).to_be_visible()
        await judge.check("catalogue-empty")
        await tab_to(page, "Add a treatment")
        await press_and_load(page, "Enter")
        await judge.check("treatment-new")
        await tab_to(page, "Name")
        await page.keyboard.type(treatment_name)
        await tab_to(page, "Length in minutes")
        await page.keyboard.type("60")
        await tab_to(page, "Price in pounds")
        await page.keyboard.type("55.00")
        await tab_to(page, "Add treatment")
        await press_and_load(page, "Enter")
        await expect(page.get_by_text(f"{treatment_name} added.")).to_be_visible()
        row = page.get_by_role("row").filter(has_text=treatment_name)
        await expect(row).to_contain_text("£55.00")
        await judge.check("catalogue")

        # Its first therapist, who gives it.
        await tab_to(page, "Therapists")
        await press_and_load(page, "Enter")
        await expect(page.get_by_text("No therapists yet.")).to_be_visible()
        await judge.check("therapists-empty")
        await tab_to(page, "Name")
        await page.keyboard.type(therapist_name)
        await tab_to(page, "Qualifications")
        await page.keyboard.type("Level 5 Clinical Massage")
        await tab_to(page, treatment_name)
        await page.keyboard.press("Space")
        await tab_to(page, "Add therapist")
        await press_and_load(page, "Enter")
        await expect(page.get_by_text(f"{therapist_name} added.")).to_be_visible()
        await judge.check("therapist")

        # Their week: 09:00 to 17:00 every day (the customer books whatever day the test runs on).
        await tab_to(page, "Change working hours")
        await press_and_load(page, "Enter")
        await expect(page.get_by_role("heading", name=f"{therapist_name}'s working hours")).to_be_visible()
        await judge.check("hours")
        for weekday in range(7):
            for end, clock in (("start", "09:00"), ("end", "17:00")):
                await tab_to_input(page, f"h{weekday}_0_{end}")
                await page.keyboard.type(clock)
        await tab_to(page, "Save working hours", presses=400)
        await press_and_load(page, "Enter")
        await expect(page.get_by_text(f"{therapist_name}'s working week saved.")).to_be_visible()
        for day in ("Monday", "Sunday"):
            await expect(page.get_by_role("row").filter(has_text=day)).to_contain_text("09:00–17:00")
        await judge.check("therapist-with-hours")

        # A customer, in a browser of their own, books one of that therapist's times and pays by (test) card.
        shop = await customer.new_page()
        await shown_within_the_cache(shop, f"/c/{clinic.slug}/book", shop.get_by_label(treatment_name))
        await shop.get_by_label(treatment_name).check()
        await shop.get_by_role("button", name="Continue").click()
        await shop.get_by_label(therapist_name).check()
        await shop.get_by_role("button", name="Continue").click()
        await expect(shop.get_by_role("heading", name="Choose a time")).to_be_visible()
        await expect(shop.get_by_text(f"{treatment_name} with {therapist_name}.")).to_be_visible()
        await shop.get_by_role("link", name="First available time").click()
        slot = shop.locator("button.slot").first
        await expect(slot).to_have_accessible_name(re.compile(r"^\d\d:\d\d$"))
        clock = (await slot.inner_text()).strip()
        start = datetime.fromisoformat((await slot.get_attribute("value")).split("|", 1)[1]).astimezone(ZONE)
        assert f"{start:%H:%M}" == clock and "09:00" <= clock <= "16:00"
        await slot.click()
        await expect(shop.get_by_role("heading", name="Before your treatment")).to_be_visible()
        for group in await shop.locator("fieldset").all():
            await group.get_by_label("No", exact=True).check()
        await shop.get_by_role("button", name="Continue").click()
        grace = f"grace.{suffix}@example.com"
        await shop.get_by_label("Full name").fill("Grace Hopper")
        await shop.get_by_label("Email address").fill(grace)
        await shop.get_by_label("I have read the cancellation policy").check()
        await shop.get_by_role("button", name="Continue to payment").click()
        await expect(shop.get_by_text("Test mode.")).to_be_visible()
        await shop.get_by_role("button", name="Pay £55.00").click()
        await expect(shop.get_by_role("heading", name="Booking confirmed")).to_be_visible(timeout=20_000)

        # The owner's diary has it, on its day, and its page says it is confirmed and paid.
        await tab_to(page, "Diary")
        await press_and_load(page, "Enter")
        await page.goto(f"/clinic/diary?date={start.date().isoformat()}")
        entry = page.get_by_role("link", name=re.compile(rf"^Grace Hopper: {re.escape(treatment_name)}"))
        await expect(entry).to_be_visible()
        await expect(page.get_by_role("heading", name=therapist_name)).to_be_visible()
        await judge.check("diary-day")
        await entry.click()
        await expect(page.get_by_text("Confirmed").first).to_be_visible()
        await expect(page.get_by_text(grace).first).to_be_visible()
        await judge.check("booking")
    finally:
        await owner.close()
        await customer.close()


# --- 2. time off over a booking ------------------------------------------------------------------------------------


async def test_time_off_over_a_booking_is_refused_until_the_booking_is_cancelled_for_the_customer(
    browser, stack, stack_db
):
    clinic = onboard(stack, "leave")
    day = next_weekday(2)  # a Wednesday, a week or more ahead
    grace = f"grace.leave.{uuid.uuid4().hex[:6]}@example.com"
    async with aiohttp.ClientSession() as http:
        public = ClinicCalls(http, stack)
        owner_context = await browser.new_context(viewport=PHONE, base_url=stack.url(), locale="en-GB")
        customer_context = await browser.new_context(viewport=PHONE, base_url=stack.url(), locale="en-GB")
        try:
            page = await owner_context.new_page()
            judge = Judge(page, "workspace-time-off")
            await owner_signs_up(page, judge, stack, clinic)
            catalogue = await a_therapist_working_every_day(await public.signed_in(clinic.owner_email), "leave")
            booking = await a_paid_booking(public, clinic, catalogue, day, {"name": "Grace Hopper", "email": grace})
            shop = await customer_context.new_page()
            week = f"/c/{clinic.slug}/book?treatment={catalogue.treatment}&therapist={catalogue.therapist}"
            that_day = shop.locator("li.day").filter(has=shop.locator(f"#day-{day.isoformat()}"))
            await shown_within_the_cache(shop, f"{week}&week={day.isoformat()}", that_day.locator("button.slot").first)

            # Time off that day: refused, the booking in the way listed and linked.
            await nav(page).get_by_role("link", name="Therapists").click()
            await page.get_by_role("link", name=catalogue.therapist_name).click()
            await page.get_by_label("First day").fill(day.isoformat())
            await page.get_by_label("Reason (optional)").fill("Holiday")
            await page.get_by_role("button", name="Add time off").click()
            await expect(page.get_by_role("heading", name="Bookings in the way")).to_be_visible()
            await expect(page.get_by_text("Nothing has been saved.")).to_be_visible()
            listed = page.get_by_role("row").filter(has_text="Grace Hopper")
            await expect(listed).to_contain_text(catalogue.treatment_name)
            await expect(listed.get_by_role("link")).to_have_attribute("href", f"/clinic/bookings/{booking['id']}")
            await expect(page.locator("tbody tr")).to_have_count(1)
            await judge.check("in-the-way")

            # Cancelled on behalf of the customer, from its page.
            await listed.get_by_role("link").click()
            await expect(page.get_by_text("Confirmed").first).to_be_visible()
            await judge.check("booking")
            await page.get_by_role("link", name="Cancel the booking").click()
            await expect(page.get_by_role("heading", name="Cancel this booking?")).to_be_visible()
            await judge.check("cancel-question")
            await page.get_by_label("Why is it cancelled?").fill("Tessa is on holiday that day")
            await page.get_by_role("button", name="Cancel the booking").click()
            await expect(
                page.get_by_text("Booking cancelled. The customer gets a full refund and an email")
            ).to_be_visible()
            await judge.check("cancelled")
            told = await emailed(stack, grace, "booking_cancelled")
            assert catalogue.treatment_name in told["text"]
            [refund] = await wait_for(
                lambda: refunds_at_fake_stripe(stack, stack_db, booking["id"]),
                timeout=DELIVERY_SECONDS,
                what="the refund at the fake Stripe",
            )
            assert refund.status == "succeeded" and refund.amount == catalogue.price
            refunded = await emailed(stack, grace, "payment_refunded")
            assert "£60.00" in refunded["text"], refunded["text"]

            # Now the time off is taken, and the day has no free times on the public page.
            await page.goto(f"/clinic/therapists/{catalogue.therapist}")
            await page.get_by_label("First day").fill(day.isoformat())
            await page.get_by_role("button", name="Add time off").click()
            await expect(page.get_by_text(f"Time off added for {catalogue.therapist_name}.")).to_be_visible()
            await expect(page.get_by_role("row").filter(has_text="(whole day)")).to_be_visible()
            await judge.check("time-off-added")
            await shop.reload()
            await expect(that_day).to_contain_text("No free times.")
            await expect(that_day.locator("button.slot")).to_have_count(0)
            assert await free_starts(public, clinic, catalogue, day) == []
        finally:
            await owner_context.close()
            await customer_context.close()


# --- 3. webhooks: a test event, a real delivery, replayed -----------------------------------------------------------


async def test_the_owner_adds_a_webhook_endpoint_and_replays_a_real_booking_s_delivery(browser, stack, receiver):
    clinic = onboard(stack, "hooks")
    async with aiohttp.ClientSession() as http:
        public = ClinicCalls(http, stack)
        context = await browser.new_context(viewport=DESKTOP, base_url=stack.url(), locale="en-GB")
        try:
            page = await context.new_page()
            judge = Judge(page, "workspace-webhooks")
            await owner_signs_up(page, judge, stack, clinic)
            catalogue = await a_therapist_working_every_day(await public.signed_in(clinic.owner_email), "hooks")

            await nav(page).get_by_role("link", name="Integrations").click()
            await expect(page.get_by_role("heading", name="Integrations", exact=True)).to_be_visible()
            await judge.check("integrations")
            await page.get_by_label("Endpoint URL").fill(receiver.url)
            await page.get_by_label("Booking created").check()
            await page.get_by_label("Description (optional)").fill("Reception's screen")
            await page.get_by_role("button", name="Add endpoint").click()
            await expect(page.get_by_text("This is the only time it is shown.")).to_be_visible()
            secret = (await page.locator("#secret").inner_text()).strip()
            assert secret.startswith("whsec_")
            await judge.check("secret")
            await page.get_by_role("link", name="I have copied it").click()
            await expect(page.get_by_role("heading", name="Webhook endpoint")).to_be_visible()
            await judge.check("endpoint")

            await page.get_by_role("button", name="Send test event").click()
            await expect(page.get_by_text("Test event sent.")).to_be_visible()

            async def test_event():
                return [r for r in receiver.received if b'"webhook.test"' in r.body]

            [tested] = await wait_for(test_event, timeout=DELIVERY_SECONDS, what="the test event at the receiver")
            assert Webhook(secret).verify(tested.body, tested.headers)["type"] == "webhook.test"

            booking = await a_paid_booking(
                public, clinic, catalogue, next_weekday(3), {"name": "Kay Oduya", "email": "kay.hooks@example.com"}
            )

            async def booking_delivered():
                return [r for r in receiver.received if booking["id"].encode() in r.body]

            [delivered] = await wait_for(booking_delivered, timeout=DELIVERY_SECONDS, what="the booking's webhook")
            body = Webhook(secret).verify(delivered.body, delivered.headers)
            assert body["type"] == "booking.created" and body["data"]["booking_id"] == booking["id"]
            webhook_id = delivered.headers["webhook-id"]

            row = page.get_by_role("row").filter(has_text=webhook_id)

            async def logged():
                await page.reload()
                return await row.count() == 1 and "Succeeded" in await row.inner_text()

            await wait_for(logged, timeout=DELIVERY_SECONDS, interval=0.5, what="the booking's delivery in the log")
            await expect(row).to_contain_text("Booking created")
            await judge.check("log")
            await tab_to_words(page, f"Replay delivery {webhook_id}")
            await press_and_load(page, "Enter")
            await expect(
                page.get_by_text("Delivery queued to be sent again, with the same webhook-id.")
            ).to_be_visible()

            async def second_attempt():
                same = [r for r in receiver.received if r.headers["webhook-id"] == webhook_id]
                return same if len(same) == 2 else None

            again = (await wait_for(second_attempt, timeout=DELIVERY_SECONDS, what="the replay at the receiver"))[1]
            assert Webhook(secret).verify(again.body, again.headers)["data"]["booking_id"] == booking["id"]

            async def two_tries_shown():
                await page.reload()
                return (await row.locator('[data-label="Tries"]').inner_text()).strip() == "2"

            await wait_for(two_tries_shown, timeout=DELIVERY_SECONDS, interval=0.5, what="the second try in the log")
            await row.locator("details.attempts summary").click()
            await expect(row.locator("details.attempts li")).to_have_count(2)
            await judge.check("replayed")
        finally:
            await context.close()


# --- 4. the therapist's calendar feed -------------------------------------------------------------------------------


async def test_a_therapist_s_calendar_feed_shows_initials_only_and_is_gone_once_turned_off(browser, stack):
    clinic = onboard(stack, "feed")
    customer = {"name": "Grace Brewster Hopper", "email": "grace.feed@example.com", "phone": "+44 7700 900123"}
    async with aiohttp.ClientSession() as http:
        public = ClinicCalls(http, stack)
        context = await browser.new_context(viewport=PHONE, base_url=stack.url(), locale="en-GB")
        try:
            page = await context.new_page()
            judge = Judge(page, "workspace-feed")
            await owner_signs_up(page, judge, stack, clinic)
            catalogue = await a_therapist_working_every_day(await public.signed_in(clinic.owner_email), "feed")
            booking = await a_paid_booking(public, clinic, catalogue, next_weekday(1), customer)

            await nav(page).get_by_role("link", name="Therapists").click()
            await judge.check("therapists")
            await page.get_by_role("link", name=catalogue.therapist_name).click()
            await expect(page.get_by_role("heading", name="Calendar feed")).to_be_visible()
            await judge.check("therapist")
            await page.get_by_role("button", name="Make a calendar feed address").click()
            address = page.get_by_label("Calendar feed address")
            await expect(address).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+/api/v1/calendar/.+\.ics$"))
            url = (await address.input_value()).strip()
            await judge.check("feed-address")

            async with http.get(url) as resp:
                assert resp.status == 200, await resp.text()
                assert resp.content_type == "text/calendar"
                raw = await resp.text()
            [event] = Calendar.from_ical(raw).walk("VEVENT")
            assert str(event["SUMMARY"]) == f"{catalogue.treatment_name} \u2014 G. H."
            assert event.decoded("DTSTART") == datetime.fromisoformat(booking["start"])
            unfolded = raw.replace("\r\n ", "")
            for secret in ("Grace", "Brewster", "Hopper", customer["email"], "7700", "900123", "screening"):
                assert secret.lower() not in unfolded.lower(), secret

            await page.get_by_role("link", name=f"Done: back to {catalogue.therapist_name}").click()
            fetched = page.locator("dl.summary > div").filter(has_text="Last fetched")
            await expect(fetched).to_be_visible()
            await expect(fetched).not_to_contain_text("Not yet fetched")  # the poll above is on record
            await page.get_by_role("button", name="Turn off the feed").click()
            await expect(page.get_by_text(f"{catalogue.therapist_name}'s calendar feed is turned off.")).to_be_visible()
            await expect(page.get_by_role("button", name="Make a calendar feed address")).to_be_visible()
            await judge.check("feed-off")
            async with http.get(url) as resp:
                assert resp.status == 404, await resp.text()
        finally:
            await context.close()


# --- 5. a staff account: no API keys, no webhooks --------------------------------------------------------------------


async def test_a_staff_account_invited_from_the_staff_page_cannot_see_api_keys_or_webhooks(browser, stack):
    clinic = onboard(stack, "staff")
    sam = f"sam.{uuid.uuid4().hex[:6]}@workspace.example"
    async with aiohttp.ClientSession() as http:
        owner_context = await browser.new_context(viewport=DESKTOP, base_url=stack.url(), locale="en-GB")
        staff_context = await browser.new_context(viewport=PHONE, base_url=stack.url(), locale="en-GB")
        try:
            page = await owner_context.new_page()
            judge = Judge(page, "workspace-staff-owner")
            await owner_signs_up(page, judge, stack, clinic)
            # An endpoint and an API key of the clinic's (set-up): what reception must not see.
            owner_calls = await ClinicCalls(http, stack).signed_in(clinic.owner_email)
            endpoint = await owner_calls.call(
                "POST",
                "/api/v1/clinic/webhook-endpoints",
                201,
                json={"url": "http://127.0.0.1:9/hooks", "events": ["booking.created"]},
            )
            key = await owner_calls.call("POST", "/api/v1/clinic/api-keys", 201, json={"name": "Front desk till"})

            await nav(page).get_by_role("link", name="Staff").click()
            await expect(page.get_by_role("heading", name="Staff", exact=True)).to_be_visible()
            await judge.check("staff")
            await page.get_by_label("Full name").fill("Sam Lee")
            await page.get_by_label("Email address").fill(sam)
            await page.get_by_label("Staff (reception)").check()
            await page.get_by_role("button", name="Send invitation").click()
            await expect(page.get_by_text("Invitation sent.")).to_be_visible()
            invited = page.get_by_role("row").filter(has_text=sam)
            await expect(invited).to_contain_text("Invited")
            await judge.check("staff-invited")

            staff_page = await staff_context.new_page()
            staff_judge = Judge(staff_page, "workspace-staff-reception")
            message, link = await set_password_link(stack, sam)
            assert message["subject"] == f"You are invited to {clinic.name}: set your password"
            await choose_password(staff_page, staff_judge, link)
            await sign_in(staff_page, sam)
            await expect(staff_page.get_by_text("Signed in as Sam Lee")).to_be_visible()
            await staff_judge.check("home")
            for hidden in ("Integrations", "Staff", "Settings"):
                await expect(staff_page.get_by_role("link", name=hidden, exact=True)).to_have_count(0)
            await expect(staff_page.get_by_role("link", name=re.compile("API key|webhook", re.I))).to_have_count(0)
            await expect(nav(staff_page).get_by_role("link", name="Diary")).to_be_visible()

            for refused in ("/clinic/integrations", f"/clinic/integrations/webhooks/{endpoint['id']}", "/clinic/staff"):
                resp = await staff_page.goto(refused)
                assert resp.status == 403, (refused, resp.status)
                await expect(staff_page.get_by_role("heading", name="You cannot use this page")).to_be_visible()
                await expect(staff_page.get_by_text(endpoint["url"])).to_have_count(0)
                await expect(staff_page.get_by_text(key["prefix"])).to_have_count(0)
            await staff_judge.check("refused")
            for allowed in ("Diary", "Catalogue", "Therapists", "Vouchers"):  # reception's own areas, judged too
                await nav(staff_page).get_by_role("link", name=allowed).click()
                await expect(staff_page.get_by_role("heading", level=1)).to_be_visible()
                await staff_judge.check(allowed.lower())

            await page.reload()
            await expect(invited).to_contain_text("Active")
        finally:
            await owner_context.close()
            await staff_context.close()
