"""Settings from environment variables, with safe local defaults.

Read once by each entrypoint (never at import time) and passed down explicitly.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from shared.client_address import IPNetwork, parse_networks

SERVICE_PORTS = {"gateway": 8080, "booking": 8081, "payments": 8082, "notifications": 8083, "web": 8084}
DEV_WEBHOOK_SECRET = "whsec_dev_only_not_secret"
DEV_MANAGE_LINK_KEY = "dev-only-manage-link-key"
DEV_INTERNAL_TOKEN = "dev-only-internal-token"
DEV_VOUCHER_CODE_KEY = "dev-only-voucher-code-key"
DEV_HEALTH_DATA_KEY = "dev-only-health-data-key"
DEV_METRICS_TOKEN = "dev-only-metrics-token"


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/clinic"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "clinic:"
    celery_broker_url: str = "redis://127.0.0.1:6379/0"
    service_host: str = "127.0.0.1"
    ports: Mapping[str, int] = field(default_factory=lambda: dict(SERVICE_PORTS))
    upstreams: Mapping[str, str] = field(default_factory=dict)
    public_url: str = "http://127.0.0.1:8080"
    stripe_secret_key: str = ""
    # Set (pk_test_… or pk_live_…, of the secret key's account): the pay page takes cards in Stripe's Payment
    # Element. Empty: the offline test-card form, confirmed against the local fake Stripe.
    stripe_publishable_key: str = ""
    stripe_api_base: str = "http://127.0.0.1:8420"
    stripe_webhook_secret: str = DEV_WEBHOOK_SECRET
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    mail_from: str = "Clinic bookings <bookings@clinic.localhost>"
    mailbox_dir: str = "var/mailbox"
    manage_link_key: str = DEV_MANAGE_LINK_KEY
    # Shared by the services for their internal calls (never routed by the gateway).
    internal_token: str = DEV_INTERNAL_TOKEN
    # Keys voucher codes' hashes and encrypts them at rest; losing it makes issued codes unusable.
    voucher_code_key: str = DEV_VOUCHER_CODE_KEY
    # Encrypts the health screening answers at rest (shared/sealing.py): never lose it, never in the database.
    health_data_key: str = DEV_HEALTH_DATA_KEY
    # What a Prometheus scrape sends as `Authorization: Bearer …` for /metrics (never public: the gateway's
    # port faces the internet).
    metrics_token: str = DEV_METRICS_TOKEN
    # Clinic webhooks: seconds between attempts (Standard Webhooks schedule); tests compress it.
    webhook_retry_schedule: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
    # Loopback/private endpoint addresses are refused unless this is on (development and tests).
    allow_private_webhooks: bool = True
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
    # Requests per minute the gateway lets through: per client address, hold attempts per address, and per
    # clinic API key.
    rate_limit_per_ip: int = 600
    rate_limit_holds_per_ip: int = 30
    rate_limit_per_key: int = 1200
    # Voucher balance checks per minute per client address (payments): guessing codes must be hopeless.
    voucher_balance_checks_per_minute: int = 20
    # Networks of our own reverse proxies (the ingress, a load balancer): only a request whose TCP peer is in
    # one is believed about the client's address (X-Forwarded-For / Forwarded). None: the peer is the client.
    trusted_proxies: tuple[IPNetwork, ...] = ()
    # Browser origins (besides our own pages) allowed to call the API, e.g. a clinic's own website.
    cors_origins: tuple[str, ...] = ()
    # Seconds a payment may stay open before the reconciler asks Stripe about it.
    reconcile_after: float = 180.0
    reconcile_interval: float = 60.0
    log_level: str = "INFO"
    # Event path tuning (seconds unless named otherwise).
    relay_poll_interval: float = 1.0
    relay_republish_window: float = 7 * 24 * 3600
    consumer_block_ms: int = 1000
    consumer_claim_idle_ms: int = 30_000
    consumer_max_attempts: int = 5
    db_command_timeout: float = 10.0

    @property
    def offline_stripe(self) -> bool:
        return not self.stripe_secret_key

    @property
    def development(self) -> bool:
        return self.env in {"development", "test"}

    def port(self, service: str) -> int:
        return self.ports[service]

    def upstream(self, service: str) -> str:
        return self.upstreams.get(service) or f"http://127.0.0.1:{self.port(service)}"

    def with_overrides(self, **changes: Any) -> "Settings":
        return replace(self, **changes)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    d = Settings()
    redis_url = env.get("REDIS_URL", d.redis_url)
    ports = {name: int(env.get(f"{name.upper()}_PORT", port)) for name, port in SERVICE_PORTS.items()}
    upstreams = {name: env[f"{name.upper()}_URL"] for name in SERVICE_PORTS if env.get(f"{name.upper()}_URL")}
    return Settings(
        env=env.get("APP_ENV", d.env),
        database_url=env.get("DATABASE_URL", d.database_url),
        redis_url=redis_url,
        redis_prefix=env.get("REDIS_PREFIX", d.redis_prefix),
        celery_broker_url=env.get("CELERY_BROKER_URL", redis_url),
        service_host=env.get("SERVICE_HOST", d.service_host),
        ports=ports,
        upstreams=upstreams,
        public_url=env.get("PUBLIC_URL", f"http://127.0.0.1:{ports['gateway']}").rstrip("/"),
        stripe_secret_key=env.get("STRIPE_SECRET_KEY", ""),
        stripe_publishable_key=env.get("STRIPE_PUBLISHABLE_KEY", ""),
        stripe_api_base=env.get("STRIPE_API_BASE", f"http://127.0.0.1:{env.get('FAKE_STRIPE_PORT', '8420')}"),
        stripe_webhook_secret=env.get("STRIPE_WEBHOOK_SECRET", d.stripe_webhook_secret),
        smtp_host=env.get("SMTP_HOST", d.smtp_host),
        smtp_port=int(env.get("SMTP_PORT", d.smtp_port)),
        smtp_user=env.get("SMTP_USER", ""),
        smtp_password=env.get("SMTP_PASSWORD", ""),
        smtp_starttls=_bool(env.get("SMTP_STARTTLS", "0")),
        mail_from=env.get("MAIL_FROM", d.mail_from),
        mailbox_dir=env.get("MAILBOX_DIR", os.path.join(env.get("VAR_DIR", "var"), "mailbox")),
        manage_link_key=env.get("MANAGE_LINK_KEY", d.manage_link_key),
        internal_token=env.get("INTERNAL_TOKEN", d.internal_token),
        voucher_code_key=env.get("VOUCHER_CODE_KEY", d.voucher_code_key),
        health_data_key=env.get("HEALTH_DATA_KEY", d.health_data_key),
        metrics_token=env.get("METRICS_TOKEN", d.metrics_token),
        webhook_retry_schedule=tuple(float(x) for x in env["WEBHOOK_RETRY_SCHEDULE"].split(","))
        if env.get("WEBHOOK_RETRY_SCHEDULE") else d.webhook_retry_schedule,
        allow_private_webhooks=_bool(env.get("WEBHOOKS_ALLOW_PRIVATE",
                                             "0" if env.get("APP_ENV") == "production" else "1")),
        webhook_timeout=float(env.get("WEBHOOK_TIMEOUT", d.webhook_timeout)),
        lost_task_seconds=float(env.get("LOST_TASK_SECONDS", d.lost_task_seconds)),
        celery_visibility_timeout=int(env.get("CELERY_VISIBILITY_TIMEOUT", d.celery_visibility_timeout)),
        scheduled_sweep_seconds=float(env.get("SCHEDULED_SWEEP_SECONDS", d.scheduled_sweep_seconds)),
        rate_limit_per_ip=int(env.get("RATE_LIMIT_PER_IP", d.rate_limit_per_ip)),
        rate_limit_holds_per_ip=int(env.get("RATE_LIMIT_HOLDS_PER_IP", d.rate_limit_holds_per_ip)),
        rate_limit_per_key=int(env.get("RATE_LIMIT_PER_KEY", d.rate_limit_per_key)),
        voucher_balance_checks_per_minute=int(env.get("VOUCHER_BALANCE_CHECKS_PER_MINUTE",
                                                      d.voucher_balance_checks_per_minute)),
        trusted_proxies=parse_networks(env.get("TRUSTED_PROXIES", "")),
        cors_origins=tuple(o.strip().rstrip("/") for o in env.get("CORS_ORIGINS", "").split(",") if o.strip()),
        reconcile_after=float(env.get("RECONCILE_AFTER", d.reconcile_after)),
        reconcile_interval=float(env.get("RECONCILE_INTERVAL", d.reconcile_interval)),
        log_level=env.get("LOG_LEVEL", d.log_level),
        relay_poll_interval=float(env.get("RELAY_POLL_INTERVAL", d.relay_poll_interval)),
        relay_republish_window=float(env.get("RELAY_REPUBLISH_WINDOW", d.relay_republish_window)),
        consumer_block_ms=int(env.get("CONSUMER_BLOCK_MS", d.consumer_block_ms)),
        consumer_claim_idle_ms=int(env.get("CONSUMER_CLAIM_IDLE_MS", d.consumer_claim_idle_ms)),
        consumer_max_attempts=int(env.get("CONSUMER_MAX_ATTEMPTS", d.consumer_max_attempts)),
        db_command_timeout=float(env.get("DB_COMMAND_TIMEOUT", d.db_command_timeout)),
    )


def validate_for_production(settings: Settings) -> list[str]:
    """Problems that must stop a production start (dev defaults standing in for secrets)."""
    problems = []
    if settings.env == "production":
        if settings.manage_link_key == DEV_MANAGE_LINK_KEY:
            problems.append("MANAGE_LINK_KEY must be set in production")
        if settings.stripe_webhook_secret == DEV_WEBHOOK_SECRET:
            problems.append("STRIPE_WEBHOOK_SECRET must be set in production")
        if settings.voucher_code_key == DEV_VOUCHER_CODE_KEY:
            problems.append("VOUCHER_CODE_KEY must be set in production")
        if settings.health_data_key == DEV_HEALTH_DATA_KEY:
            problems.append("HEALTH_DATA_KEY must be set in production")
        if settings.metrics_token == DEV_METRICS_TOKEN:
            problems.append("METRICS_TOKEN must be set in production")
        if settings.internal_token == DEV_INTERNAL_TOKEN:
            problems.append("INTERNAL_TOKEN must be set in production")
        if settings.offline_stripe:
            problems.append("STRIPE_SECRET_KEY must be set in production")
        if not settings.stripe_publishable_key:
            problems.append("STRIPE_PUBLISHABLE_KEY must be set in production (customers pay by card with it)")
        elif _stripe_mode(settings.stripe_publishable_key) != _stripe_mode(settings.stripe_secret_key):
            problems.append("STRIPE_PUBLISHABLE_KEY and STRIPE_SECRET_KEY must both be test keys or both live keys")
    return problems


def _stripe_mode(key: str) -> str:
    """"live" or "test" by a Stripe key's prefix (pk_live_…, sk_test_…, rk_live_…)."""
    return "live" if "_live_" in key else "test"
