"""Paying for a phone booking from the link in the customer's email under the treatment's payment policy (issue
20), as a browser without JavaScript does it, through the gateway: under a deposit the manage and pay pages ask
for the deposit and say the rest is paid at the clinic, and the test card pays the deposit only; in "card" mode
they ask to save the card (a SetupIntent, nothing charged), and saving it confirms the booking."""

from __future__ import annotations

import re

import pytest

from tests.integration.test_booking_fees import set_policy
from tests.integration.test_web_booking import csrf_of, page, site  # noqa: F401
from tests.integration.test_web_card_payment import FAKE_KEY
from tests.integration.test_web_manage_pay import (  # noqa: F401
    PAY_BUTTON,
    phone_booking,
    publishable_key,
    settings,
    status_of,
    to_the_pay_page,
)

DEPOSIT = {"mode": "deposit", "deposit": {"percent": 20}}
CARD_WITH_NO_SHOW_FEE = {"mode": "card", "no_show_fee": {"percent": 50}}


def _row(shown: str, name: str) -> str:
    """A summary row's value, tags and spaces aside."""
    found = re.search(rf"<dt>{re.escape(name)}</dt><dd>(.*?)</dd>", shown)
    assert found, f"no row {name!r}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", found.group(1))).strip()


async def _booked_under(site, keys, booking_pool, policy: dict) -> tuple[str, str, str, str]:
    """A phone booking paid online under the clinic's `policy`: its id, link and token, and its manage page."""
    await set_policy(booking_pool, policy)
    booking_id, link, token = await phone_booking(site, keys)
    return booking_id, link, token, await page(await site.get(link))


async def _test_card(site, booking_id: str, pay: str) -> str:
    """The pay page's test card (Visa) sent: the confirming page's address."""
    sent = await site.post(
        f"/manage/{booking_id}/pay/card", data={"csrf": csrf_of(pay), "card": "visa"}, allow_redirects=False
    )
    assert sent.status == 303 and sent.headers["Location"] == f"/manage/{booking_id}/confirming"
    return sent.headers["Location"]


async def test_a_deposit_phone_booking_pays_the_deposit_and_shows_the_rest_at_the_clinic(
    site, keys, checkout, booking_pool, payments_pool
):
    booking_id, link, token, shown = await _booked_under(site, keys, booking_pool, DEPOSIT)
    assert re.search(r"<h2>Pay a deposit of £13\.00 by [^<]+</h2>", shown) and "Pay £13.00</button>" in shown
    assert _row(shown, "To pay at the clinic") == "£52.00"

    pay = await to_the_pay_page(site, booking_id, link, token)
    assert _row(pay, "To pay now") == "£13.00 (deposit)" and _row(pay, "To pay at the clinic") == "£52.00"
    assert pay.count("<dt>To pay at the clinic</dt>") == 1, "said once, beside what is paid now"
    assert "Pay £13.00</button>" in pay and "£65.00</button>" not in pay

    await _test_card(site, booking_id, pay)
    async with payments_pool.acquire() as conn:
        charged = await conn.fetchval("SELECT amount FROM payments WHERE purpose = 'booking'")
    assert charged == 1300, "the deposit only"
    await checkout.reconcile()
    assert await status_of(booking_pool, booking_id) == "confirmed"


async def test_a_card_saved_only_phone_booking_shows_the_save_your_card_form_and_saving_it_confirms(
    site, keys, checkout, booking_pool, payments_pool
):
    booking_id, link, token, shown = await _booked_under(site, keys, booking_pool, CARD_WITH_NO_SHOW_FEE)
    assert re.search(r"<h2>Save your card by [^<]+</h2>", shown) and "Save your card</button>" in shown
    assert "Pay £" not in shown and PAY_BUTTON.search(shown)

    pay = await to_the_pay_page(site, booking_id, link, token)
    assert "<h1>Save your card</h1>" in pay and "Nothing to pay now." in pay
    assert "no-show fee of £32.50" in pay, "the policy in words"
    assert _row(pay, "To pay now") == "£0.00" and _row(pay, "To pay at the clinic") == "£65.00"
    assert "Save card</button>" in pay and "Pay £" not in pay
    assert "Saved, and pays any fee later" in pay, "the test cards that save, not pay"

    confirming = await _test_card(site, booking_id, pay)
    async with payments_pool.acquire() as conn:
        payment = await conn.fetchrow("SELECT amount, status, stripe_setup_intent FROM payments")
        assert await conn.fetchval("SELECT count(*) FROM saved_cards") == 1, "the card saved, as the page asked"
    assert (payment["amount"], payment["status"]) == (0, "succeeded") and payment["stripe_setup_intent"]
    await checkout.event_path.drain()
    back = await site.get(confirming, allow_redirects=False)
    assert back.status == 303 and back.headers["Location"] == f"/manage/{booking_id}/confirmed"
    assert await status_of(booking_pool, booking_id) == "confirmed"


@pytest.mark.parametrize("publishable_key", [FAKE_KEY])
async def test_with_the_key_the_save_page_mounts_the_element_for_the_setup_intent(
    site, keys, booking_pool, payments_pool, publishable_key
):
    await set_policy(booking_pool, CARD_WITH_NO_SHOW_FEE)
    booking_id, link, token = await phone_booking(site, keys)
    pay = await to_the_pay_page(site, booking_id, link, token)
    async with payments_pool.acquire() as conn:
        secret = await conn.fetchval("SELECT client_secret FROM payments")
    assert secret.startswith("seti_") and f'data-client-secret="{secret}"' in pay and "data-setup" in pay
