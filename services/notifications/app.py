"""Notifications service app factory: the clinic webhook API (webhooks/routes.py), the internal data protection
API and the dev mailbox in development (routes.py), and the metrics of the work waiting on Celery."""

from aiohttp import web

from services.notifications import MIGRATIONS, api_spec
from services.notifications.routes import dev_routes, internal_routes
from services.notifications.settings import NotificationsSettings
from services.notifications.webhooks.routes import routes as webhook_routes
from services.notifications.worker.celery_app import CELERY_QUEUE
from shared.keys import DB, REDIS
from shared.metrics import METRICS
from shared.openapi import serve_operations
from shared.web import create_base_app

SERVICE = "notifications"
# The event streams it reads, whose lag /metrics shows.
TOPICS = ("booking", "payment", "voucher", "staff", "waitlist", "fee")


async def _notifications_probe(app: web.Application) -> None:
    """Work waiting on Celery, and how clinic webhook deliveries stand."""
    metrics = app[METRICS]
    metrics.gauge("celery_queue_depth", "Tasks waiting in the Celery queue").set(await app[REDIS].llen(CELERY_QUEUE))
    deliveries = metrics.gauge("webhook_deliveries", "Clinic webhook deliveries by status", ("status",))
    emails = metrics.gauge("emails", "Emails by status", ("status",))
    async with app[DB].acquire() as conn:
        for status, count in await conn.fetch("SELECT status, count(*) FROM webhook_deliveries GROUP BY status"):
            deliveries.labels(status).set(count)
        for status, count in await conn.fetch("SELECT status, count(*) FROM emails GROUP BY status"):
            emails.labels(status).set(count)


def create_app(settings: NotificationsSettings) -> web.Application:
    app = create_base_app(settings, SERVICE, schema="notifications", migrations=MIGRATIONS, topics=TOPICS)
    app[METRICS].probes.append(_notifications_probe)
    app.add_routes(webhook_routes)
    app.add_routes(internal_routes)
    serve_operations(app, api_spec.OPERATIONS)  # for the gateway's /openapi.json
    if settings.development:
        app.add_routes(dev_routes)
    return app
