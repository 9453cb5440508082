"""Gateway app factory."""

from typing import AsyncIterator

from aiohttp import web

from services.gateway.cors import cors_middleware
from services.gateway.limits import LIMITER, REFUSED, RecentlyRefused
from services.gateway.openapi import openapi_ctx
from services.gateway.openapi import routes as docs_routes
from services.gateway.page_refusals import page_refusals_middleware
from services.gateway.proxy import client_address_middleware, http_session_ctx
from services.gateway.routes import ROUTE_TABLE, proxy, routes
from services.gateway.routing import ROUTES, Route
from services.gateway.settings import GatewaySettings
from shared import redis_client
from shared.keys import SETTINGS, SOFT_DEPENDENCIES
from shared.ratelimit import RateLimiter
from shared.web import create_base_app

SERVICE = "gateway"


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    """One Redis client for the rate limits. Without Redis the public API still serves (the limits fail open),
    so readiness reports it as degraded, not unready."""
    settings = app[SETTINGS]
    client = redis_client.for_requests(settings.redis_url)
    app[LIMITER] = RateLimiter(client, settings.redis_prefix)
    app[SOFT_DEPENDENCIES] = {"redis": client.ping}
    yield
    await client.aclose()


def create_app(settings: GatewaySettings, route_table: tuple[Route, ...] = ROUTES) -> web.Application:
    app = create_base_app(settings, SERVICE, with_redis=False)
    app[ROUTE_TABLE] = route_table
    app[REFUSED] = RecentlyRefused()
    if settings.trusted_proxies:
        # Outermost, so every middleware and handler after it sees the client, not the proxy.
        app.middlewares.insert(0, client_address_middleware)
    app.middlewares.append(cors_middleware)
    app.middlewares.append(page_refusals_middleware)  # a page's form over a limit: told in a page
    app.cleanup_ctx.append(http_session_ctx)
    app.cleanup_ctx.append(redis_ctx)
    app.cleanup_ctx.append(openapi_ctx)
    app.add_routes(routes)
    app.add_routes(docs_routes)
    app.router.add_route("*", "/api/{tail:.*}", proxy)
    app.router.add_route("*", "/dev/{tail:.*}", proxy)
    for pages in (
        "/c/{tail:.*}",
        "/manage/{tail:.*}",
        "/vouchers/{tail:.*}",
        "/waitlist/{tail:.*}",
        "/fees/{tail:.*}",
        "/assets/{tail:.*}",
    ):  # services/web
        app.router.add_route("*", pages, proxy)
    for pages in ("/clinic", "/clinic/{tail:.*}"):  # the clinic dashboard (services/web/dashboard)
        app.router.add_route("*", pages, proxy)
    app.router.add_route("GET", "/", proxy)
    app.router.add_route("GET", "/embed.js", proxy)  # the snippet's script, on clinics' own websites
    return app
