"""Which service answers which public path, and how long it may take (pure; longest prefix wins)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Route:
    prefix: str
    service: str
    timeout: float  # seconds for the whole upstream exchange; then 504


# Paths are agreed in HANDBOOK §5. Reads answer in milliseconds; routes that call Stripe (booking with a
# card payment, buying a voucher) or resolve a webhook URL get longer.
ROUTES: tuple[Route, ...] = (
    Route("/api/v1/clinics", "booking", 5),
    Route("/api/v1/holds", "booking", 10),
    Route("/api/v1/bookings", "booking", 20),
    Route("/api/v1/clinic/bookings", "booking", 10),
    Route("/api/v1/clinic/api-keys", "booking", 10),
    Route("/api/v1/clinic/settings", "booking", 10),
    Route("/api/v1/vouchers", "payments", 20),
    Route("/api/v1/stripe", "payments", 15),
    Route("/api/v1/clinic/vouchers", "payments", 10),
    Route("/api/v1/clinic/webhook-endpoints", "notifications", 15),
    Route("/api/v1/clinic/deliveries", "notifications", 10),
    Route("/dev/mailbox", "notifications", 10),
    # The pages (services/web): a page that books waits on the API's own calls, so it gets their time.
    Route("/", "web", 10),
    Route("/c", "web", 25),
    Route("/manage", "web", 25),
    Route("/vouchers", "web", 10),
    Route("/assets", "web", 5),
    Route("/embed.js", "web", 5),
)


@lru_cache(maxsize=8)
def _longest_first(routes: tuple[Route, ...]) -> tuple[Route, ...]:
    return tuple(sorted(routes, key=lambda r: len(r.prefix), reverse=True))


def route_for(path: str, routes: tuple[Route, ...] = ROUTES) -> Route | None:
    for route in _longest_first(routes):
        if path == route.prefix or (route.prefix != "/" and path.startswith(route.prefix + "/")):
            return route
    return None


def service_for(path: str) -> str | None:
    route = route_for(path)
    return route.service if route else None
