"""Offline only (no Stripe keys): what Stripe.js does in the browser, done by the server for the
clearly marked test-mode card form, against the local fake Stripe: attach a test card, confirm (a PaymentIntent,
or a SetupIntent that only saves the card: issue 20's "card saved only")."""

from __future__ import annotations

import contextlib
from typing import AsyncIterator

import stripe
from aiohttp import web

from shared.keys import SETTINGS

# An intent's statuses once the card went through: pressing Pay again must not pay (or fail) again.
DONE = ("succeeded", "processing")
# The cards the test-mode form offers (Stripe's own test payment methods).
TEST_CARDS = {"visa": "pm_card_visa", "declined": "pm_card_chargeCustomerFail"}


class OfflineCardPayer:
    def __init__(self, api_base: str):
        self._http = stripe.AIOHTTPClient()
        self._client = stripe.StripeClient(
            "sk_test_offline_browser", http_client=self._http, base_addresses={"api": api_base}
        )

    async def pay(self, intent_id: str, card: str) -> str:
        """The intent's status after paying with the named test card: "declined" if the bank said no,
        "failed" if the fake refused the request (it cannot retry an intent once a card was declined).
        An intent already paid (Pay pressed twice, or Back and Pay again) is refused: its status, no failure."""
        try:
            await self._client.v1.payment_intents.update_async(intent_id, params={"payment_method": TEST_CARDS[card]})
            return (await self._client.v1.payment_intents.confirm_async(intent_id)).status
        except stripe.CardError:
            return "declined"
        except stripe.StripeError:  # refused because the other press paid it meanwhile: that is no failure
            return await self._paid_status(intent_id) or "failed"

    async def save(self, setup_intent_id: str, card: str) -> str:
        """The SetupIntent's status after saving the named test card (stripe.confirmSetup's part): as `pay`.
        The fake takes the card at confirm for a SetupIntent (not for a PaymentIntent)."""
        try:
            confirmed = await self._client.v1.setup_intents.confirm_async(
                setup_intent_id, params={"payment_method": TEST_CARDS[card]}
            )
            return confirmed.status
        except stripe.CardError:
            return "declined"
        except stripe.StripeError:
            return "failed"

    async def _paid_status(self, intent_id: str) -> str | None:
        """The PaymentIntent's status if it already has (or is getting) the money, else None."""
        with contextlib.suppress(stripe.StripeError):
            status = (await self._client.v1.payment_intents.retrieve_async(intent_id)).status
            return status if status in DONE else None
        return None

    async def close(self) -> None:
        await self._http.close_async()


OFFLINE_CARDS = web.AppKey("offline_cards", OfflineCardPayer)
# What a pay page says when the test card did not pay, by the payer's answer.
PAYMENT_PROBLEMS = {
    "declined": "Your card was declined. Nothing was charged. Try another card.",
    "failed": "The payment could not be made. Nothing was charged. Please start again in a few minutes.",
}


SAVING_PROBLEMS = {
    "declined": "Your card was declined. Nothing was saved or charged. Try another card.",
    "failed": "The card could not be saved. Nothing was charged. Please start again in a few minutes.",
}


async def test_card_problem(request: web.Request, form, intent_id: str, *, setup: bool = False) -> str | None:
    """Pay `intent_id` with the test card the form chose (or, `setup`, save it with the SetupIntent `intent_id`):
    None if it went through, else what to tell the customer."""
    card = str(form.get("card", ""))
    if card not in TEST_CARDS:
        return "Choose a test card"
    if setup:
        return SAVING_PROBLEMS.get(await request.app[OFFLINE_CARDS].save(intent_id, card))
    return PAYMENT_PROBLEMS.get(await request.app[OFFLINE_CARDS].pay(intent_id, card))


async def offline_card_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    # Real Stripe: the browser pays in Stripe's own Payment Element (card_payment.py) once the publishable
    # key is set; never a server-side test card then. (The web pages never hold Stripe's secret key.)
    if settings.stripe_publishable_key:
        yield
        return
    app[OFFLINE_CARDS] = OfflineCardPayer(settings.stripe_api_base)
    yield
    await app[OFFLINE_CARDS].close()
