"""The pages' only way to the data: the same public HTTP API any clinic's own front end would use,
called on the services' internal addresses with the customer's address and the request id passed on."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Mapping

import aiohttp
import orjson
from aiohttp import web

from shared.logs import request_id_var
from shared.web import REQUEST_ID_HEADER

TIMEOUT = aiohttp.ClientTimeout(total=20, connect=2)


class ApiRefused(Exception):
    """The API answered 4xx: what it said, to be put in words on the page."""

    def __init__(self, status: int, code: str, message: str, details: Any = None, retry_after: int | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
        self.retry_after = retry_after  # seconds, when the API limited the client (429)


class ApiUnavailable(Exception):
    """A service did not answer, or answered 5xx."""


@dataclass
class Api:
    session: aiohttp.ClientSession
    booking_url: str
    payments_url: str
    client: str | None = None  # the customer's address, as the gateway saw it

    def for_request(self, request: web.Request) -> "Api":
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
        return Api(self.session, self.booking_url, self.payments_url, forwarded or request.remote)

    async def _call(self, method: str, url: str, **kwargs) -> Any:
        return json_of(await self._answer(method, url, **kwargs), f"{method} {url}")

    async def _answer(self, method: str, url: str, **kwargs) -> bytes:
        """The body of a 2xx answer as sent; a 4xx raises ApiRefused, anything else ApiUnavailable."""
        return (await self._answer_and_headers(method, url, **kwargs))[0]

    async def _answer_and_headers(
        self, method: str, url: str, *, extra_headers: dict | None = None, **kwargs
    ) -> tuple[bytes, Mapping[str, str]]:
        """`_answer`, with the answer's headers (e.g. a file's Content-Disposition, passed on as sent)."""
        headers = {REQUEST_ID_HEADER: request_id_var.get() or "", **(extra_headers or {})}
        if self.client:
            headers["X-Forwarded-For"] = self.client
        try:
            async with self.session.request(method, url, headers=headers, timeout=TIMEOUT, **kwargs) as resp:
                raw = await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise ApiUnavailable(f"{method} {url}: {type(exc).__name__}") from None
        if resp.status >= 500:
            raise ApiUnavailable(f"{method} {url}: {resp.status}")
        if resp.status >= 400:
            try:
                error = (json_of(raw, url) or {}).get("error", {})
            except (ApiUnavailable, AttributeError):
                error = {}
            retry_after = resp.headers.get("Retry-After", "")
            raise ApiRefused(
                resp.status,
                error.get("code", "refused"),
                error.get("message", ""),
                error.get("details"),
                int(retry_after) if retry_after.isdigit() else None,
            )
        return raw, resp.headers

    # --- the catalogue (booking) ------------------------------------------------------------------

    async def clinics(self) -> list[dict]:
        return (await self._call("GET", f"{self.booking_url}/api/v1/clinics"))["clinics"]

    async def clinic(self, slug: str) -> dict:
        return await self._call("GET", f"{self.booking_url}/api/v1/clinics/{slug}")

    async def treatments(self, slug: str) -> list[dict]:
        return (await self._call("GET", f"{self.booking_url}/api/v1/clinics/{slug}/treatments"))["treatments"]

    async def courses(self, slug: str) -> list[dict]:
        return (await self._call("GET", f"{self.booking_url}/api/v1/clinics/{slug}/courses"))["courses"]

    async def therapists(self, slug: str) -> list[dict]:
        return (await self._call("GET", f"{self.booking_url}/api/v1/clinics/{slug}/therapists"))["therapists"]

    async def screening(self, slug: str) -> dict:
        return await self._call("GET", f"{self.booking_url}/api/v1/clinics/{slug}/screening")

    async def check_screening(self, slug: str, answers: dict[str, bool]) -> dict:
        return await self._call(
            "POST", f"{self.booking_url}/api/v1/clinics/{slug}/screening/check", json={"answers": answers}
        )

    async def availability(self, slug: str, treatment: str, therapist: str | None, first, last) -> dict:
        return json_of(await self.availability_answer(slug, treatment, therapist, first, last), "availability")

    async def availability_answer(self, slug: str, treatment: str, therapist: str | None, first, last) -> bytes:
        """The free times as the API sent them (JSON): equal answers are equal bytes, which a page may have
        rendered before (booking.rendered_week)."""
        params = {"treatment": treatment, "from": first.isoformat(), "to": last.isoformat()}
        if therapist:
            params["therapist"] = therapist
        return await self._answer("GET", f"{self.booking_url}/api/v1/clinics/{slug}/availability", params=params)

    # --- holds and bookings -----------------------------------------------------------------------

    async def hold(self, body: dict) -> dict:
        return await self._call("POST", f"{self.booking_url}/api/v1/holds", json=body)

    async def release(self, hold_id: str) -> None:
        await self._call("DELETE", f"{self.booking_url}/api/v1/holds/{hold_id}")

    async def book(self, body: dict, idempotency_key: str) -> dict:
        """The hold made a booking; the same key again (a form sent twice) answers the same booking."""
        return await self._call(
            "POST",
            f"{self.booking_url}/api/v1/bookings",
            json=body,
            extra_headers={"Idempotency-Key": idempotency_key},
        )

    async def booking(self, booking_id: str, token: str) -> dict:
        return await self._call("GET", f"{self.booking_url}/api/v1/bookings/{booking_id}", params={"token": token})

    async def booking_payment(self, booking_id: str, token: str) -> dict:
        """What is left to pay by card for a booking awaiting its payment, by when, and its PaymentIntent;
        409 `nothing_to_pay` for any other booking."""
        return await self._call(
            "GET", f"{self.booking_url}/api/v1/bookings/{booking_id}/payment", params={"token": token}
        )

    async def cancel(self, booking_id: str, token: str) -> dict:
        return await self._call(
            "POST", f"{self.booking_url}/api/v1/bookings/{booking_id}/cancel", json={"token": token}
        )

    async def reschedule(self, booking_id: str, token: str, start: str, therapist: str | None) -> dict:
        body = {"token": token, "start": start, **({"therapist": therapist} if therapist else {})}
        return await self._call("POST", f"{self.booking_url}/api/v1/bookings/{booking_id}/reschedule", json=body)

    # --- the waitlist (booking) ---------------------------------------------------------------------

    async def join_waitlist(self, body: dict) -> dict:
        """201 (or 200: the same wishes already waiting) {id, status, leave_url}; ApiRefused 422 for bad input."""
        return await self._call("POST", f"{self.booking_url}/api/v1/waitlist", json=body)

    async def waitlist_offer(self, offer_id: str, token: str) -> dict:
        """An offer's held time; ApiRefused 404 (not this link), 410 `offer_expired` (lapsed, withdrawn, taken)."""
        return await self._call("GET", f"{self.booking_url}/api/v1/waitlist/offers/{offer_id}", params={"token": token})

    async def leave_waitlist(self, entry_id: str, token: str) -> dict:
        """{status: "left"} (again for an entry already left); ApiRefused 404 (not this link)."""
        return await self._call("POST", f"{self.booking_url}/api/v1/waitlist/{entry_id}/leave", json={"token": token})

    # --- saved cards and fees (payments, issue 20) ----------------------------------------------------

    async def refresh_setup_intent(self, setup_intent: str) -> dict:
        """{status}: payments asks Stripe about a booking's card-saving SetupIntent and applies what it says (the
        fake Stripe sends no event for one)."""
        return await self._call("POST", f"{self.payments_url}/api/v1/stripe/setup-intents/{setup_intent}/refresh")

    async def fee(self, fee_id: str, token: str) -> dict:
        """{id, kind, amount, status: charged|failed|paid, booking_id, clinic_id, created_at, failure};
        ApiRefused 404 `fee_not_found` for a token not the fee's."""
        return await self._call("GET", f"{self.payments_url}/api/v1/fees/{fee_id}", params={"token": token})

    async def pay_fee(self, fee_id: str, token: str) -> dict:
        """{client_secret, stripe_payment_intent, amount, status}: the fee's PaymentIntent (made once); ApiRefused
        409 `fee_already_paid`."""
        return await self._call("POST", f"{self.payments_url}/api/v1/fees/{fee_id}/pay", json={"token": token})

    # --- gift vouchers (payments) -------------------------------------------------------------------

    async def voucher_options(self) -> dict:
        return await self._call("GET", f"{self.payments_url}/api/v1/vouchers/options")

    async def buy_voucher(self, body: dict, *, idempotency_key: str) -> dict:
        return await self._call(
            "POST",
            f"{self.payments_url}/api/v1/vouchers",
            json=body,
            extra_headers={"Idempotency-Key": idempotency_key},
        )

    async def voucher_balance(self, code: str) -> dict:
        return await self._call("POST", f"{self.payments_url}/api/v1/vouchers/balance", json={"code": code})

    async def held_voucher(self, voucher_id: str, token: str) -> dict:
        return await self._call("GET", f"{self.payments_url}/api/v1/vouchers/{voucher_id}", params={"token": token})

    async def gift(self, voucher_id: str, token: str) -> dict:
        return await self._call(
            "GET", f"{self.payments_url}/api/v1/vouchers/{voucher_id}/delivery", params={"token": token}
        )

    async def change_gift(self, voucher_id: str, token: str, recipient_email: str, deliver_on: str) -> dict:
        return await self._call(
            "PATCH",
            f"{self.payments_url}/api/v1/vouchers/{voucher_id}/delivery",
            json={"token": token, "recipient_email": recipient_email, "deliver_on": deliver_on},
        )


def json_of(raw: bytes, what: str) -> Any:
    """An answer's JSON (None if empty); an answer that is not JSON is the service failing: ApiUnavailable."""
    try:
        # orjson: a week of free times (~20 KB) decodes in a third of the standard library's time.
        return orjson.loads(raw) if raw and not raw.isspace() else None
    except ValueError:
        raise ApiUnavailable(f"{what}: not JSON") from None
