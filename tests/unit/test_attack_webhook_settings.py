"""Whether webhooks may reach private addresses when WEBHOOKS_ALLOW_PRIVATE is not set: only in development and
test. An environment named anything else (staging, a misspelt production) gets production's rule: its services
run beside internal networks and a cloud metadata address just as production's do."""

from __future__ import annotations

import pytest

from services.notifications.settings import NotificationsSettings
from shared.config import load_settings


@pytest.mark.parametrize("app_env", ["production", "staging", "prod", "Production", "preview", ""])
def test_private_webhooks_are_off_by_default_outside_development_and_test(app_env):
    assert not load_settings(NotificationsSettings, {"APP_ENV": app_env}).allow_private_webhooks


@pytest.mark.parametrize("environ", [{}, {"APP_ENV": "development"}, {"APP_ENV": "test"}])
def test_private_webhooks_are_on_by_default_in_development_and_test(environ):
    assert load_settings(NotificationsSettings, environ).allow_private_webhooks


def test_the_setting_still_decides_when_given():
    assert not load_settings(NotificationsSettings, {"WEBHOOKS_ALLOW_PRIVATE": "0"}).allow_private_webhooks
    assert load_settings(
        NotificationsSettings, {"APP_ENV": "staging", "WEBHOOKS_ALLOW_PRIVATE": "1"}
    ).allow_private_webhooks
