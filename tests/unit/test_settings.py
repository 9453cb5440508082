"""Each process reads (and in production demands) only its own settings (issue 17): a small base in shared/config.py,
each service's own class beside it (services/<name>/settings.py); every variable read before is still read, by
the processes that use it, with the same defaults."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

from services.booking.settings import BookingSettings
from services.gateway.settings import GatewaySettings
from services.notifications.settings import NotificationsSettings
from services.payments.settings import PaymentsSettings
from services.web.settings import WebSettings
from shared.config import Settings, load_settings, validate_for_production
from tests.support.settings import AllSettings

REPO_ROOT = Path(__file__).resolve().parents[2]

# Each Procfile process and the settings class its entrypoint loads.
PROCESSES: dict[str, type[Settings]] = {
    "gateway": GatewaySettings,
    "booking": BookingSettings,
    "payments": PaymentsSettings,
    "notifications": NotificationsSettings,
    "web": WebSettings,
    "booking-relay": Settings,
    "payments-relay": Settings,
    "booking-consumer": BookingSettings,
    "payments-consumer": PaymentsSettings,
    "notifications-consumer": NotificationsSettings,
    "celery-worker": NotificationsSettings,
    "celery-beat": NotificationsSettings,
}

# Every variable the one Settings of before read (its load_settings, before issue 17).
VARIABLES_READ_BEFORE = {
    "APP_ENV",
    "DATABASE_URL",
    "REDIS_URL",
    "REDIS_PREFIX",
    "CELERY_BROKER_URL",
    "SERVICE_HOST",
    "GATEWAY_PORT",
    "BOOKING_PORT",
    "PAYMENTS_PORT",
    "NOTIFICATIONS_PORT",
    "WEB_PORT",
    "GATEWAY_URL",
    "BOOKING_URL",
    "PAYMENTS_URL",
    "NOTIFICATIONS_URL",
    "WEB_URL",
    "PUBLIC_URL",
    "STRIPE_SECRET_KEY",
    "STRIPE_PUBLISHABLE_KEY",
    "STRIPE_API_BASE",
    "FAKE_STRIPE_PORT",
    "STRIPE_WEBHOOK_SECRET",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USER",
    "SMTP_PASSWORD",
    "SMTP_STARTTLS",
    "MAIL_FROM",
    "MAILBOX_DIR",
    "VAR_DIR",
    "MANAGE_LINK_KEY",
    "INTERNAL_TOKEN",
    "VOUCHER_CODE_KEY",
    "HEALTH_DATA_KEY",
    "METRICS_TOKEN",
    "WEBHOOK_RETRY_SCHEDULE",
    "WEBHOOKS_ALLOW_PRIVATE",
    "WEBHOOK_TIMEOUT",
    "LOST_TASK_SECONDS",
    "CELERY_VISIBILITY_TIMEOUT",
    "SCHEDULED_SWEEP_SECONDS",
    "RATE_LIMIT_PER_IP",
    "RATE_LIMIT_HOLDS_PER_IP",
    "RATE_LIMIT_PER_KEY",
    "RATE_LIMIT_SIGN_INS_PER_IP",
    "VOUCHER_BALANCE_CHECKS_PER_MINUTE",
    "TRUSTED_PROXIES",
    "CORS_ORIGINS",
    "RECONCILE_AFTER",
    "RECONCILE_INTERVAL",
    "LOG_LEVEL",
    "RELAY_POLL_INTERVAL",
    "RELAY_REPUBLISH_WINDOW",
    "CONSUMER_BLOCK_MS",
    "CONSUMER_CLAIM_IDLE_MS",
    "CONSUMER_MAX_ATTEMPTS",
    "DB_COMMAND_TIMEOUT",
}
# Variables added since, each with the processes that read it (also in USED_BY).
VARIABLES_ADDED = {
    "WEBHOOK_LOG_BODY_DAYS",  # issue 19: retention of webhook delivery bodies (notifications.prune_logs)
    "EMAIL_BODY_DAYS",  # issue 19: retention of email bodies (notifications.prune_logs)
    "WAITLIST_SWEEP_SECONDS",  # issue 20: how often the booking service's waitlist matcher runs
}

# Who reads what beyond the base (grep of the services' code): the variable, and the processes using it.
USED_BY = {
    "MANAGE_LINK_KEY": {"booking", "booking-consumer"},
    "HEALTH_DATA_KEY": {"booking"},
    "INTERNAL_TOKEN": {"gateway", "booking", "payments", "notifications", "celery-worker"},
    "STRIPE_SECRET_KEY": {"payments", "payments-consumer"},
    "STRIPE_API_BASE": {"payments", "payments-consumer", "web"},
    "STRIPE_PUBLISHABLE_KEY": {"payments", "web"},
    "STRIPE_WEBHOOK_SECRET": {"payments"},
    "VOUCHER_CODE_KEY": {"payments"},
    "VOUCHER_BALANCE_CHECKS_PER_MINUTE": {"payments"},
    "RECONCILE_AFTER": {"payments"},
    "RECONCILE_INTERVAL": {"payments"},
    "SMTP_HOST": {"celery-worker"},
    "SMTP_PORT": {"celery-worker"},
    "SMTP_USER": {"celery-worker"},
    "SMTP_PASSWORD": {"celery-worker"},
    "SMTP_STARTTLS": {"celery-worker"},
    "MAIL_FROM": {"notifications-consumer", "celery-worker"},
    "MAILBOX_DIR": {"notifications"},
    "CELERY_BROKER_URL": {"notifications-consumer", "celery-worker", "celery-beat"},
    "CELERY_VISIBILITY_TIMEOUT": {"celery-worker"},
    "SCHEDULED_SWEEP_SECONDS": {"celery-beat"},
    "LOST_TASK_SECONDS": {"notifications", "notifications-consumer", "celery-worker"},
    "WEBHOOKS_ALLOW_PRIVATE": {"notifications", "celery-worker"},
    "WEBHOOK_TIMEOUT": {"celery-worker"},
    "WEBHOOK_RETRY_SCHEDULE": {"celery-worker"},
    "RATE_LIMIT_PER_IP": {"gateway"},
    "RATE_LIMIT_HOLDS_PER_IP": {"gateway"},
    "RATE_LIMIT_PER_KEY": {"gateway"},
    "RATE_LIMIT_SIGN_INS_PER_IP": {"gateway"},
    "TRUSTED_PROXIES": {"gateway"},
    "CORS_ORIGINS": {"gateway"},
    "WEBHOOK_LOG_BODY_DAYS": {"celery-worker"},
    "EMAIL_BODY_DAYS": {"celery-worker"},
    "WAITLIST_SWEEP_SECONDS": {"booking"},
}

# The secrets each service refuses to start without in production (validate_for_production, at run_service).
CHECKED_IN_PRODUCTION = {
    GatewaySettings: {"METRICS_TOKEN", "INTERNAL_TOKEN"},
    BookingSettings: {"METRICS_TOKEN", "INTERNAL_TOKEN", "MANAGE_LINK_KEY", "HEALTH_DATA_KEY"},
    PaymentsSettings: {
        "METRICS_TOKEN",
        "INTERNAL_TOKEN",
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "VOUCHER_CODE_KEY",
        "STRIPE_PUBLISHABLE_KEY",
    },
    NotificationsSettings: {"METRICS_TOKEN", "INTERNAL_TOKEN"},
    WebSettings: {"METRICS_TOKEN", "STRIPE_PUBLISHABLE_KEY"},
}

# The values the one Settings of before loaded from an empty environment.
DEFAULTS_BEFORE = {
    "env": "development",
    "database_url": "postgresql://postgres@127.0.0.1:5432/clinic",
    "redis_url": "redis://127.0.0.1:6379/0",
    "redis_prefix": "clinic:",
    "celery_broker_url": "redis://127.0.0.1:6379/0",
    "service_host": "127.0.0.1",
    "ports": {"gateway": 8080, "booking": 8081, "payments": 8082, "notifications": 8083, "web": 8084},
    "upstreams": {},
    "public_url": "http://127.0.0.1:8080",
    "stripe_secret_key": "",
    "stripe_publishable_key": "",
    "stripe_api_base": "http://127.0.0.1:8420",
    "stripe_webhook_secret": "whsec_dev_only_not_secret",
    "smtp_host": "127.0.0.1",
    "smtp_port": 8025,
    "smtp_user": "",
    "smtp_password": "",
    "smtp_starttls": False,
    "mail_from": "Clinic bookings <bookings@clinic.localhost>",
    "mailbox_dir": "var/mailbox",
    "manage_link_key": "dev-only-manage-link-key",
    "internal_token": "dev-only-internal-token",
    "voucher_code_key": "dev-only-voucher-code-key",
    "health_data_key": "dev-only-health-data-key",
    "metrics_token": "dev-only-metrics-token",
    "webhook_retry_schedule": (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400),
    "allow_private_webhooks": True,
    "webhook_timeout": 15.0,
    "lost_task_seconds": 90.0,
    "celery_visibility_timeout": 60,
    "scheduled_sweep_seconds": 60.0,
    "rate_limit_per_ip": 600,
    "rate_limit_holds_per_ip": 30,
    "rate_limit_per_key": 1200,
    "rate_limit_sign_ins_per_ip": 10,
    "voucher_balance_checks_per_minute": 20,
    "trusted_proxies": (),
    "cors_origins": (),
    "reconcile_after": 180.0,
    "reconcile_interval": 60.0,
    "log_level": "INFO",
    "relay_poll_interval": 1.0,
    "relay_republish_window": 604800.0,
    "consumer_block_ms": 1000,
    "consumer_claim_idle_ms": 30000,
    "consumer_max_attempts": 5,
    "db_command_timeout": 10.0,
    # Added since (VARIABLES_ADDED).
    "webhook_log_body_days": 30,
    "email_body_days": 365,
    "waitlist_sweep_seconds": 15.0,
}


class RecordingEnviron(dict[str, str]):
    """An environment that notes every variable asked for."""

    def __init__(self, *args: dict[str, str]):
        super().__init__(*args)
        self.asked: set[str] = set()

    def get(self, key, default=None):
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.asked.add(key)
        return super().__contains__(key)


def variables_read(cls: type[Settings]) -> set[str]:
    environ = RecordingEnviron()
    load_settings(cls, environ)
    return environ.asked


def problem_variables(problems: list[str]) -> set[str]:
    return {problem.split()[0] for problem in problems}


def test_a_booking_process_in_production_starts_without_stripe_keys_or_smtp_password():
    own = {
        "APP_ENV": "production",
        "MANAGE_LINK_KEY": "m",
        "HEALTH_DATA_KEY": "h",
        "INTERNAL_TOKEN": "t",
        "METRICS_TOKEN": "p",
    }
    assert validate_for_production(load_settings(BookingSettings, own)) == []
    missing = validate_for_production(load_settings(BookingSettings, {"APP_ENV": "production"}))
    assert sorted(missing) == [
        "HEALTH_DATA_KEY must be set in production",
        "INTERNAL_TOKEN must be set in production",
        "MANAGE_LINK_KEY must be set in production",
        "METRICS_TOKEN must be set in production",
    ]
    booking = load_settings(BookingSettings, own)
    assert not hasattr(booking, "stripe_secret_key") and not hasattr(booking, "smtp_password")


def test_payments_refuses_to_start_without_the_stripe_secret_key():
    own = {
        "APP_ENV": "production",
        "STRIPE_WEBHOOK_SECRET": "whsec_x",
        "VOUCHER_CODE_KEY": "v",
        "INTERNAL_TOKEN": "t",
        "METRICS_TOKEN": "p",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_x",
    }
    assert validate_for_production(load_settings(PaymentsSettings, own)) == [
        "STRIPE_SECRET_KEY must be set in production"
    ]
    assert validate_for_production(load_settings(PaymentsSettings, {**own, "STRIPE_SECRET_KEY": "sk_test_y"})) == []
    # The process itself, as the Procfile starts it: it stops before it binds its port or opens anything.
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO_ROOT), **own}
    started = subprocess.run(
        [sys.executable, "-m", "services.payments"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert started.returncode != 0
    assert "refusing to start: STRIPE_SECRET_KEY must be set in production" in started.stderr


def test_each_service_checks_only_its_own_secrets():
    for cls, secrets in CHECKED_IN_PRODUCTION.items():
        problems = validate_for_production(load_settings(cls, {"APP_ENV": "production"}))
        assert problem_variables(problems) == secrets, cls
    assert all(validate_for_production(load_settings(cls, {})) == [] for cls in CHECKED_IN_PRODUCTION)
    # The tests' all-in-one settings see every service's problems, each once.
    everything = validate_for_production(load_settings(AllSettings, {"APP_ENV": "production"}))
    assert problem_variables(everything) == set().union(*CHECKED_IN_PRODUCTION.values())
    assert len(everything) == len(set(everything))


def test_every_variable_read_before_is_still_read_by_the_processes_that_use_it():
    read = {process: variables_read(cls) for process, cls in PROCESSES.items()}
    assert set().union(*read.values()) == VARIABLES_READ_BEFORE | VARIABLES_ADDED
    for variable, processes in USED_BY.items():
        for process in processes:
            assert variable in read[process], (variable, process)
    # And the secrets stay where they are used: no Stripe key nor SMTP password in booking, gateway or web; no
    # internal token in the web pages, which only call the public API.
    for process in ("booking", "gateway", "web", "booking-relay", "booking-consumer"):
        assert not read[process] & {"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "VOUCHER_CODE_KEY", "SMTP_PASSWORD"}
    assert "INTERNAL_TOKEN" not in read["web"]


def test_defaults_are_unchanged():
    for settings in (load_settings(AllSettings, {}), AllSettings()):
        values = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
        assert values == DEFAULTS_BEFORE
    for cls in PROCESSES.values():
        loaded = load_settings(cls, {})
        for f in dataclasses.fields(cls):
            assert getattr(loaded, f.name) == DEFAULTS_BEFORE[f.name], (cls, f.name)


def test_values_from_the_environment_parse_as_before():
    env = {
        "PUBLIC_URL": "https://clinic.example/",
        "WEBHOOK_RETRY_SCHEDULE": "1, 2,3",
        "APP_ENV": "production",
        "CORS_ORIGINS": " https://a.example/ , ,https://b.example",
        "TRUSTED_PROXIES": "10.0.0.0/8",
        "SMTP_STARTTLS": "on",
        "VAR_DIR": "/srv/var",
        "FAKE_STRIPE_PORT": "9420",
        "WEB_URL": "",
        "BOOKING_URL": "http://booking:8081",
        "RELAY_REPUBLISH_WINDOW": "60",
    }
    s = load_settings(AllSettings, env)
    assert s.public_url == "https://clinic.example" and s.webhook_retry_schedule == (1.0, 2.0, 3.0)
    assert s.cors_origins == ("https://a.example", "https://b.example") and len(s.trusted_proxies) == 1
    assert s.smtp_starttls and not s.allow_private_webhooks and s.mailbox_dir == "/srv/var/mailbox"
    assert s.stripe_api_base == "http://127.0.0.1:9420" and s.upstreams == {"booking": "http://booking:8081"}
    assert s.relay_republish_window == 60.0
    assert (
        load_settings(AllSettings, {"WEBHOOK_RETRY_SCHEDULE": ""}).webhook_retry_schedule
        == DEFAULTS_BEFORE["webhook_retry_schedule"]
    )
    assert load_settings(
        NotificationsSettings, {"APP_ENV": "production", "WEBHOOKS_ALLOW_PRIVATE": "1"}
    ).allow_private_webhooks
