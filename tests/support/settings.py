"""Every service's settings in one object, for tests that run several services' apps on one `settings`
fixture (each process loads only its own class: services/<name>/settings.py)."""

from __future__ import annotations

from dataclasses import dataclass

from services.booking.settings import BookingSettings
from services.gateway.settings import GatewaySettings
from services.notifications.settings import NotificationsSettings
from services.payments.settings import PaymentsSettings
from services.web.settings import WebSettings


@dataclass(frozen=True)
class AllSettings(BookingSettings, PaymentsSettings, NotificationsSettings, GatewaySettings, WebSettings):
    pass
