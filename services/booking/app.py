"""Booking service app factory."""
from aiohttp import web

from services.booking.routes import routes
from shared.config import Settings
from shared.web import create_base_app

SERVICE = "booking"


def create_app(settings: Settings) -> web.Application:
    app = create_base_app(settings, SERVICE, schema="booking", with_redis=False)
    app.add_routes(routes)
    return app
