"""Which service answers which public path (pure; longest prefix wins)."""
from __future__ import annotations

# (path prefix, service). Paths are agreed in HANDBOOK §5.
ROUTES: tuple[tuple[str, str], ...] = (
    ("/api/v1/clinics", "booking"),
    ("/api/v1/holds", "booking"),
    ("/api/v1/bookings", "booking"),
    ("/api/v1/clinic/bookings", "booking"),
    ("/api/v1/clinic/api-keys", "booking"),
    ("/api/v1/vouchers", "payments"),
    ("/api/v1/stripe", "payments"),
    ("/api/v1/clinic/vouchers", "payments"),
    ("/api/v1/clinic/webhook-endpoints", "notifications"),
    ("/api/v1/clinic/deliveries", "notifications"),
    ("/dev/mailbox", "notifications"),
)
_BY_LENGTH = sorted(ROUTES, key=lambda r: len(r[0]), reverse=True)


def service_for(path: str) -> str | None:
    for prefix, service in _BY_LENGTH:
        if path == prefix or path.startswith(prefix + "/"):
            return service
    return None
