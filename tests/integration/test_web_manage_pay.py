"""Paying for a phone booking from the link in the customer's email, as a browser without JavaScript does it,
through the gateway: the manage page asks for the amount due by the pay-by time, the pay page takes the card
(the offline test-card form, or Stripe's Payment Element when the publishable key is set), and once the
payment's event is handled the manage page says the booking is confirmed. The token is only ever in the
email's own link."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from tests.integration.test_web_booking import booked_by_api, csrf_of, page, site  # noqa: F401
from tests.integration.test_web_card_payment import FAKE_KEY, STRIPE_JS, csp_sources
from tests.support.booking import ALL_CLEAR, CLINIC, THERAPIST, TREATMENT, free_slots, next_weekday
from tests.support.clinic_api import bearer

PAY_BUTTON = re.compile(r'<form method="post" action="/manage/[0-9a-f-]+/pay">')


@pytest.fixture
def publishable_key() -> str:
    return ""  # the offline test-card form, unless a test is parametrized with a key


@pytest.fixture
def settings(settings, publishable_key):
    return settings.with_overrides(stripe_publishable_key=publishable_key)


async def phone_booking(site, keys) -> tuple[str, str, str]:
    """A phone booking the clinic made to be paid online: its id, its email's link (path and query), its token."""
    slot = (await free_slots(site, next_weekday(3, weeks_ahead=1)))[0]
    body = {
        "treatment": TREATMENT,
        "therapist": THERAPIST,
        "start": slot["start"],
        "customer": {"name": "Grace Hopper", "email": "grace@example.com", "phone": "07700 900123"},
        "payment": "online",
        "screening": {"answers": ALL_CLEAR},
    }
    resp = await site.post("/api/v1/clinic/bookings", json=body, headers=bearer(keys[CLINIC]))
    assert resp.status == 201, await resp.text()
    booked = await resp.json()
    assert booked["status"] == "pending_payment"
    link = booked["payment"]["pay_url"]
    return booked["id"], link[link.index("/manage/") :], link.split("token=", 1)[1]


async def status_of(booking_pool, booking_id: str) -> str:
    async with booking_pool.acquire() as conn:
        return await conn.fetchval("SELECT status FROM bookings WHERE id = $1", uuid.UUID(booking_id))


def no_token_in_urls(text: str, token: str) -> None:
    """The token is in form bodies only: in no link, form action or script address of the page."""
    urls = re.findall(r'(?:href|action|src|data-return-url)="([^"]*)"', text)
    assert urls and not [u for u in urls if token in u], urls


async def to_the_pay_page(site, booking_id: str, link: str, token: str) -> str:
    shown = await page(await site.get(link))
    resp = await site.post(
        f"/manage/{booking_id}/pay", data={"csrf": csrf_of(shown), "token": token}, allow_redirects=False
    )
    assert resp.status == 303 and resp.headers["Location"] == f"/manage/{booking_id}/pay", "no token in the URL"
    pay_resp = await site.get(resp.headers["Location"])
    assert pay_resp.headers["Cache-Control"] == "no-store"
    return await page(pay_resp)


async def test_the_manage_page_asks_for_the_payment_and_the_test_card_confirms_the_booking(
    site, keys, checkout, booking_pool
):
    booking_id, link, token = await phone_booking(site, keys)
    resp = await site.get(link)
    shown = await page(resp)
    assert resp.headers["Cache-Control"] == "no-store"
    # The call to action: the amount due and the pay-by time, in the clinic's zone, named.
    pay_by = re.search(r"<h2>Pay £65\.00 by ([^<]+)</h2>", shown)
    assert pay_by and re.fullmatch(r"\w+day \d{1,2} \w+ \d{4}, \d\d:\d\d \(UK time, (GMT|BST)\)", pay_by.group(1))
    async with booking_pool.acquire() as conn:
        expires = await conn.fetchval("SELECT expires_at FROM bookings WHERE id = $1", uuid.UUID(booking_id))
    assert datetime.now(timezone.utc) + timedelta(hours=23) < expires
    assert PAY_BUTTON.search(shown) and "Pay £65.00</button>" in shown and "Grace Hopper" in shown
    assert "Cancel this booking" not in shown and "Move this booking" not in shown, "not confirmed yet"

    pay = await to_the_pay_page(site, booking_id, link, token)
    assert "Pay for your booking" in pay and "To pay now" in pay and "£65.00" in pay and pay_by.group(1) in pay
    assert "Test mode." in pay and f'action="/manage/{booking_id}/pay/card"' in pay and "stripe.com" not in pay
    no_token_in_urls(pay, token)

    paid = await site.post(
        f"/manage/{booking_id}/pay/card", data={"csrf": csrf_of(pay), "card": "visa"}, allow_redirects=False
    )
    assert paid.status == 303 and paid.headers["Location"] == f"/manage/{booking_id}/confirming"
    waiting = await site.get(paid.headers["Location"])
    assert "Confirming your booking" in await page(waiting) and waiting.headers["Refresh"] == "2"
    assert await status_of(booking_pool, booking_id) == "pending_payment", "until the payment's event is handled"

    await checkout.reconcile()  # the payment event reaches the booking service
    back = await site.get(f"/manage/{booking_id}/confirming", allow_redirects=False)
    assert back.status == 303 and back.headers["Location"] == f"/manage/{booking_id}/confirmed"
    done_resp = await site.get(back.headers["Location"])
    done = await page(done_resp)
    assert done_resp.headers["Cache-Control"] == "no-store"
    assert "your booking is confirmed" in done and "Deep tissue massage (60 min)" in done
    assert not PAY_BUTTON.search(done) and "Cancel this booking" in done, "now the confirmed booking's page"
    assert await status_of(booking_pool, booking_id) == "confirmed"

    # The email's link now shows the confirmed booking: nothing to pay.
    again = await page(await site.get(link))
    assert not PAY_BUTTON.search(again) and "Pay £" not in again and "Move this booking" in again


async def test_a_declined_card_is_said_in_words_and_the_booking_still_waits_for_payment(
    site, keys, checkout, booking_pool
):
    booking_id, link, token = await phone_booking(site, keys)
    pay = await to_the_pay_page(site, booking_id, link, token)
    declined = await page(
        await site.post(f"/manage/{booking_id}/pay/card", data={"csrf": csrf_of(pay), "card": "declined"}), 400
    )
    assert "Your card was declined. Nothing was charged." in declined and 'href="#card"' in declined
    assert declined.startswith("<!doctype html>") and "<title>Error: Pay for your booking" in declined
    await checkout.reconcile()
    assert await status_of(booking_pool, booking_id) == "pending_payment"
    shown = await page(await site.get(link))
    assert PAY_BUTTON.search(shown) and "Pay £65.00 by" in shown, "still to be paid"
    missing = await page(await site.post(f"/manage/{booking_id}/pay/card", data={"csrf": csrf_of(pay)}), 400)
    assert "Choose a test card" in missing


async def test_a_confirmed_booking_has_nothing_to_pay(site, checkout):
    booking_id, link = await booked_by_api(site, checkout)
    shown = await page(await site.get(link))
    assert "Your booking" in shown and not PAY_BUTTON.search(shown) and "Pay £" not in shown
    # Its pay page, reached anyway, goes to the confirmed booking.
    token = link.split("token=", 1)[1]
    resp = await site.post(f"/manage/{booking_id}/pay", data={"csrf": csrf_of(shown), "token": token})
    assert resp.url.path == f"/manage/{booking_id}/confirmed"
    assert "Cancel this booking" in await page(resp)


async def test_a_wrong_token_or_no_kept_token_is_the_invalid_link_page(site, keys, booking_pool):
    booking_id, link, token = await phone_booking(site, keys)
    forged = await page(await site.get(f"/manage/{booking_id}?token={token[:-2]}xx"), 403)
    assert "This link is not valid or has expired" in forged and "Pay £" not in forged
    shown = await page(await site.get(link))
    refused = await site.post(f"/manage/{booking_id}/pay", data={"csrf": csrf_of(shown), "token": "forged"})
    assert "This link is not valid or has expired" in await page(refused, 403)
    # No token kept in this browser for the booking: the payment's pages cannot be opened.
    for path in ("pay", "confirming", "confirmed"):
        expired = await page(await site.get(f"/manage/{booking_id}/{path}"), 403)
        assert "open the link in your email again" in expired, path
    card = await site.post(f"/manage/{booking_id}/pay/card", data={"csrf": csrf_of(shown), "card": "visa"})
    assert card.status == 403
    # Every form needs its CSRF token.
    no_csrf = await site.post(f"/manage/{booking_id}/pay", data={"token": token})
    assert "This form has expired" in await page(no_csrf, 403)
    assert await status_of(booking_pool, booking_id) == "pending_payment"


@pytest.mark.parametrize("lapse", ["pay-by time passed", "booking expired"])
async def test_a_booking_not_paid_in_time_has_lapsed_and_the_page_says_to_contact_the_clinic(
    site, keys, booking_pool, lapse
):
    booking_id, link, token = await phone_booking(site, keys)
    pay = await to_the_pay_page(site, booking_id, link, token)
    async with booking_pool.acquire() as conn:
        await conn.execute(
            "UPDATE bookings SET expires_at = now() - interval '1 minute'"
            + (", status = 'expired'" if lapse == "booking expired" else "")
            + " WHERE id = $1",
            uuid.UUID(booking_id),
        )
    shown = await page(await site.get(link))
    assert "This booking has lapsed" in shown and "hello@urbantherapy.example" in shown
    assert not PAY_BUTTON.search(shown) and "Pay £" not in shown and "Cancelling or changing" not in shown
    if lapse == "pay-by time passed":
        assert re.search(r"It was not paid by \w+day .*\(UK time, (GMT|BST)\)", shown)
    card = await page(
        await site.post(f"/manage/{booking_id}/pay/card", data={"csrf": csrf_of(pay), "card": "visa"}), 409
    )
    assert "This booking has lapsed" in card and "Test mode." not in card, "nothing charged"
    assert "This booking has lapsed" in await page(await site.get(f"/manage/{booking_id}/pay"), 409)


# --- with Stripe's Payment Element (STRIPE_PUBLISHABLE_KEY set; a fake key: nothing reaches Stripe) --------


@pytest.mark.parametrize("publishable_key", [FAKE_KEY])
async def test_with_the_key_the_pay_page_mounts_stripes_payment_element_for_the_bookings_intent(
    site, keys, payments_pool, settings
):
    booking_id, link, token = await phone_booking(site, keys)
    manage_resp = await site.get(link)
    assert "js.stripe.com" not in manage_resp.headers["Content-Security-Policy"], "only the pay page widens it"
    shown = await page(manage_resp)
    resp = await site.post(f"/manage/{booking_id}/pay", data={"csrf": csrf_of(shown), "token": token})
    pay = await page(resp)
    async with payments_pool.acquire() as conn:
        secret = await conn.fetchval("SELECT client_secret FROM payments WHERE customer_email = 'grace@example.com'")
    assert secret and f'data-client-secret="{secret}"' in pay and f'data-stripe-key="{FAKE_KEY}"' in pay
    assert f'data-return-url="{settings.public_url}/manage/{booking_id}/confirming"' in pay
    assert STRIPE_JS in pay and "Pay £65.00</button>" in pay
    assert 'name="card"' not in pay and "Test mode." not in pay
    assert not re.search(r"<script(?![^>]*\bsrc=)", pay) and "style=" not in pay, "no inline script or style"
    no_token_in_urls(pay, token)
    csp = csp_sources(resp)
    assert csp["script-src"] == ["'self'", "https://js.stripe.com"]
    assert csp["frame-src"] == ["'self'", "https://js.stripe.com", "https://hooks.stripe.com"]
    refused = await site.post(f"/manage/{booking_id}/pay/card", data={"csrf": csrf_of(shown), "card": "visa"})
    assert refused.status == 404, "the card is paid in Stripe's field, never by a server-side test card"

    # The bank refused (3-D Secure not passed): Stripe.js comes back to the confirming page, which sends the
    # customer back to the pay page, told why.
    back = await site.get(
        f"/manage/{booking_id}/confirming?payment_intent=pi_x&redirect_status=failed", allow_redirects=False
    )
    assert back.status == 303 and back.headers["Location"] == f"/manage/{booking_id}/pay?card=refused"
    again = await page(await site.get(back.headers["Location"]))
    problem = re.search(
        r'<div class="error-summary" role="alert" tabindex="-1" data-card-problem([^>]*)>(.*?)</div>', again, re.S
    )
    assert problem.group(1).strip() == "data-focus" and "Your bank did not approve the payment" in problem.group(2)
    assert "<title>Error: " in again, "the page's title says there is a problem too"
    waiting = await site.get(f"/manage/{booking_id}/confirming?payment_intent=pi_x&redirect_status=succeeded")
    assert "Confirming your booking" in await page(waiting)
