"""The notifications service's settings (its API, its consumer, the Celery worker and beat): the base, SMTP,
clinic webhooks, Celery."""

from __future__ import annotations

from dataclasses import dataclass

from shared.config import DEVELOPMENT_ENVS, Environ, InternalTokenSettings, Settings, default_mailbox_dir, setting


def _broker_default(env: Environ) -> str:
    return env.get("REDIS_URL", InternalTokenSettings.redis_url)


def _private_webhooks_default(env: Environ) -> str:
    # On only where the environment says development or test (as Settings.development): a staging, "prod" or
    # misspelt APP_ENV is not development, so it gets production's rule rather than reaching our own networks.
    return "1" if env.get("APP_ENV", Settings.env) in DEVELOPMENT_ENVS else "0"


@dataclass(frozen=True)
class NotificationsSettings(InternalTokenSettings):
    celery_broker_url: str = setting("redis://127.0.0.1:6379/0", fallback=_broker_default)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    mail_from: str = "Clinic bookings <bookings@clinic.localhost>"
    mailbox_dir: str = setting("var/mailbox", fallback=default_mailbox_dir)
    # Clinic webhooks: seconds between attempts (Standard Webhooks schedule); tests compress it.
    webhook_retry_schedule: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
    # Loopback/private endpoint addresses are refused unless this is on (development and tests).
    allow_private_webhooks: bool = setting(True, env="WEBHOOKS_ALLOW_PRIVATE", fallback=_private_webhooks_default)
    webhook_timeout: float = 15.0
    # A Celery task can be lost if a worker is killed between taking it from Redis and recording it as
    # taken; the sweepers redo an email, reminder, gift email or webhook delivery whose task has not finished
    # after this many seconds (above the tasks' 60 s time limit). Lower in tests that kill workers.
    lost_task_seconds: float = 90.0
    # Celery on Redis re-delivers a task whose worker died after this many seconds (tasks are idempotent
    # and far shorter); lower in tests that kill workers.
    celery_visibility_timeout: int = 60
    # How often due reminders and gift emails are looked for: how late one may go out, at most. Lower in
    # tests that wait for one.
    scheduled_sweep_seconds: float = 60.0
    # Retention (the daily job notifications.prune_logs, retention.py): a webhook delivery's payload and its
    # attempts' responses are deleted this many days after it was made, once no longer pending; an email's
    # bodies (text, HTML, attachments) this many days after it was made, once sent or failed.
    webhook_log_body_days: int = 30
    email_body_days: int = 365
