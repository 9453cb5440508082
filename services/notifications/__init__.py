"""Notifications service: emails (through Celery), clinic webhooks, the dev mailbox.

Two wings and the worker they share:
- emails/    rendering and templates, the email handlers of events, reminder and gift-delivery planning,
             SMTP, the email tasks, the email store and the booking/clinic projection, the dev mailbox;
- webhooks/  the webhook rules, the clinic API for endpoints and deliveries, the fan-out handler, one
             signed delivery attempt, the webhook tasks and store;
- worker/    the Celery app (`celery -A services.notifications.worker.celery_app`), the worker's asyncio
             runtime, and the task that starts a consumer batch's emails and deliveries together.
Top level: the app factory (app.py, `python -m services.notifications`), the consumer wiring both wings'
handlers (consumer.py), the dev routes (routes.py), the public operations (api_spec.py), migrations/.
"""

from pathlib import Path

# This service's own migrations, which shared.migrations applies to its schema (shared knows no service).
MIGRATIONS = Path(__file__).parent / "migrations"
