"""The Celery application (Redis broker) that sends emails and clinic webhooks, and the worker process's hooks.

`celery -A services.notifications.worker.celery_app worker|beat`. Celery wants a module-level app; it is
configured from the environment here but opens no connection until a worker or a send needs one. Its tasks are
in emails/tasks.py, webhooks/tasks.py, worker/batch.py and retention.py (TASK_MODULES; the worker imports them
at start).
"""

from __future__ import annotations

import logging

from celery import Celery
from celery.schedules import crontab
from celery.signals import setup_logging as celery_setup_logging
from celery.signals import worker_process_init, worker_process_shutdown, worker_shutdown

from services.notifications.emails import smtp
from services.notifications.settings import NotificationsSettings
from services.notifications.webhooks import delivery
from services.notifications.worker.runtime import runtime
from shared.config import load_settings
from shared.logs import setup_logging

# Broker redelivery: a task whose worker died is handed out again after settings.celery_visibility_timeout;
# every task here is idempotent and far shorter than that, so a run twice is harmless.
# Tasks run in threads, their I/O on one asyncio loop (worker/runtime.py, which also keeps their time limit):
# no prefork pipe between the broker's consumer and the task, and one process's connections shared by all.
WORKER_POOL = "threads"
WORKER_THREADS = 16
REQUEUE_SWEEP_EVERY = 30.0
CELERY_QUEUE = "notifications"
# Retries fall due at their scheduled times; the dispatcher looks this often.
WEBHOOK_DISPATCH_EVERY = 2.0
# The retention job (retention.py), once a day at a quiet hour (UTC). A crontab, not an interval: beat starting
# afresh (its schedule file is not kept across restarts in every deployment) still runs it at that hour.
PRUNE_LOGS_AT = crontab(hour=3, minute=30)


def configure(app: Celery, settings: NotificationsSettings) -> None:
    app.conf.update(
        broker_url=settings.celery_broker_url,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.celery_visibility_timeout,
            "unacked_restore_interval": 2,
            "unacked_restore_throttle": 1,
            "socket_timeout": 10,
            "socket_connect_timeout": 5,
        },
        task_default_queue=CELERY_QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_pool=WORKER_POOL,
        worker_concurrency=WORKER_THREADS,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        beat_schedule={
            "requeue-lost-emails": {"task": "notifications.requeue_lost_emails", "schedule": REQUEUE_SWEEP_EVERY},
            # Running two beats is safe: each due row is claimed by one of them only (see emails/store.py).
            "claim-due-reminders": {
                "task": "notifications.claim_due_reminders",
                "schedule": settings.scheduled_sweep_seconds,
            },
            "claim-due-voucher-deliveries": {
                "task": "notifications.claim_due_voucher_deliveries",
                "schedule": settings.scheduled_sweep_seconds,
            },
            "dispatch-webhooks": {"task": "notifications.dispatch_webhooks", "schedule": WEBHOOK_DISPATCH_EVERY},
            "prune-logs": {"task": "notifications.prune_logs", "schedule": PRUNE_LOGS_AT},
        },
    )


# Celery's own line per task received and per task succeeded: each task logs its outcome itself (with
# the ids and what happened), and these two cost more CPU than a webhook POST. Failures and retries
# are still logged by Celery, at WARNING and above.
PER_TASK_LOGGERS = ("celery.worker.strategy", "celery.app.trace")


@celery_setup_logging.connect
def _json_logs(**_kwargs) -> None:
    setup_logging("celery", load_settings(NotificationsSettings).log_level)
    for name in PER_TASK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


@worker_process_init.connect
def _fresh_runtime_after_fork(**_kwargs) -> None:
    """Under the prefork pool, a child must not use the parent's loop, pool or sockets."""
    runtime.reset()
    smtp.mailer.reset()
    delivery.kept_session.reset()


@worker_shutdown.connect
@worker_process_shutdown.connect
def _close_runtime(**_kwargs) -> None:
    """Say goodbye to webhook receivers and PostgreSQL rather than leave the connections to the collector."""
    runtime.close(delivery.kept_session.close)


# Task names ("notifications.send_email", ...) are given in each task's decorator: beat and the queued
# messages name tasks so, whichever module holds them.
TASK_MODULES = [
    "services.notifications.emails.tasks",
    "services.notifications.webhooks.tasks",
    "services.notifications.worker.batch",
    "services.notifications.retention",
]
app = Celery("notifications", include=TASK_MODULES)
configure(app, load_settings(NotificationsSettings))
