"""Gateway app factory."""
from aiohttp import web

from services.gateway.cors import cors_middleware
from services.gateway.limits import limiter_ctx
from services.gateway.openapi import openapi_ctx, routes as docs_routes
from services.gateway.proxy import http_session_ctx
from services.gateway.routes import ROUTE_TABLE, proxy, routes
from services.gateway.routing import ROUTES, Route
from shared.config import Settings
from shared.web import create_base_app

SERVICE = "gateway"


def create_app(settings: Settings, route_table: tuple[Route, ...] = ROUTES) -> web.Application:
    app = create_base_app(settings, SERVICE, with_redis=False)
    app[ROUTE_TABLE] = route_table
    app.middlewares.append(cors_middleware)
    app.cleanup_ctx.append(http_session_ctx)
    app.cleanup_ctx.append(limiter_ctx)
    app.cleanup_ctx.append(openapi_ctx)
    app.add_routes(routes)
    app.add_routes(docs_routes)
    app.router.add_route("*", "/api/{tail:.*}", proxy)
    app.router.add_route("*", "/dev/{tail:.*}", proxy)
    return app
