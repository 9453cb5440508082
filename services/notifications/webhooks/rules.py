"""Clinic webhook rules with no I/O: which events clinics get, what they carry, when to retry, which
addresses we refuse to call, and the Standard Webhooks signature."""

from __future__ import annotations

import base64
import random
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any
from urllib.parse import urlsplit

from standardwebhooks.webhooks import Webhook

from shared.domain_errors import DomainError

# Our internal event → the event type clinics subscribe to.
CLINIC_EVENTS = {
    "booking.confirmed": "booking.created",
    "booking.rescheduled": "booking.rescheduled",
    "booking.cancelled": "booking.cancelled",
    "voucher.purchased": "voucher.purchased",
    # A booking's no-show or late-cancellation fee (issue 20): charged (off session, or paid from the pay link), or
    # not (the saved card declined, the bank asked for authentication, no card saved).
    "fee.charged": "booking.fee_charged",
    "fee.failed": "booking.fee_failed",
}
EVENT_TYPES = frozenset(CLINIC_EVENTS.values())
# Clinic event types whose data is only these fields of the event's (the rest is for us: a fee's customer email is
# the customer's own business, its pay token opens the customer's pay page). The others get all the event's data.
DATA_SENT: dict[str, tuple[str, ...]] = {
    "booking.fee_charged": ("fee_id", "booking_id", "kind", "amount", "via"),
    "booking.fee_failed": ("fee_id", "booking_id", "kind", "amount", "failure"),
}
# Sent only when the clinic asks (POST …/webhook-endpoints/{id}/test), to that endpoint whatever it subscribes to:
# not an event type to subscribe to, and it carries no booking or customer.
TEST_EVENT = "webhook.test"
# The Standard Webhooks schedule: about three days, then the delivery fails (dead letter).
DEFAULT_SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
JITTER = 0.1
DISABLE_AFTER = timedelta(days=5)
ROTATION_OVERLAP = timedelta(hours=24)
RESPONSE_SNIPPET = 500
# Endpoints a clinic may have at once (as Stripe's 16 per account): every event is one delivery per endpoint, each
# up to WEBHOOK_TIMEOUT of a worker shared by all clinics, so without a bound one clinic's thousands of endpoints
# would multiply every booking into thousands of slow deliveries and hold up everyone's webhooks and emails.
MAX_ENDPOINTS = 16
# Fields never sent to a clinic's systems: health data never reaches events; these are belt and braces.
NEVER_SENT = frozenset({"screening", "answers", "code", "code_hint", "voucher_code", "buyer_token", "pay_token"})


class WebhookError(DomainError):
    """A webhook endpoint the rules refuse."""


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _scrub(value: object) -> object:
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in NEVER_SENT}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def payload_for(clinic_type: str, occurred_at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    """The body clinics receive: {type, timestamp, data} (only the DATA_SENT fields for the types listed there)."""
    if (fields := DATA_SENT.get(clinic_type)) is not None:
        data = {key: data[key] for key in fields if key in data}
    return {"type": clinic_type, "timestamp": occurred_at.isoformat(), "data": _scrub(data)}


def payload_of_test_event(endpoint_id: str, at: datetime) -> dict[str, Any]:
    """The body of a test event: the same envelope as every event, data that only names the endpoint."""
    return payload_for(
        TEST_EVENT,
        at,
        {
            "endpoint_id": endpoint_id,
            "message": "A test event sent from the clinic dashboard or API. No action needed.",
        },
    )


def sign(secrets_in_use: list[str], delivery_id: str, timestamp: datetime, body: str) -> str:
    """`webhook-signature`: one `v1,` signature per live secret, space separated (rotation)."""
    return " ".join(Webhook(s).sign(delivery_id, timestamp, body) for s in secrets_in_use)


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    disable_endpoint: bool = False
    retry_after: float | None = None  # seconds the receiver asked us to wait


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


def next_attempt(
    attempts_made: int,
    schedule: tuple[float, ...],
    now: datetime,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> datetime | None:
    """When to try again after `attempts_made` attempts, or None when the schedule is used up."""
    if attempts_made >= len(schedule):
        return None
    delay = schedule[attempts_made]
    delay *= 1 + (rng or random).uniform(-JITTER, JITTER)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return now + timedelta(seconds=delay)


# Spaces and C0/DEL/C1 control characters: urlsplit silently drops TAB, CR and LF inside a URL and strips others
# at its ends, so the URL we judged would not be the URL we store and send (and CR/LF could split a request).
_NOT_IN_URLS = re.compile(r"[\x00-\x20\x7f-\x9f]")


def check_url(url: str, *, production: bool) -> tuple[str, int]:
    """The host and port to call; refuses what is not a proper http(s) URL (https only in production)."""
    if _NOT_IN_URLS.search(url):
        raise WebhookError(422, "invalid_url", "The endpoint URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # parsed on access: "Port out of range", a bracket left open…
    except ValueError:
        raise WebhookError(422, "invalid_url", "The endpoint URL is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise WebhookError(422, "invalid_url", "The endpoint URL must be an http(s) URL")
    if production and parts.scheme != "https":
        raise WebhookError(422, "insecure_url", "Webhook endpoints must use https")
    if "@" in parts.netloc:  # even an empty user part: parsers disagree on where such a host starts
        raise WebhookError(422, "invalid_url", "The endpoint URL must not carry credentials")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


# IPv4-mapped addresses (a dual-stack socket connects to the IPv4 inside) and NAT64's well-known prefix
# (RFC 6052: the translator connects to it) are judged by the IPv4 address they carry: DNS64 answers such
# addresses for IPv4-only receivers, so a global one inside is allowed.
NAT64_WELL_KNOWN = IPv6Network("64:ff9b::/96")
# Refused whatever they carry: IPv4-compatible (deprecated, RFC 4291; holds :: and ::1), IPv4-translated
# (SIIT, RFC 2765), NAT64 local-use (RFC 8215: the operator picks where the IPv4 sits, so there is no one
# address to judge), Teredo (RFC 4380: clients behind NATs, never receivers) and 6to4 (RFC 3056: relays
# deprecated by RFC 7526; newer Pythons count 2002::/16 as not global, so allowing some would vary by version).
REFUSED_V6 = (
    IPv6Network("::/96"),
    IPv6Network("::ffff:0:0:0/96"),
    IPv6Network("64:ff9b:1::/48"),
    IPv6Network("2001::/32"),
    IPv6Network("2002::/16"),
)
# All the internet's IPv6 unicast is allocated from here; the rest of the space is special or reserved.
GLOBAL_UNICAST = IPv6Network("2000::/3")
# Not globally reachable, though some Pythons' is_global tables (3.11.7's among them) let them pass:
# IETF protocol assignments, the retired 6to4 relay anycast (RFC 7526), the 2024 IPv6 documentation prefix.
NOT_GLOBAL = (IPv4Network("192.0.0.0/24"), IPv4Network("192.88.99.0/24"), IPv6Network("3fff::/20"))


def _isatap_ipv4(ip: IPv6Address) -> IPv4Address | None:
    """The IPv4 in an ISATAP interface id, `…:0:5efe:a.b.c.d` or `…:200:5efe:a.b.c.d` (RFC 5214, either u/g
    bit): the site's ISATAP router tunnels to it, so a global prefix does not make it public."""
    interface_id = int(ip) & (2**64 - 1)
    if (interface_id >> 32) & 0xFCFF_FFFF == 0x5EFE:
        return IPv4Address(interface_id & 0xFFFF_FFFF)
    return None


def _is_public(ip: IPv4Address | IPv6Address) -> bool:
    if any(ip in net for net in NOT_GLOBAL) or ip.is_multicast or not ip.is_global:
        return False
    if ip.version == 4:
        return True
    carried = _isatap_ipv4(ip)
    return ip in GLOBAL_UNICAST and (carried is None or _is_public(carried))


def is_public_address(address: str) -> bool:
    """Whether a webhook may connect to this numeric address: globally routable, and so is any IPv4 address an
    IPv6 form carries. Not an address (a name, a typo) is not public."""
    try:
        ip = ip_address(address.split("%")[0])  # a zone index (fe80::1%eth0) says nothing about the address
    except ValueError:
        return False
    if ip.version == 6 and any(ip in net for net in REFUSED_V6):
        return False
    if ip.version == 6 and (ip.ipv4_mapped is not None or ip in NAT64_WELL_KNOWN):
        return _is_public(IPv4Address(int(ip) & 0xFFFF_FFFF))
    return _is_public(ip)


def check_addresses(addresses: list[str], *, allow_private: bool) -> None:
    """Refuse endpoints that resolve to our own networks (SSRF), unless development allows them."""
    if not addresses:
        raise WebhookError(422, "unresolvable_url", "The endpoint's host name does not resolve")
    if not allow_private and not all(map(is_public_address, addresses)):
        raise WebhookError(
            422,
            "private_address",
            "Webhook endpoints must be public internet addresses: not private, loopback, link-local, "
            "multicast, documentation or reserved ones, not 6to4, Teredo or IPv4-compatible IPv6, "
            "and no IPv6 form (IPv4-mapped, NAT64, ISATAP) carrying such an IPv4 address",
        )


def check_endpoint_room(live_endpoints: int) -> None:
    """Refuse another endpoint when the clinic has MAX_ENDPOINTS already."""
    if live_endpoints >= MAX_ENDPOINTS:
        raise WebhookError(
            409,
            "too_many_endpoints",
            f"A clinic can have {MAX_ENDPOINTS} webhook endpoints; delete one you no longer use, or subscribe an "
            "existing one to more events",
            {"limit": MAX_ENDPOINTS},
        )


def check_event_types(types: list[str]) -> list[str]:
    unknown = sorted(set(types) - EVENT_TYPES)
    if unknown or not types:
        raise WebhookError(
            422,
            "unknown_event_type",
            f"Unknown event types: {', '.join(unknown) or 'none given'}",
            {"allowed": sorted(EVENT_TYPES)},
        )
    return sorted(set(types))
