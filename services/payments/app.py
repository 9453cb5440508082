"""Payments service app factory."""
from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator

from aiohttp import web

from services.payments import service
from services.payments.routes import routes
from services.payments.stripe_gateway import STRIPE, StripeUnavailable, stripe_ctx
from shared.config import Settings
from shared.keys import DB, SETTINGS
from shared.web import create_base_app

SERVICE = "payments"
log = logging.getLogger(__name__)
RECONCILER = web.AppKey("reconciler", asyncio.Task)


async def reconcile_forever(app: web.Application) -> None:
    settings = app[SETTINGS]
    while True:
        try:
            async with app[DB].acquire() as conn, conn.transaction():
                changed = await service.reconcile(conn, app[STRIPE], settings.reconcile_after)
            if changed:
                log.warning("reconciler found payments the webhooks had not told us about", extra={"count": changed})
        except StripeUnavailable:
            log.warning("reconciler: stripe unavailable; will retry")
        except Exception as exc:
            log.warning("reconciler failed", extra={"error": repr(exc)})
        await asyncio.sleep(settings.reconcile_interval)


async def reconciler_ctx(app: web.Application) -> AsyncIterator[None]:
    app[RECONCILER] = asyncio.create_task(reconcile_forever(app))
    yield
    app[RECONCILER].cancel()
    try:
        await app[RECONCILER]
    except asyncio.CancelledError:
        pass


def create_app(settings: Settings, *, reconciler: bool = True) -> web.Application:
    app = create_base_app(settings, SERVICE, schema="payments", with_redis=False)
    app.cleanup_ctx.append(stripe_ctx)
    if reconciler:
        app.cleanup_ctx.append(reconciler_ctx)
    app.add_routes(routes)
    return app
