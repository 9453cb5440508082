"""The pay page with STRIPE_PUBLISHABLE_KEY set: Stripe.js from js.stripe.com and our own hashed script,
the booking's PaymentIntent for it in data attributes, a CSP widened for Stripe.js on that page only, and
no test-card form; without the key, the test-card form and nothing of Stripe's. (A fake key: nothing here
reaches Stripe, and no test expects Stripe.js to load.)"""

from __future__ import annotations

import re

import pytest

from tests.integration.test_web_booking import ALL_CLEAR, csrf_of, hold_first_slot, page, post_details, site  # noqa: F401
from tests.integration.test_web_vouchers import SHOP, order
from tests.support.booking import CLINIC

FAKE_KEY = "pk_test_fake0000000000000000"
STRIPE_JS = '<script src="https://js.stripe.com/v3/" defer></script>'
PAY = f"/c/{CLINIC}/book/pay"


@pytest.fixture
def publishable_key() -> str:
    return FAKE_KEY


@pytest.fixture
def settings(settings, publishable_key):
    """Every service of the test as configured with (or, parametrized empty, without) the publishable key."""
    return settings.with_overrides(stripe_publishable_key=publishable_key)


async def to_the_pay_page(site) -> tuple[object, str]:
    screening = await hold_first_slot(site)
    details = await page(await site.post(f"/c/{CLINIC}/book/screening", data={"csrf": csrf_of(screening), **ALL_CLEAR}))
    resp = await post_details(site, details)
    return resp, await page(resp)


def csp_sources(resp) -> dict[str, list[str]]:
    return {
        name: sources for name, *sources in (d.split() for d in resp.headers["Content-Security-Policy"].split("; "))
    }


async def test_the_pay_page_mounts_stripes_payment_element_for_the_bookings_intent(site, payments_pool, settings):
    resp, pay = await to_the_pay_page(site)
    async with payments_pool.acquire() as conn:
        secret = await conn.fetchval("SELECT client_secret FROM payments WHERE customer_email = 'ada@example.com'")
    assert secret and f'data-client-secret="{secret}"' in pay and f'data-stripe-key="{FAKE_KEY}"' in pay
    assert f'data-return-url="{settings.public_url}/c/{CLINIC}/book/confirming"' in pay
    assert STRIPE_JS in pay
    [ours] = re.findall(r'<script src="(/assets/card_payment\.[0-9a-f]{12}\.js)" defer></script>', pay)
    assert (await site.get(ours)).status == 200
    assert not re.search(r"<script(?![^>]*\bsrc=)", pay) and "style=" not in pay, "no inline script or style"
    assert 'name="card"' not in pay and "Test mode." not in pay
    # Without JavaScript: said in words, with the clinic's contact.
    noscript = re.search(r"<noscript>(.*?)</noscript>", pay, re.S).group(1)
    assert "Paying by card needs JavaScript" in noscript and "hello@urbantherapy.example" in noscript
    csp = csp_sources(resp)
    assert csp["script-src"] == ["'self'", "https://js.stripe.com"]
    assert csp["frame-src"] == ["'self'", "https://js.stripe.com", "https://hooks.stripe.com"]
    assert csp["connect-src"] == ["'self'", "https://api.stripe.com"]
    assert csp["style-src"] == ["'self'"] and csp["default-src"] == ["'self'"]


async def test_only_the_pay_page_widens_its_policy_and_no_test_card_is_taken(site):
    screening = await site.get(f"/c/{CLINIC}/book")
    assert "js.stripe.com" not in screening.headers["Content-Security-Policy"]
    await to_the_pay_page(site)
    confirming = await site.get(f"/c/{CLINIC}/book/confirming")
    assert "js.stripe.com" not in confirming.headers["Content-Security-Policy"]
    csrf = csrf_of(await page(await site.get(f"/c/{CLINIC}/book/screening")))  # the pay page has no form of ours
    refused = await site.post(PAY, data={"csrf": csrf, "card": "visa"})
    assert refused.status == 404, "the card is paid in Stripe's field, never by a server-side test card"


async def test_a_payment_the_bank_refused_comes_back_to_the_pay_page_told_why(site):
    await to_the_pay_page(site)
    back = await site.get(
        f"/c/{CLINIC}/book/confirming?payment_intent=pi_x&redirect_status=failed", allow_redirects=False
    )
    assert back.status == 303 and back.headers["Location"] == f"{PAY}?card=refused"
    pay = await page(await site.get(back.headers["Location"]))
    problem = re.search(
        r'<div class="error-summary" role="alert" tabindex="-1" data-card-problem([^>]*)>(.*?)</div>', pay, re.S
    )
    assert problem.group(1).strip() == "data-focus" and "Your bank did not approve the payment" in problem.group(2)


@pytest.mark.parametrize("publishable_key", [""])
async def test_without_the_key_the_test_card_form_and_nothing_of_stripes(site):
    resp, pay = await to_the_pay_page(site)
    assert "Test mode." in pay and 'name="card"' in pay
    assert "stripe.com" not in pay and "card_payment" not in pay and "data-client-secret" not in pay
    assert "stripe.com" not in resp.headers["Content-Security-Policy"]


async def test_a_gift_is_paid_in_the_payment_element_too_and_stripes_return_thanks_the_buyer(
    site, payments_pool, settings
):
    pay_resp = await site.post(SHOP, data=order(await page(await site.get(SHOP))))
    pay = await page(pay_resp)
    async with payments_pool.acquire() as conn:
        intent, secret = await conn.fetchrow(
            "SELECT stripe_payment_intent, client_secret FROM payments WHERE purpose = 'voucher'"
        )
    assert f'data-client-secret="{secret}"' in pay and STRIPE_JS in pay and "Test mode." not in pay
    assert f'data-return-url="{settings.public_url}/c/{CLINIC}/vouchers/thanks"' in pay
    assert csp_sources(pay_resp)["script-src"] == ["'self'", "https://js.stripe.com"]
    refused = await site.get(
        f"/c/{CLINIC}/vouchers/thanks?payment_intent={intent}&redirect_status=failed", allow_redirects=False
    )
    assert refused.headers["Location"] == f"/c/{CLINIC}/vouchers/pay?card=refused"
    other = await site.get(
        f"/c/{CLINIC}/vouchers/thanks?payment_intent=pi_other&redirect_status=succeeded", allow_redirects=False
    )
    assert other.status == 303, "another payment's return thanks nobody"
    thanks = await page(
        await site.get(f"/c/{CLINIC}/vouchers/thanks?payment_intent={intent}&redirect_status=succeeded")
    )
    assert "Thank you for your gift" in thanks
