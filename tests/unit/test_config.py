from shared.config import load_settings, validate_for_production
from tests.support.settings import AllSettings


def test_defaults_are_local():
    s = load_settings(AllSettings, {})
    assert s.port("gateway") == 8080 and s.public_url == "http://127.0.0.1:8080"
    assert s.upstream("booking") == "http://127.0.0.1:8081"
    assert s.offline_stripe and s.development
    assert s.celery_broker_url == s.redis_url


def test_environment_overrides():
    s = load_settings(
        AllSettings,
        {
            "GATEWAY_PORT": "9000",
            "BOOKING_URL": "http://booking:8081",
            "REDIS_URL": "redis://r:6379/2",
            "SMTP_STARTTLS": "true",
            "STRIPE_SECRET_KEY": "sk_live_x",
            "APP_ENV": "production",
        },
    )
    assert s.port("gateway") == 9000 and s.public_url == "http://127.0.0.1:9000"
    assert s.upstream("booking") == "http://booking:8081"
    assert s.celery_broker_url == "redis://r:6379/2"
    assert s.smtp_starttls and not s.offline_stripe and not s.development


def test_production_refuses_development_secrets():
    problems = validate_for_production(load_settings(AllSettings, {"APP_ENV": "production"}))
    assert any("MANAGE_LINK_KEY" in p for p in problems)
    assert any("STRIPE_WEBHOOK_SECRET" in p for p in problems)
    assert any("HEALTH_DATA_KEY" in p for p in problems)
    assert validate_for_production(load_settings(AllSettings, {})) == []
