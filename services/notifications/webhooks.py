"""Clinic webhook rules with no I/O: which events clinics get, what they carry, when to retry, which
addresses we refuse to call, and the Standard Webhooks signature."""
from __future__ import annotations

import base64
import ipaddress
import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from standardwebhooks.webhooks import Webhook

from shared.domain_errors import DomainError

# Our internal event → the event type clinics subscribe to.
CLINIC_EVENTS = {
    "booking.confirmed": "booking.created",
    "booking.rescheduled": "booking.rescheduled",
    "booking.cancelled": "booking.cancelled",
    "voucher.purchased": "voucher.purchased",
}
EVENT_TYPES = frozenset(CLINIC_EVENTS.values())
# The Standard Webhooks schedule: about three days, then the delivery fails (dead letter).
DEFAULT_SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
JITTER = 0.1
DISABLE_AFTER = timedelta(days=5)
ROTATION_OVERLAP = timedelta(hours=24)
RESPONSE_SNIPPET = 500
# Fields never sent to a clinic's systems: health data never reaches events; these are belt and braces.
NEVER_SENT = frozenset({"screening", "answers", "code", "code_hint", "voucher_code", "buyer_token"})


class WebhookError(DomainError):
    """A webhook endpoint the rules refuse."""


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _scrub(value):
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in NEVER_SENT}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def payload_for(clinic_type: str, occurred_at: datetime, data: dict) -> dict:
    """The body clinics receive: {type, timestamp, data}."""
    return {"type": clinic_type, "timestamp": occurred_at.isoformat(), "data": _scrub(data)}


def sign(secrets_in_use: list[str], delivery_id: str, timestamp: datetime, body: str) -> str:
    """`webhook-signature`: one `v1,` signature per live secret, space separated (rotation)."""
    return " ".join(Webhook(s).sign(delivery_id, timestamp, body) for s in secrets_in_use)


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    disable_endpoint: bool = False
    retry_after: float | None = None      # seconds the receiver asked us to wait


def classify(status: int | None, retry_after_header: str | None) -> Outcome:
    """2xx delivered; 410 Gone disables the endpoint; 429/502/504 may say when to retry; the rest
    (3xx, 4xx, 5xx, timeouts, refused connections) is a failure to retry on schedule."""
    if status is not None and 200 <= status < 300:
        return Outcome(True)
    if status == 410:
        return Outcome(False, disable_endpoint=True)
    if status in (429, 502, 504) and retry_after_header and retry_after_header.strip().isdigit():
        return Outcome(False, retry_after=float(retry_after_header.strip()))
    return Outcome(False)


def next_attempt(attempts_made: int, schedule: tuple[float, ...], now: datetime,
                 retry_after: float | None = None, rng: random.Random | None = None) -> datetime | None:
    """When to try again after `attempts_made` attempts, or None when the schedule is used up."""
    if attempts_made >= len(schedule):
        return None
    delay = schedule[attempts_made]
    delay *= 1 + (rng or random).uniform(-JITTER, JITTER)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return now + timedelta(seconds=delay)


def check_url(url: str, *, production: bool) -> tuple[str, int]:
    """The host and port to call; refuses what is not a proper http(s) URL (https only in production)."""
    try:
        parts = urlsplit(url)
        port = parts.port          # parsed on access: "Port out of range", a bracket left open…
    except ValueError:
        raise WebhookError(422, "invalid_url", "The endpoint URL is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise WebhookError(422, "invalid_url", "The endpoint URL must be an http(s) URL")
    if production and parts.scheme != "https":
        raise WebhookError(422, "insecure_url", "Webhook endpoints must use https")
    if parts.username or parts.password:
        raise WebhookError(422, "invalid_url", "The endpoint URL must not carry credentials")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def check_addresses(addresses: list[str], *, allow_private: bool) -> None:
    """Refuse endpoints that resolve to our own networks (SSRF), unless development allows loopback."""
    if not addresses:
        raise WebhookError(422, "unresolvable_url", "The endpoint's host name does not resolve")
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not ip.is_global and not allow_private:
            raise WebhookError(422, "private_address",
                               "Webhook endpoints must be public addresses, not private, loopback or link-local")


def check_event_types(types: list[str]) -> list[str]:
    unknown = sorted(set(types) - EVENT_TYPES)
    if unknown or not types:
        raise WebhookError(422, "unknown_event_type", f"Unknown event types: {', '.join(unknown) or 'none given'}",
                           {"allowed": sorted(EVENT_TYPES)})
    return sorted(set(types))
