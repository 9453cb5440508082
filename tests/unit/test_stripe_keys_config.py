"""STRIPE_PUBLISHABLE_KEY: read like every setting, required in production beside the secret key, of the
same mode (test or live)."""

from __future__ import annotations

from shared.config import load_settings, validate_for_production
from tests.support.settings import AllSettings

PRODUCTION = {
    "APP_ENV": "production",
    "MANAGE_LINK_KEY": "k",
    "STRIPE_WEBHOOK_SECRET": "whsec_x",
    "VOUCHER_CODE_KEY": "v",
    "INTERNAL_TOKEN": "t",
    "HEALTH_DATA_KEY": "h",
    "METRICS_TOKEN": "m",
}


def test_the_publishable_key_comes_from_the_environment_and_is_empty_by_default():
    assert load_settings(AllSettings, {}).stripe_publishable_key == ""
    assert load_settings(AllSettings, {"STRIPE_PUBLISHABLE_KEY": "pk_test_abc"}).stripe_publishable_key == "pk_test_abc"


def test_production_needs_a_publishable_key_of_the_secret_keys_mode():
    assert (
        validate_for_production(
            load_settings(
                AllSettings, {**PRODUCTION, "STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_PUBLISHABLE_KEY": "pk_live_y"}
            )
        )
        == []
    )
    missing = validate_for_production(load_settings(AllSettings, {**PRODUCTION, "STRIPE_SECRET_KEY": "sk_live_x"}))
    assert [p for p in missing if "STRIPE_PUBLISHABLE_KEY" in p] == [
        "STRIPE_PUBLISHABLE_KEY must be set in production (customers pay by card with it)"
    ]
    mixed = validate_for_production(
        load_settings(
            AllSettings, {**PRODUCTION, "STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_PUBLISHABLE_KEY": "pk_test_y"}
        )
    )
    assert mixed == ["STRIPE_PUBLISHABLE_KEY and STRIPE_SECRET_KEY must both be test keys or both live keys"]
