"""Which service answers which public path, and how long it may take (pure; longest prefix wins)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from shared.web import MAX_BODY_BYTES


@dataclass(frozen=True)
class Route:
    prefix: str
    service: str
    timeout: float  # seconds for the whole upstream exchange; then 504
    max_body: int = MAX_BODY_BYTES  # request body bytes; more is refused (413) before or while it streams


# A therapist's photo (the booking service takes up to 2 MiB of image) and the request around it.
PHOTO_BODY_BYTES = 2 * 1024 * 1024 + 1024
# The dashboard's photo upload form (a phone's photo is often several MB): streamed to the page, never held here.
PAGE_UPLOAD_BYTES = 10 * 1024 * 1024


# Paths are agreed in HANDBOOK §5. Reads answer in milliseconds; routes that call Stripe (booking with a
# card payment, buying a voucher) or resolve a webhook URL get longer.
ROUTES: tuple[Route, ...] = (
    Route("/api/v1/clinics", "booking", 5),
    Route("/api/v1/holds", "booking", 10),
    Route("/api/v1/bookings", "booking", 20),
    # A phone booking paid online asks the payments service (and Stripe) for its payment, like a customer's.
    Route("/api/v1/clinic/bookings", "booking", 20),
    Route("/api/v1/clinic/api-keys", "booking", 10),
    Route("/api/v1/clinic/settings", "booking", 10),
    # Staff accounts: signing in (public: a password check takes tens of ms of scrypt), the caller, the staff.
    Route("/api/v1/staff", "booking", 10),
    Route("/api/v1/clinic/me", "booking", 5),
    Route("/api/v1/clinic/session", "booking", 5),
    Route("/api/v1/clinic/staff", "booking", 10),
    Route("/api/v1/clinic/diary", "booking", 10),
    Route("/api/v1/clinic/treatments", "booking", 10),
    Route("/api/v1/clinic/courses", "booking", 10),
    # A customer's data export and erasure ask payments and notifications too (services/booking/privacy_client.py).
    Route("/api/v1/clinic/privacy", "booking", 30),
    # Profiles and photos (up to 2 MB), and the therapists' hours, breaks and time off.
    Route("/api/v1/clinic/therapists", "booking", 15, max_body=PHOTO_BODY_BYTES),
    # A therapist's calendar feed (public: its secret token is in the path, the logs redact it).
    Route("/api/v1/calendar", "booking", 10),
    # The waitlist (issue 20): customers join, read an offer and leave; the clinic lists and removes entries.
    Route("/api/v1/waitlist", "booking", 10),
    Route("/api/v1/clinic/waitlist", "booking", 10),
    Route("/api/v1/vouchers", "payments", 20),
    Route("/api/v1/stripe", "payments", 15),
    # A booking's no-show or late-cancellation fee (issue 20): read, and paid from the link in its email.
    Route("/api/v1/fees", "payments", 20),
    Route("/api/v1/clinic/vouchers", "payments", 10),
    # What became of each booking's fee (issue 20): the diary's booking page shows it.
    Route("/api/v1/clinic/fees", "payments", 10),
    Route("/api/v1/clinic/webhook-endpoints", "notifications", 15),
    Route("/api/v1/clinic/deliveries", "notifications", 10),
    Route("/dev/mailbox", "notifications", 10),
    # The pages (services/web): a page that books waits on the API's own calls, so it gets their time.
    Route("/", "web", 10),
    Route("/c", "web", 25),
    Route("/manage", "web", 25),
    Route("/vouchers", "web", 10),
    Route("/waitlist", "web", 10),  # leaving a waitlist, from its emails' link
    Route("/fees", "web", 25),  # paying a fee the saved card did not pay, from its email's link
    # The clinic dashboard: its pages call the clinic API back through the gateway, so they get that API's time.
    Route("/clinic", "web", 15),
    # A therapist's pages take the photo upload form: larger than the photo limit, so the page (not this gateway)
    # reads a photo that is too large and says so beside its input (the booking service judges the size).
    Route("/clinic/therapists", "web", 15, max_body=PAGE_UPLOAD_BYTES),
    Route("/assets", "web", 5),
    Route("/embed.js", "web", 5),
)


@lru_cache(maxsize=8)
def _longest_first(routes: tuple[Route, ...]) -> tuple[Route, ...]:
    return tuple(sorted(routes, key=lambda r: len(r.prefix), reverse=True))


# Dot segments: the HTTP client that forwards a request resolves them (`%2e%2e` too) before sending, so a path that
# has one would reach the upstream as another path than the one that chose the route: out of its prefix, onto any
# route of that service, internal ones included, with the internal token the clinic API's requests carry.
DOT_SEGMENTS = frozenset({".", ".."})


def route_for(path: str, routes: tuple[Route, ...] = ROUTES) -> Route | None:
    """The route of a path as the client sent it, percent-decoded (aiohttp's `request.path`); None for a path
    with a dot segment, which names no route."""
    if not DOT_SEGMENTS.isdisjoint(path.split("/")):
        return None
    for route in _longest_first(routes):
        if path == route.prefix or (route.prefix != "/" and path.startswith(route.prefix + "/")):
            return route
    return None


def service_for(path: str) -> str | None:
    route = route_for(path)
    return route.service if route else None
