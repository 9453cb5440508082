"""The booking service's client for the payments service's internal API."""

from __future__ import annotations

import asyncio
import uuid
from typing import AsyncIterator

import aiohttp
from aiohttp import web

from services.booking.domain import BookingError
from shared.clinic_auth import INTERNAL_TOKEN_HEADER
from shared.keys import SETTINGS

PAYMENTS_TIMEOUT = aiohttp.ClientTimeout(total=20, connect=2)


class TooManyVoucherCodes(BookingError):
    """Payments refused the voucher code: its client got too many codes wrong lately. `retry_after`: seconds."""

    def __init__(self, message: str, retry_after: str):
        super().__init__(429, "rate_limited", message)
        self.retry_after = retry_after


class PaymentsClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str):
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.token = token

    async def booking_payment(
        self,
        *,
        booking_id: uuid.UUID,
        clinic_id: uuid.UUID,
        amount: int,
        currency: str,
        customer_email: str,
        treatment_id: uuid.UUID,
        sessions: int,
        voucher_code: str | None = None,
        client: str | None = None,
        pay_rest_by_card: bool = True,
        card_at_most: int | None = None,
        save_card: bool = False,
    ) -> dict:
        """How this booking is paid: voucher part and card part (the same answer on every call)."""
        body = {
            "booking_id": str(booking_id),
            "clinic_id": str(clinic_id),
            "amount": amount,
            "currency": currency,
            "customer_email": customer_email,
            "treatment_id": str(treatment_id),
            "sessions": sessions,
            "voucher_code": voucher_code,
            "pay_rest_by_card": pay_rest_by_card,
        }
        if card_at_most is not None:  # a deposit (issue 20): the card pays at most this now; the rest at the clinic
            body["card_at_most"] = card_at_most
        if save_card:  # fees or "card" mode (issue 20): payments saves the card (SCA) for off-session charges
            body["save_card"] = True
        if client:  # the customer's address: a wrong voucher code counts against its misses
            body["client"] = client
        try:
            async with self.session.post(
                f"{self.base_url}/internal/v1/booking-payments", json=body, headers={INTERNAL_TOKEN_HEADER: self.token}
            ) as resp:
                answer = await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            raise BookingError(
                503,
                "payments_unavailable",
                "Payments are unavailable for a moment; nothing was charged. Please retry shortly",
            ) from None
        if resp.status != 201:
            error = (answer or {}).get("error", {})
            if resp.status == 429:
                raise TooManyVoucherCodes(
                    error.get("message", "Too many voucher codes tried; please wait before trying again"),
                    resp.headers.get("Retry-After", "60"),
                )
            raise BookingError(
                resp.status if resp.status in (402, 404, 409, 422, 503) else 503,
                error.get("code", "payments_unavailable"),
                error.get("message", "Payments are unavailable for a moment; please retry shortly"),
                error.get("details"),
            )
        return answer


PAYMENTS = web.AppKey("payments", PaymentsClient)


async def payments_client_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    session = aiohttp.ClientSession(timeout=PAYMENTS_TIMEOUT)
    app[PAYMENTS] = PaymentsClient(session, settings.upstream("payments"), settings.internal_token)
    yield
    await session.close()
