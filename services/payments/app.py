"""Payments service app factory."""

from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator

from aiohttp import web

from services.payments import MIGRATIONS, api_spec, clinic_fees, clinic_vouchers, service, voucher_service
from services.payments.catalogue import catalogue_ctx
from services.payments.retention import RETENTION_CHECK_INTERVAL, retention_ctx
from services.payments.routes import issuer, limiter_ctx, routes
from services.payments.settings import PaymentsSettings
from services.payments.stripe_gateway import STRIPE, StripeUnavailable, stripe_ctx
from shared.keys import DB, SETTINGS
from shared.openapi import serve_operations
from shared.web import create_base_app

SERVICE = "payments"
# The event streams it publishes (payment, voucher, fee) and reads (booking), whose lag /metrics shows.
TOPICS = ("booking", "payment", "voucher", "fee")
log = logging.getLogger(__name__)
RECONCILER = web.AppKey("reconciler", asyncio.Task)


async def housekeeping_once(app: web.Application) -> None:
    """Ask Stripe about payments left open (a lost webhook), expire vouchers, announce expiring ones."""
    settings = app[SETTINGS]
    try:
        async with app[DB].acquire() as conn, conn.transaction():
            changed = await service.reconcile(conn, app[STRIPE], settings.reconcile_after, issuer(app))
        if changed:
            log.warning("reconciler found payments the webhooks had not told us about", extra={"count": changed})
    except StripeUnavailable:
        log.warning("reconciler: stripe unavailable; will retry")
    async with app[DB].acquire() as conn, conn.transaction():
        expired = await voucher_service.expire_due(conn)
        expiring = await voucher_service.announce_expiring(conn)
    if expired or expiring:
        log.info("voucher expiry", extra={"expired": expired, "expiring_notices": expiring})


async def reconcile_forever(app: web.Application) -> None:
    while True:
        try:
            await housekeeping_once(app)
        except Exception as exc:  # the database may be down for a while; keep going after
            log.warning("housekeeping failed", extra={"error": repr(exc)})
        await asyncio.sleep(app[SETTINGS].reconcile_interval)


async def reconciler_ctx(app: web.Application) -> AsyncIterator[None]:
    app[RECONCILER] = asyncio.create_task(reconcile_forever(app))
    yield
    app[RECONCILER].cancel()
    try:
        await app[RECONCILER]
    except asyncio.CancelledError:
        pass


def create_app(
    settings: PaymentsSettings, *, reconciler: bool = True, retention_interval: float | None = RETENTION_CHECK_INTERVAL
) -> web.Application:
    """`retention_interval` None: no daily retention job in this process (a test that runs it itself)."""
    app = create_base_app(settings, SERVICE, schema="payments", migrations=MIGRATIONS, topics=TOPICS)
    app.cleanup_ctx.append(limiter_ctx)
    app.cleanup_ctx.append(stripe_ctx)
    app.cleanup_ctx.append(catalogue_ctx)
    if reconciler:
        app.cleanup_ctx.append(reconciler_ctx)
    if retention_interval is not None:
        app.cleanup_ctx.append(retention_ctx(retention_interval))
    app.add_routes(routes)
    app.add_routes(clinic_vouchers.routes)
    app.add_routes(clinic_fees.routes)
    serve_operations(app, api_spec.OPERATIONS)  # for the gateway's /openapi.json
    return app
