"""The one place that talks to Stripe, through the official SDK's async client.

Offline (no STRIPE_SECRET_KEY) the same calls go to the local fake Stripe server. Our own tables make
retries safe (one payment row per booking), because the fake ignores idempotency keys."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import AsyncIterator

import stripe
from aiohttp import web

from services.payments.settings import PaymentsSettings

log = logging.getLogger(__name__)
OFFLINE_KEY = "sk_test_offline_fake"


class StripeUnavailable(Exception):
    """Stripe could not be reached or failed on its side; nothing was decided."""


class StripeRefused(Exception):
    """Stripe refused the request (bad parameters, card declined): `code` is Stripe's (e.g. "card_declined",
    "authentication_required"), when it gave one."""

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Intent:
    id: str
    status: str
    amount: int
    currency: str
    client_secret: str | None
    metadata: dict
    # The card it was paid with (its charge's PaymentMethod: confirming with a test token such as `pm_card_visa`
    # leaves the token itself on the PaymentIntent) and its Customer, when Stripe says.
    payment_method: str | None = None
    customer: str | None = None


@dataclass(frozen=True)
class SetupIntent:
    id: str
    status: str
    client_secret: str | None
    payment_method: str | None
    customer: str | None
    metadata: dict


@dataclass(frozen=True)
class Refund:
    id: str
    status: str
    amount: int


def _id(value) -> str | None:
    """An expandable field's id (Stripe gives the id, or the object when expanded)."""
    if isinstance(value, dict):
        return value.get("id")
    return value


def intent_from_data(data: dict) -> Intent:
    charge = data.get("latest_charge")
    card = charge.get("payment_method") if isinstance(charge, dict) else None
    return Intent(
        data["id"],
        data["status"],
        data["amount"],
        data["currency"],
        data.get("client_secret"),
        dict(data.get("metadata") or {}),
        payment_method=card or _id(data.get("payment_method")),
        customer=_id(data.get("customer")),
    )


def _intent(obj) -> Intent:
    return intent_from_data(obj.to_dict())


def setup_intent_from_data(data: dict) -> SetupIntent:
    return SetupIntent(
        data["id"],
        data["status"],
        data.get("client_secret"),
        _id(data.get("payment_method")),
        _id(data.get("customer")),
        dict(data.get("metadata") or {}),
    )


class StripeGateway:
    def __init__(self, settings: PaymentsSettings):
        self._http = stripe.AIOHTTPClient()
        options = {} if settings.stripe_secret_key else {"base_addresses": {"api": settings.stripe_api_base}}
        self.settings = settings  # what the consumer's handlers built on this gateway also need (link keys)
        self._offline = not settings.stripe_secret_key
        self._client = stripe.StripeClient(
            settings.stripe_secret_key or OFFLINE_KEY, http_client=self._http, max_network_retries=1, **options
        )

    async def close(self) -> None:
        await self._http.close_async()

    async def _call(self, what: str, coro):
        try:
            return await coro
        except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
            log.warning("stripe unreachable", extra={"call": what, "error": type(exc).__name__})
            raise StripeUnavailable(what) from None
        except stripe.APIError as exc:
            if exc.http_status is None or exc.http_status >= 500:
                log.warning("stripe failed", extra={"call": what, "status": exc.http_status})
                raise StripeUnavailable(what) from None
            raise StripeRefused(str(exc.user_message or exc)) from None
        except stripe.StripeError as exc:
            raise StripeRefused(str(exc.user_message or exc), exc.code) from None

    async def create_intent(
        self,
        *,
        amount: int,
        currency: str,
        metadata: dict[str, str],
        idempotency_key: str,
        customer: str | None = None,
    ) -> Intent:
        """A PaymentIntent the customer confirms; with `customer`, one that saves the card for charges off
        session (real Stripe attaches it on success; the fake refuses `setup_future_usage`, so offline the card
        is attached by attach_card afterwards)."""
        params: dict = {
            "amount": amount,
            "currency": currency.lower(),
            "metadata": metadata,
            "payment_method_types": ["card"],
        }
        if customer is not None:
            params["customer"] = customer
            if not self._offline:
                params["setup_future_usage"] = "off_session"
        obj = await self._call(
            "create_intent",
            self._client.v1.payment_intents.create_async(params=params, options={"idempotency_key": idempotency_key}),
        )
        return _intent(obj)

    async def retrieve_intent(self, intent_id: str) -> Intent:
        return _intent(await self._call("retrieve_intent", self._client.v1.payment_intents.retrieve_async(intent_id)))

    async def cancel_intent(self, intent_id: str) -> Intent:
        return _intent(await self._call("cancel_intent", self._client.v1.payment_intents.cancel_async(intent_id)))

    async def refund(self, *, intent_id: str, amount: int, idempotency_key: str) -> Refund:
        obj = await self._call(
            "refund",
            self._client.v1.refunds.create_async(
                params={"payment_intent": intent_id, "amount": amount}, options={"idempotency_key": idempotency_key}
            ),
        )
        data = obj.to_dict()
        return Refund(data["id"], data["status"], data["amount"])

    async def create_customer(self, *, metadata: dict[str, str], idempotency_key: str) -> str:
        """A Customer to save cards on: Stripe gets our ids only, never a name or an email."""
        obj = await self._call(
            "create_customer",
            self._client.v1.customers.create_async(
                params={"metadata": metadata}, options={"idempotency_key": idempotency_key}
            ),
        )
        return obj.id

    async def create_setup_intent(
        self, *, customer: str, metadata: dict[str, str], idempotency_key: str
    ) -> SetupIntent:
        params = {"customer": customer, "usage": "off_session", "payment_method_types": ["card"], "metadata": metadata}
        obj = await self._call(
            "create_setup_intent",
            self._client.v1.setup_intents.create_async(params=params, options={"idempotency_key": idempotency_key}),
        )
        return setup_intent_from_data(obj.to_dict())

    async def retrieve_setup_intent(self, setup_intent_id: str) -> SetupIntent:
        obj = await self._call("retrieve_setup_intent", self._client.v1.setup_intents.retrieve_async(setup_intent_id))
        return setup_intent_from_data(obj.to_dict())

    async def cancel_setup_intent(self, setup_intent_id: str) -> SetupIntent:
        obj = await self._call("cancel_setup_intent", self._client.v1.setup_intents.cancel_async(setup_intent_id))
        return setup_intent_from_data(obj.to_dict())

    async def attach_card(self, payment_method: str, customer: str) -> str:
        """The card, attached to the Customer if it is not yet: the id to charge it by (the fake answers a test
        token such as `pm_card_visa` with a new PaymentMethod)."""
        found = await self._call(
            "retrieve_payment_method", self._client.v1.payment_methods.retrieve_async(payment_method)
        )
        if _id(found.to_dict().get("customer")) == customer:
            return found.id
        attached = await self._call(
            "attach_payment_method",
            self._client.v1.payment_methods.attach_async(found.id, params={"customer": customer}),
        )
        return attached.id

    async def charge_off_session(
        self,
        *,
        amount: int,
        currency: str,
        customer: str,
        payment_method: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> Intent:
        """Charge a saved card with the customer away: StripeRefused (code "card_declined",
        "authentication_required", ...) if the card or the bank refuse it."""
        params = {
            "amount": amount,
            "currency": currency.lower(),
            "customer": customer,
            "payment_method": payment_method,
            "off_session": True,
            "confirm": True,
            "payment_method_types": ["card"],
            "metadata": metadata,
        }
        obj = await self._call(
            "charge_off_session",
            self._client.v1.payment_intents.create_async(params=params, options={"idempotency_key": idempotency_key}),
        )
        return _intent(obj)


STRIPE = web.AppKey("stripe", StripeGateway)


async def stripe_ctx(app: web.Application) -> AsyncIterator[None]:
    from shared.keys import SETTINGS

    app[STRIPE] = StripeGateway(app[SETTINGS])
    yield
    await app[STRIPE].close()
