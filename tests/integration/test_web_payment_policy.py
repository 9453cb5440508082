"""The payment policy on the pages (issue 20), as a browser without JavaScript uses them, through the gateway, on
the real booking and payments services: the owner sets the clinic's policy on the Settings page and a treatment's
own on its form (radios with their deposit inputs, errors in sentences beside them, nothing changed on an error);
customers read each treatment's policy in words when choosing, pay only the deposit, and the confirmation, the
manage page and the diary's booking page say what is due at the clinic."""

from __future__ import annotations

import json
import re
import uuid

from services.booking.seed import stable_id
from tests.integration.test_web_booking import ALL_CLEAR, DETAILS, choose_a_slot, page
from tests.support.booking import CLINIC
from tests.support.dashboard import (  # noqa: F401  (dashboard, owner: fixtures)
    csrf_of,
    dashboard,
    owner,
    signed_in,
)
from tests.support.dashboard import (
    page as dashboard_page,  # every dashboard page is no-store
)

SETTINGS = "/clinic/settings"
CATALOGUE = "/clinic/catalogue"
SWEDISH = str(stable_id(CLINIC, "treatment", "swedish-60"))
DEPOSIT_WORDS = "Pay a deposit of £13.00 now (20%); the rest, £52.00, at the clinic."


def settings_form(text: str) -> dict[str, str]:
    """The settings form as the page filled it in, with its ticked radio (a browser sends them all)."""
    values = dict(re.findall(r'<input id="[^"]+" name="([^"]+)" type="(?:text|email|tel)" value="([^"]*)"', text))
    values |= dict(re.findall(r'<textarea id="[^"]+" name="([^"]+)"[^>]*>([^<]*)</textarea>', text, re.S))
    values |= dict(re.findall(r'name="(payment_mode)" type="radio" value="([^"]+)" checked', text))
    return {"csrf": csrf_of(text), **values}


async def clinic_policy(pool):
    async with pool.acquire() as conn:
        found = await conn.fetchval("SELECT payment_policy FROM clinics WHERE slug = $1", CLINIC)
    return json.loads(found) if isinstance(found, str) else found


async def treatment_policy(pool, treatment_id: str):
    async with pool.acquire() as conn:
        found = await conn.fetchval("SELECT payment_policy FROM treatments WHERE id = $1", uuid.UUID(treatment_id))
    return json.loads(found) if isinstance(found, str) else found


async def set_clinic_policy(site, policy_fields: dict[str, str]) -> None:
    form = settings_form(await dashboard_page(await site.get(SETTINGS)))
    resp = await site.post(SETTINGS, data={**form, **policy_fields}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == f"{SETTINGS}?done=saved", await resp.text()


async def test_the_owner_sets_the_clinics_deposit_and_reads_it_back(dashboard, owner, booking_pool):
    await signed_in(dashboard)
    shown = await dashboard_page(await dashboard.get(SETTINGS))
    assert "How customers pay when they book" in shown
    assert 'name="payment_mode" type="radio" value="full" checked' in shown, "the default: the full price"
    assert 'value="clinic"' not in shown, "the clinic's own policy has no 'use the clinic's'"
    await set_clinic_policy(dashboard, {"payment_mode": "percent", "deposit_percent": "20"})
    assert await clinic_policy(booking_pool) == {"mode": "deposit", "deposit": {"percent": 20}}
    again = await dashboard_page(await dashboard.get(SETTINGS))
    assert 'value="percent" checked' in again and 'name="deposit_percent" type="text" value="20"' in again
    await set_clinic_policy(dashboard, {"payment_mode": "amount", "deposit_amount": "15.50", "deposit_percent": "x"})
    assert await clinic_policy(booking_pool) == {
        "mode": "deposit",
        "deposit": {"amount": {"amount": 1550, "currency": "GBP"}},
    }
    assert 'name="deposit_amount" type="text" value="15.50"' in await dashboard_page(await dashboard.get(SETTINGS))
    await set_clinic_policy(dashboard, {"payment_mode": "full"})
    assert await clinic_policy(booking_pool) == {"mode": "full"}


async def test_a_deposit_typed_wrong_is_said_beside_its_input_kept_and_changes_nothing(dashboard, owner, booking_pool):
    await signed_in(dashboard)
    form = settings_form(await dashboard_page(await dashboard.get(SETTINGS)))
    ours = await dashboard_page(
        await dashboard.post(SETTINGS, data={**form, "payment_mode": "percent", "deposit_percent": "a fifth"}), 400
    )
    assert 'href="#deposit_percent">Enter the deposit as a whole number percent, like 20</a>' in ours
    assert 'value="a fifth"' in ours and 'value="percent" checked' in ours
    theirs = await dashboard_page(
        await dashboard.post(SETTINGS, data={**form, "payment_mode": "percent", "deposit_percent": "150"}), 400
    )
    assert 'href="#deposit_percent">A deposit percent must be a whole number from 1 to 99.</a>' in theirs
    assert 'id="deposit_percent-error"' in theirs and 'value="150"' in theirs
    assert await clinic_policy(booking_pool) == {"mode": "full"}


async def test_a_treatment_has_its_own_policy_or_the_clinics(dashboard, owner, booking_pool):
    await signed_in(dashboard)
    form = await dashboard_page(await dashboard.get(f"{CATALOGUE}/treatments/{SWEDISH}"))
    assert "Use the clinic's policy" in form and 'value="clinic" checked' in form
    values = {
        "name": "Swedish massage (60 min)",
        "slug": "swedish-60",
        "description": "Long, flowing strokes.",
        "duration": "60",
        "buffer_before": "0",
        "buffer_after": "10",
        "price": "60",
        "requires_screening": "yes",
        "csrf": csrf_of(form),
    }
    path = f"{CATALOGUE}/treatments/{SWEDISH}"
    refused = await dashboard_page(
        await dashboard.post(path, data={**values, "payment_mode": "amount", "deposit_amount": "ten"}), 400
    )
    assert 'href="#deposit_amount">Enter the deposit in pounds, like 20 or 20.50</a>' in refused
    assert 'value="ten"' in refused
    resp = await dashboard.post(
        path, data={**values, "payment_mode": "amount", "deposit_amount": "10"}, allow_redirects=False
    )
    assert resp.status == 303, await resp.text()
    assert await treatment_policy(booking_pool, SWEDISH) == {
        "mode": "deposit",
        "deposit": {"amount": {"amount": 1000, "currency": "GBP"}},
    }
    shown = await dashboard_page(await dashboard.get(path))
    assert 'value="amount" checked' in shown and 'name="deposit_amount" type="text" value="10.00"' in shown
    choosing = await page(await dashboard.get(f"/c/{CLINIC}/book"))
    assert "Pay a deposit of £10.00 now; the rest, £50.00, at the clinic." in choosing
    resp = await dashboard.post(path, data={**values, "payment_mode": "clinic"}, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    assert await treatment_policy(booking_pool, SWEDISH) is None


async def test_a_deposit_booking_pays_the_deposit_and_every_page_says_what_is_due_at_the_clinic(
    dashboard, owner, checkout, booking_pool
):
    await signed_in(dashboard)
    await set_clinic_policy(dashboard, {"payment_mode": "percent", "deposit_percent": "20"})
    choosing = await page(await dashboard.get(f"/c/{CLINIC}/book"))
    assert f"60 minutes, £65.00. {DEPOSIT_WORDS}" in choosing  # Deep tissue massage (60 min)
    _, fields = await choose_a_slot(dashboard)
    screening = await page(await dashboard.post(f"/c/{CLINIC}/book/hold", data=fields))
    details = await page(
        await dashboard.post(f"/c/{CLINIC}/book/screening", data={"csrf": csrf_of(screening), **ALL_CLEAR})
    )
    pay = await page(
        await dashboard.post(f"/c/{CLINIC}/book/details", data={"csrf": csrf_of(details), **ALL_CLEAR, **DETAILS})
    )
    assert re.search(r"<dt>To pay now</dt><dd><strong>£13.00</strong> \(deposit\)</dd>", pay)
    assert "<dt>To pay at the clinic</dt><dd>£52.00</dd>" in pay
    confirming = await page(await dashboard.post(f"/c/{CLINIC}/book/pay", data={"csrf": csrf_of(pay), "card": "visa"}))
    assert "Confirming your booking" in confirming
    await checkout.reconcile()
    confirmed = await page(await dashboard.get(f"/c/{CLINIC}/book/confirming"))
    assert "Booking confirmed" in confirmed and "Paid: £13.00 deposit. To pay at the clinic: £52.00." in confirmed
    manage = re.search(r'href="http[^"]*(/manage/[0-9a-f-]+\?token=[^"]+)"', confirmed).group(1)
    managed = await page(await dashboard.get(manage))
    assert "<dt>To pay at the clinic</dt><dd>£52.00</dd>" in managed
    booking_id = manage.split("/")[2].split("?")[0]
    diary = await dashboard_page(await dashboard.get(f"/clinic/bookings/{booking_id}"))
    assert "<dt>Due at the clinic</dt><dd>£52.00</dd>" in diary


async def test_paid_in_full_the_pages_say_nothing_is_due_at_the_clinic(dashboard, owner, checkout):
    await signed_in(dashboard)
    choosing = await page(await dashboard.get(f"/c/{CLINIC}/book"))
    assert "60 minutes, £65.00. Pay £65.00 now." in choosing and "deposit" not in choosing
    _, fields = await choose_a_slot(dashboard)
    screening = await page(await dashboard.post(f"/c/{CLINIC}/book/hold", data=fields))
    details = await page(
        await dashboard.post(f"/c/{CLINIC}/book/screening", data={"csrf": csrf_of(screening), **ALL_CLEAR})
    )
    pay = await page(
        await dashboard.post(f"/c/{CLINIC}/book/details", data={"csrf": csrf_of(details), **ALL_CLEAR, **DETAILS})
    )
    assert "<dt>To pay now</dt><dd><strong>£65.00</strong></dd>" in pay and "To pay at the clinic" not in pay
    await page(await dashboard.post(f"/c/{CLINIC}/book/pay", data={"csrf": csrf_of(pay), "card": "visa"}))
    await checkout.reconcile()
    confirmed = await page(await dashboard.get(f"/c/{CLINIC}/book/confirming"))
    assert "Booking confirmed" in confirmed and "To pay at the clinic" not in confirmed
