"""Notifications service app factory."""
from aiohttp import web

from services.notifications.routes import dev_routes
from services.notifications.webhook_routes import routes as webhook_routes
from shared.config import Settings
from shared.web import create_base_app

SERVICE = "notifications"


def create_app(settings: Settings) -> web.Application:
    app = create_base_app(settings, SERVICE, schema="notifications")
    app.add_routes(webhook_routes)
    if settings.development:
        app.add_routes(dev_routes)
    return app
