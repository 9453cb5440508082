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
    """Stripe refused the request (bad parameters, card declined)."""


@dataclass(frozen=True)
class Intent:
    id: str
    status: str
    amount: int
    currency: str
    client_secret: str | None
    metadata: dict


@dataclass(frozen=True)
class Refund:
    id: str
    status: str
    amount: int


def _intent(obj) -> Intent:
    data = obj.to_dict()
    return Intent(
        data["id"],
        data["status"],
        data["amount"],
        data["currency"],
        data.get("client_secret"),
        dict(data.get("metadata") or {}),
    )


class StripeGateway:
    def __init__(self, settings: PaymentsSettings):
        self._http = stripe.AIOHTTPClient()
        options = {} if settings.stripe_secret_key else {"base_addresses": {"api": settings.stripe_api_base}}
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
            raise StripeRefused(str(exc.user_message or exc)) from None

    async def create_intent(
        self, *, amount: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> Intent:
        params = {
            "amount": amount,
            "currency": currency.lower(),
            "metadata": metadata,
            "payment_method_types": ["card"],
        }
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


STRIPE = web.AppKey("stripe", StripeGateway)


async def stripe_ctx(app: web.Application) -> AsyncIterator[None]:
    from shared.keys import SETTINGS

    app[STRIPE] = StripeGateway(app[SETTINGS])
    yield
    await app[STRIPE].close()
