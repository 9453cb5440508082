"""Booking service app factory."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import AsyncIterator, Literal

from aiohttp import web

from services.booking import MIGRATIONS, api_spec, service, settings_routes, waitlist
from services.booking.payments_client import payments_client_ctx
from services.booking.privacy_client import privacy_client_ctx
from services.booking.retention import RETENTION_CHECK_INTERVAL, retention_ctx
from services.booking.routes import routes
from services.booking.settings import BookingSettings
from services.booking.unit_of_work import PostgresUnitOfWork
from shared.keys import DB, SETTINGS
from shared.openapi import serve_operations
from shared.web import create_base_app

SERVICE = "booking"
log = logging.getLogger(__name__)
HOLD_SWEEPER = web.AppKey("hold_sweeper", asyncio.Task)
# Expired holds already stop blocking at once (see store.expire_overlapping_holds); the sweep only
# tidies them up and announces booking.expired, so once every half minute is plenty.
HOLD_SWEEP_INTERVAL = 30.0
WAITLIST_SWEEPER = web.AppKey("waitlist_sweeper", asyncio.Task)
# Whether this process runs the waitlist's matcher (create_app's waitlist_sweep_interval not None).
WAITLIST_ON = web.AppKey("waitlist_on", bool)


def waitlist_links(app: web.Application) -> waitlist.Links:
    settings = app[SETTINGS]
    return waitlist.Links(settings.public_url, settings.manage_link_key)


async def offer_waitlist_times(app: web.Application) -> None:
    """One run of the waitlist's matcher (services/booking/waitlist.py); a failure is logged, and the next run
    tries again."""
    try:
        await waitlist.offer_freed_times(app[DB], datetime.now(timezone.utc), waitlist_links(app))
    except Exception as exc:  # the database may be down for a while; keep matching after
        log.warning("waitlist matching failed", extra={"error": repr(exc)})


async def sweep_holds_once(app: web.Application) -> int:
    """Expire the holds and unpaid bookings whose time ran out; if any did, run the waitlist's matcher at once (a
    lapsed hold may be a time someone is waiting for, or an offer's, whose time goes to the next person)."""
    expired = await service.expire_lapsed(PostgresUnitOfWork(app[DB]))
    if expired:
        log.info("expired holds swept", extra={"count": expired})
        if app[WAITLIST_ON]:
            await offer_waitlist_times(app)
    return expired


async def sweep_expired_holds(app: web.Application, interval: float) -> None:
    while True:
        try:
            await sweep_holds_once(app)
        except Exception as exc:  # the database may be down for a while; keep sweeping after
            log.warning("hold sweep failed", extra={"error": repr(exc)})
        await asyncio.sleep(interval)


async def match_waitlists(app: web.Application, interval: float) -> None:
    while True:
        await offer_waitlist_times(app)
        await asyncio.sleep(interval)


def waitlist_sweeper_ctx(interval: float):
    async def waitlist_sweeper(app: web.Application) -> AsyncIterator[None]:
        app[WAITLIST_SWEEPER] = asyncio.create_task(match_waitlists(app, interval))
        yield
        app[WAITLIST_SWEEPER].cancel()
        try:
            await app[WAITLIST_SWEEPER]
        except asyncio.CancelledError:
            pass

    return waitlist_sweeper


def hold_sweeper_ctx(interval: float):
    async def hold_sweeper(app: web.Application) -> AsyncIterator[None]:
        app[HOLD_SWEEPER] = asyncio.create_task(sweep_expired_holds(app, interval))
        yield
        app[HOLD_SWEEPER].cancel()
        try:
            await app[HOLD_SWEEPER]
        except asyncio.CancelledError:
            pass

    return hold_sweeper


async def seal_old_screenings(app: web.Application) -> AsyncIterator[None]:
    """Screenings from before answers were sealed are sealed at start (idempotent; none after the first)."""
    async with app[DB].acquire() as conn, conn.transaction():
        sealed = await service.seal_plain_screenings(conn, service.health_sealer(app[SETTINGS].health_data_key))
    if sealed:
        log.info("screening answers sealed", extra={"count": sealed})
    yield


def create_app(
    settings: BookingSettings,
    *,
    hold_sweep_interval: float = HOLD_SWEEP_INTERVAL,
    retention_interval: float | None = RETENTION_CHECK_INTERVAL,
    waitlist_sweep_interval: float | None | Literal["settings"] = "settings",
) -> web.Application:
    """`retention_interval` None: no daily retention job in this process (a test that runs it itself).
    `waitlist_sweep_interval`: seconds between the waitlist matcher's runs (by default the settings'
    WAITLIST_SWEEP_SECONDS); None: no matcher in this process (a test that runs it itself)."""
    app = create_base_app(settings, SERVICE, schema="booking", migrations=MIGRATIONS, with_redis=False)
    if waitlist_sweep_interval == "settings":
        waitlist_sweep_interval = settings.waitlist_sweep_seconds
    app[WAITLIST_ON] = waitlist_sweep_interval is not None
    app.cleanup_ctx.append(seal_old_screenings)
    app.cleanup_ctx.append(payments_client_ctx)
    app.cleanup_ctx.append(privacy_client_ctx)
    app.cleanup_ctx.append(hold_sweeper_ctx(hold_sweep_interval))
    if retention_interval is not None:
        app.cleanup_ctx.append(retention_ctx(retention_interval))
    if waitlist_sweep_interval is not None:
        app.cleanup_ctx.append(waitlist_sweeper_ctx(waitlist_sweep_interval))
    app.add_routes(routes)
    app.add_routes(settings_routes.routes)
    serve_operations(app, api_spec.OPERATIONS)  # for the gateway's /openapi.json
    return app
