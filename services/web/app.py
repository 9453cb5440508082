"""The web service's app factory: pages, their assets, and the API client they use."""

from __future__ import annotations

from typing import AsyncIterator

import aiohttp
import jinja2
from aiohttp import web

from services.web import booking, card_payment, fees, formatting, gifts, manage, vouchers, waitlist
from services.web.api import Api
from services.web.assets import Assets
from services.web.catalogue import CATALOGUE, VOUCHER_OPTIONS, VOUCHER_OPTIONS_FRESH_SECONDS, CatalogueCache, Kept
from services.web.compression import compression_middleware
from services.web.csrf import csrf_cookie_middleware
from services.web.dashboard import bookings as dashboard_bookings
from services.web.dashboard import catalogue as dashboard_catalogue
from services.web.dashboard import diary as dashboard_diary
from services.web.dashboard import integrations as dashboard_integrations
from services.web.dashboard import pages as dashboard
from services.web.dashboard import privacy as dashboard_privacy
from services.web.dashboard import settings_page as dashboard_settings
from services.web.dashboard import therapists as dashboard_therapists
from services.web.dashboard import vouchers as dashboard_vouchers
from services.web.dashboard import waitlist as dashboard_waitlist
from services.web.dashboard.api import GATEWAY_URL
from services.web.dashboard.session import SESSIONS, SessionStore
from services.web.flows import FLOWS, VOUCHER_FLOWS, FlowStore
from services.web.offline_card import offline_card_ctx
from services.web.pages import API, ASSETS, TEMPLATES, page_errors_middleware, routes
from services.web.settings import WebSettings
from shared.keys import REDIS, SETTINGS
from shared.web import create_base_app

SERVICE = "web"
SITE_NAME = "Clinic bookings"


def templates(assets: Assets) -> jinja2.Environment:
    # No auto_reload: templates ship with the code, and checking each file's mtime cost six stat calls a page.
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("services.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.globals.update(asset=assets.url, site_name=SITE_NAME, money=formatting.money, minutes=formatting.minutes)
    return env


async def api_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=30), cookie_jar=aiohttp.DummyCookieJar()
    )
    app[API] = Api(session, settings.upstream("booking"), settings.upstream("payments"))
    secure = settings.env == "production"
    app[FLOWS] = FlowStore(app[REDIS], settings.redis_prefix, "booking_flow", secure=secure)
    app[VOUCHER_FLOWS] = FlowStore(app[REDIS], settings.redis_prefix, "voucher_flow", secure=secure)
    app[SESSIONS] = SessionStore(app[REDIS], settings.redis_prefix, secure=secure)
    yield
    await session.close()


def create_app(settings: WebSettings) -> web.Application:
    app = create_base_app(settings, SERVICE)
    app.middlewares.append(compression_middleware)  # outside the next: error pages are compressed too
    app.middlewares.append(page_errors_middleware)
    app.middlewares.append(csrf_cookie_middleware)
    app.middlewares.append(card_payment.card_payment_middleware)  # the pay page's PaymentIntent, for Stripe.js
    app.middlewares.append(dashboard.dashboard_middleware)  # /clinic/…: sessions ending, errors, no-store
    # The clinic dashboard calls the clinic API through the gateway, with the signed-in staff member's token.
    app[GATEWAY_URL] = settings.upstream("gateway")
    app[ASSETS] = Assets()
    app[CATALOGUE] = CatalogueCache()
    app[VOUCHER_OPTIONS] = Kept(VOUCHER_OPTIONS_FRESH_SECONDS)
    app[TEMPLATES] = templates(app[ASSETS])
    app.cleanup_ctx.append(api_ctx)
    app.cleanup_ctx.append(offline_card_ctx)
    app.add_routes(routes)
    app.add_routes(booking.routes)
    app.add_routes(manage.routes)
    app.add_routes(fees.routes)
    app.add_routes(vouchers.routes)
    app.add_routes(gifts.routes)
    app.add_routes(waitlist.routes)
    app.add_routes(dashboard.routes)
    app.add_routes(dashboard_bookings.routes)
    app.add_routes(dashboard_catalogue.routes)
    app.add_routes(dashboard_diary.routes)
    app.add_routes(dashboard_integrations.routes)
    app.add_routes(dashboard_privacy.routes)
    app.add_routes(dashboard_settings.routes)
    app.add_routes(dashboard_therapists.routes)
    app.add_routes(dashboard_vouchers.routes)
    app.add_routes(dashboard_waitlist.routes)
    return app
