"""HTTP handlers of the payments service: the Stripe webhook, and the internal API other services call."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import AsyncIterator
from zoneinfo import ZoneInfo

import asyncpg
import stripe
from aiohttp import web
from pydantic import Field

from services.payments import fees, privacy, service, store, voucher_service
from services.payments.catalogue import CATALOGUE
from services.payments.schemas import (
    CLINIC_SLUG,
    EMAIL,
    MAX_SLUG_LENGTH,
    BalanceIn,
    BookingPaymentIn,
    FeePayIn,
    GiftDeliveryChangeIn,
    VoucherPurchaseIn,
)
from services.payments.stripe_gateway import STRIPE
from services.payments.vouchers import normalise, purchase_options, spec_for_amount, spec_for_course, spec_for_treatment
from shared.clinic_auth import clinic_scope, require_internal
from shared.errors import ApiError
from shared.http_input import idempotency_key, read_json
from shared.input import PG_INTEGER_MAX, StrictModel
from shared.keys import DB, REDIS, SETTINGS
from shared.ratelimit import Check, Limit, RateLimiter

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
CLINIC_ZONE = ZoneInfo("Europe/London")
# Guessing codes must be hopeless: few checks per client (settings.voucher_balance_checks_per_minute, 20 by
# default), fewer misses, and misses per code prefix.
BALANCE_CHECKS = "voucher-balance"
# One limiter for the app: checks of concurrent requests share its Redis calls.
LIMITER = web.AppKey("limiter", RateLimiter)


async def limiter_ctx(app: web.Application) -> AsyncIterator[None]:
    app[LIMITER] = RateLimiter(app[REDIS], app[SETTINGS].redis_prefix)
    yield


BALANCE_MISSES = Limit("voucher-balance-miss", 5, 900)
PREFIX_MISSES = Limit("voucher-balance-prefix-miss", 20, 900)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def issuer(app: web.Application) -> service.VoucherIssuer:
    settings = app[SETTINGS]
    return service.VoucherIssuer(voucher_service.CodeKeys(settings.voucher_code_key))


@routes.post("/api/v1/stripe/webhook")
async def stripe_webhook(request: web.Request) -> web.Response:
    # Verify the raw bytes exactly as Stripe signed them; never parse or re-serialise first.
    payload = await request.read()
    signature = request.headers.get("Stripe-Signature")
    if not signature:
        raise ApiError(400, "missing_signature", "Stripe-Signature header is required")
    try:
        stripe.Webhook.construct_event(payload, signature, request.app[SETTINGS].stripe_webhook_secret)
    except stripe.SignatureVerificationError:
        raise ApiError(400, "invalid_signature", "The Stripe signature does not match or is too old") from None
    except ValueError:
        raise ApiError(400, "invalid_json", "The event body is not valid JSON") from None
    event = json.loads(payload)
    async with request.app[DB].acquire() as conn, conn.transaction():
        is_new = await service.handle_stripe_event(conn, event, issuer(request.app))
    log.info("stripe event received", extra={"stripe_event": event["id"], "type": event["type"], "new": is_new})
    if is_new and event["type"] in {"payment_intent.succeeded", "setup_intent.succeeded"}:
        await attach_cards_quietly(request.app)
    return web.json_response({"received": True, "duplicate": not is_new})


async def attach_cards_quietly(app: web.Application) -> None:
    """Attach the cards just saved to their Customers, best-effort (a fee attaches its card if still needed)."""
    try:
        async with app[DB].acquire() as conn, conn.transaction():
            await service.attach_saved_cards(conn, app[STRIPE])
    except Exception as exc:  # never fail the webhook for it
        log.warning("attaching saved cards failed; a fee will attach its card", extra={"error": repr(exc)})


SETUP_INTENT_ID = re.compile(r"^seti_[A-Za-z0-9]{1,64}$")


@routes.post("/api/v1/stripe/setup-intents/{id}/refresh")
async def refresh_setup_intent(request: web.Request) -> web.Response:
    """The pay page, right after the customer confirmed a card-saving SetupIntent: ask Stripe and apply what it
    says (the fake Stripe sends no SetupIntent events). Only our own bookings' SetupIntents."""
    setup_intent_id = request.match_info["id"]
    if SETUP_INTENT_ID.fullmatch(setup_intent_id) is None:
        raise ApiError(404, "setup_intent_not_found", "No such card setup")
    async with request.app[DB].acquire() as conn, conn.transaction():
        status = await service.refresh_setup_intent(conn, request.app[STRIPE], setup_intent_id)
    if status is None:
        raise ApiError(404, "setup_intent_not_found", "No such card setup")
    if status == "succeeded":
        await attach_cards_quietly(request.app)
    return web.json_response({"status": status}, headers={"Cache-Control": "no-store"})


def _linked_fee(request: web.Request, token: str) -> uuid.UUID:
    """The fee a pay link is for, with its token (404 alike for a bad token and an unknown fee)."""
    try:
        fee_id = uuid.UUID(request.match_info["id"])
    except ValueError:
        fee_id = None
    if fee_id is None or not issuer(request.app).keys.allows(fees.LINK_ROLE, fee_id, token):
        raise ApiError(404, "fee_not_found", "This fee link is not valid")
    return fee_id


@routes.get("/api/v1/fees/{id}")
async def fee_details(request: web.Request) -> web.Response:
    """A fee, for its pay link (`?token=`): what it is for, how much, and whether it is paid."""
    fee_id = _linked_fee(request, request.query.get("token", ""))
    async with request.app[DB].acquire() as conn:
        row = await store.get_fee(conn, fee_id)
    if row is None:
        raise ApiError(404, "fee_not_found", "This fee link is not valid")
    return web.json_response(fees.fee_json(row), headers={"Cache-Control": "no-store"})


@routes.post("/api/v1/fees/{id}/pay")
async def pay_fee(request: web.Request) -> web.Response:
    """The card payment of a fee whose charge to the saved card did not go through (created once; a failed one
    is replaced); 409 `fee_already_paid` once it is charged or paid."""
    body = await read_json(request, FeePayIn)
    fee_id = _linked_fee(request, body.token)
    async with request.app[DB].acquire() as conn, conn.transaction():
        answer = await fees.pay_link_payment(conn, request.app[STRIPE], fee_id)
    return web.json_response(answer, headers={"Cache-Control": "no-store"})


@routes.post("/internal/v1/booking-payments")
async def booking_payment(request: web.Request) -> web.Response:
    """The card payment of a booking (created once per booking; a retry gets the same one)."""
    require_internal(request)
    body = await read_json(request, BookingPaymentIn)
    misses = _code_misses(body.client, body.voucher_code) if body.client and body.voucher_code else []
    limiter = request.app[LIMITER]
    if misses:
        # A client out of misses tries no more codes (a right one neither: that would tell it which is right);
        # a booking without a code is not limited here.
        verdict = await limiter.take([], look=misses)
        if not verdict.allowed:
            raise ApiError(
                429,
                "rate_limited",
                "Too many voucher codes tried; please wait before trying again",
                headers=verdict.headers(),
            )
    try:
        answer = await _booking_payment(request, body)
    except voucher_service.VoucherError as exc:
        if misses and exc.code == "voucher_not_found":
            await limiter.take(misses)
        raise
    return web.json_response(answer, status=201)


async def _booking_payment(request: web.Request, body: BookingPaymentIn) -> dict:
    async with request.app[DB].acquire() as conn, conn.transaction():
        return await service.request_booking_payment(
            conn,
            request.app[STRIPE],
            issuer(request.app).keys,
            booking_id=body.booking_id,
            clinic_id=body.clinic_id,
            amount=body.amount,
            currency=body.currency,
            customer_email=body.customer_email,
            treatment_id=body.treatment_id,
            sessions=body.sessions,
            voucher_code=body.voucher_code,
            pay_rest_by_card=body.pay_rest_by_card,
            card_at_most=body.card_at_most,
            save_card=body.save_card,
            now=_now(),
        )


@routes.post("/api/v1/vouchers")
async def buy_voucher(request: web.Request) -> web.Response:
    """A gift voucher, awaiting the buyer's card payment; it is issued (with its code) when that succeeds."""
    body = await read_json(request, VoucherPurchaseIn)
    catalogue = request.app[CATALOGUE]
    clinic = await catalogue.clinic(body.clinic)
    if body.kind == "amount":
        spec = spec_for_amount(body.amount.amount, body.amount.currency, service.CLINIC_CURRENCY, clinic.voucher_limits)
    elif body.kind == "treatment":
        spec = spec_for_treatment(await catalogue.treatment(clinic.slug, body.treatment))
    else:
        spec = spec_for_course(await catalogue.course(clinic.slug, body.course))
    try:
        async with request.app[DB].acquire() as conn, conn.transaction():
            voucher = await voucher_service.start_purchase(
                conn,
                clinic=clinic,
                spec=spec,
                buyer=body.buyer.model_dump(),
                recipient=body.recipient.model_dump(),
                message=body.message,
                deliver_on=body.deliver_on,
                today=_now().astimezone(CLINIC_ZONE).date(),
                purchase_key=idempotency_key(request),
            )
            payment = await service.voucher_payment(conn, request.app[STRIPE], voucher)
    except asyncpg.UniqueViolationError:  # the same key's first request is still being answered
        raise ApiError(409, "idempotency_conflict", "A request with this Idempotency-Key is in progress") from None
    return web.json_response(
        {**voucher_service.voucher_json(voucher), "clinic": clinic.slug, "payment": service.payment_json(payment)},
        status=201,
    )


def _code_misses(client: str, code: str) -> list[Check]:
    """What a wrong voucher code counts against, whether checked for its balance or tried on a booking: its
    client's misses, and its prefix's (many clients guessing around one prefix)."""
    prefix = (normalise(code) or code.upper().replace("-", ""))[:4]
    return [(BALANCE_MISSES, client), (PREFIX_MISSES, prefix)]


def _client(request: web.Request) -> str:
    # Behind the gateway the client is the first address it forwarded.
    forwarded = request.headers.get("X-Forwarded-For", "")
    return forwarded.split(",")[0].strip() or request.remote or "unknown"


@routes.get("/api/v1/vouchers/options")
async def voucher_options(request: web.Request) -> web.Response:
    """The shop's limits: a clinic's own (`?clinic=<slug>`), or the defaults."""
    slug = request.query.get("clinic")
    if slug is None:
        limits = purchase_options(service.CLINIC_CURRENCY)
    else:
        if len(slug) > MAX_SLUG_LENGTH or re.fullmatch(CLINIC_SLUG, slug) is None:
            raise ApiError(404, "clinic_not_found", "No such clinic")
        clinic = await request.app[CATALOGUE].clinic(slug)
        limits = purchase_options(service.CLINIC_CURRENCY, clinic.voucher_limits)
    return web.json_response(limits, headers={"Cache-Control": "max-age=300"})


@routes.post("/api/v1/vouchers/balance")
async def voucher_balance(request: web.Request) -> web.Response:
    body = await read_json(request, BalanceIn)
    limiter = request.app[LIMITER]
    client = _client(request)
    misses = _code_misses(client, body.code)
    checks = Limit(BALANCE_CHECKS, request.app[SETTINGS].voucher_balance_checks_per_minute, 60)

    async def look_up() -> dict | voucher_service.VoucherError:
        async with request.app[DB].acquire() as conn:
            try:
                return await voucher_service.balance(conn, body.code, issuer(request.app).keys)
            except voucher_service.VoucherError as exc:
                return exc

    # The limiter and the lookup side by side (one round trip's wait, not two); only an allowed check is
    # answered, so a limited client learns nothing from the lookup it caused.
    verdict, found = await asyncio.gather(limiter.take([(checks, client)], look=misses), look_up())
    if not verdict.allowed:
        raise ApiError(
            429, "rate_limited", "Too many voucher checks; please wait before trying again", headers=verdict.headers()
        )
    if isinstance(found, voucher_service.VoucherError):
        await limiter.take(misses)
        raise found
    return web.json_response(found)


@routes.get("/internal/v1/vouchers/{id}/delivery")
async def voucher_delivery(request: web.Request) -> web.Response:
    """Internal: what the gift email to the recipient needs, the code included (decrypted here, never
    stored elsewhere). Only issued vouchers."""
    require_internal(request)
    try:
        voucher_id = uuid.UUID(request.match_info["id"])
    except ValueError:
        raise ApiError(404, "voucher_not_found", "No such voucher") from None
    async with request.app[DB].acquire() as conn:
        delivery = await voucher_service.delivery(conn, voucher_id, issuer(request.app).keys)
    return web.json_response(delivery)


def _linked_voucher(request: web.Request, role: str, token: str) -> uuid.UUID:
    """The voucher an email's link is for, with the token for that `role` (voucher_service.CodeKeys.link_token)."""
    try:
        voucher_id = uuid.UUID(request.match_info["id"])
    except ValueError:
        voucher_id = None
    if voucher_id is None or not issuer(request.app).keys.allows(role, voucher_id, token):
        raise ApiError(404, "voucher_not_found", "This voucher link is not valid")
    return voucher_id


@routes.get("/api/v1/vouchers/{id}")
async def held_voucher(request: web.Request) -> web.Response:
    """The voucher, code included, for whoever holds its gift email: the email's links carry the token."""
    voucher_id = _linked_voucher(request, "holder", request.query.get("token", ""))
    async with request.app[DB].acquire() as conn:
        voucher = await voucher_service.delivery(conn, voucher_id, issuer(request.app).keys)
    return web.json_response(
        {k: v for k, v in voucher.items() if k != "holder_token"}, headers={"Cache-Control": "no-store"}
    )


@routes.get("/api/v1/vouchers/{id}/delivery")
async def gift_delivery_details(request: web.Request) -> web.Response:
    """Whom the gift goes to and when, for its buyer (the receipt's link), and whether that may still change."""
    voucher_id = _linked_voucher(request, "buyer", request.query.get("token", ""))
    async with request.app[DB].acquire() as conn:
        return web.json_response(
            await voucher_service.gift(conn, voucher_id, _now()), headers={"Cache-Control": "no-store"}
        )


@routes.patch("/api/v1/vouchers/{id}/delivery")
async def change_gift_delivery(request: web.Request) -> web.Response:
    body = await read_json(request, GiftDeliveryChangeIn)
    voucher_id = _linked_voucher(request, "buyer", body.token)
    async with request.app[DB].acquire() as conn, conn.transaction():
        answer = await voucher_service.change_delivery(
            conn, voucher_id, recipient_email=body.recipient_email, deliver_on=body.deliver_on, now=_now()
        )
    return web.json_response(answer)


@routes.get("/api/v1/clinic/vouchers")
async def clinic_vouchers(request: web.Request) -> web.Response:
    """The clinic's vouchers: balances, expiry and VAT class; codes only as their last characters."""
    clinic_id = clinic_scope(request)
    async with request.app[DB].acquire() as conn:
        rows = await store.list_vouchers(conn, clinic_id)
    return web.json_response(
        {
            "vouchers": [
                {
                    **voucher_service.voucher_json(r),
                    "buyer": {"name": r["buyer_name"], "email": r["buyer_email"]},
                    "recipient": {"name": r["recipient_name"], "email": r["recipient_email"]},
                }
                for r in rows
            ]
        }
    )


class ReactivateIn(StrictModel):
    reason: str = Field(min_length=3, max_length=500)
    # What to give back: in the voucher's unit (pence, or sessions); the balance it had when it expired if omitted.
    units: int | None = Field(default=None, gt=0, le=PG_INTEGER_MAX)
    extend_days: int = Field(default=90, ge=1, le=730)


@routes.post("/api/v1/clinic/vouchers/{id}/reactivate")
async def reactivate_voucher(request: web.Request) -> web.Response:
    """Clinic staff bring an expired voucher back: an audited `adjust` ledger entry."""
    clinic_id = clinic_scope(request)
    body = await read_json(request, ReactivateIn)
    try:
        voucher_id = uuid.UUID(request.match_info["id"])
    except ValueError:
        raise ApiError(404, "voucher_not_found", "No such voucher") from None
    async with request.app[DB].acquire() as conn, conn.transaction():
        row = await store.lock_voucher(conn, voucher_id)
        if row is None or row["clinic_id"] != clinic_id:
            raise ApiError(404, "voucher_not_found", "No such voucher")
        units = body.units or await store.expired_units(conn, voucher_id)
        answer = await voucher_service.reactivate(
            conn,
            voucher_id,
            units=units,
            actor=f"clinic:{clinic_id}",
            reason=body.reason,
            now=_now(),
            extend=timedelta(days=body.extend_days),
        )
    return web.json_response(answer)


# --- data protection (issue 19): the booking service asks for a clinic's customer, by email ------------------


class PrivacySubjectIn(StrictModel):
    clinic_id: uuid.UUID
    email: str = Field(min_length=3, max_length=254, pattern=EMAIL)


class PrivacyEraseIn(PrivacySubjectIn):
    dry_run: bool  # required: a caller that forgets it must not erase


@routes.post("/internal/v1/privacy/export")
async def privacy_export(request: web.Request) -> web.Response:
    """Internal: everything payments holds about a clinic's customer ({"records": {kind: [...]}}), never a code."""
    require_internal(request)
    body = await read_json(request, PrivacySubjectIn)
    # One snapshot: a payment and its refunds, a voucher and its ledger, as they were at one moment.
    async with request.app[DB].acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        records = await privacy.export(conn, body.clinic_id, body.email)
    return web.json_response({"records": records}, headers={"Cache-Control": "no-store"})


@routes.post("/internal/v1/privacy/erase")
async def privacy_erase(request: web.Request) -> web.Response:
    """Internal: erase a clinic's customer (or, `dry_run`, say what would be erased, kept and what blocks it);
    409 with the blocker while one of their vouchers is in progress. Idempotent."""
    require_internal(request)
    body = await read_json(request, PrivacyEraseIn)
    async with request.app[DB].acquire() as conn, conn.transaction():
        answer = await privacy.erase(conn, body.clinic_id, body.email, dry_run=body.dry_run, now=_now())
    return web.json_response(answer)
