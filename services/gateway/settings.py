"""The gateway's settings: the base, its rate limits, its proxies and the browser origins it lets in."""

from __future__ import annotations

from dataclasses import dataclass

from shared.client_address import IPNetwork, parse_networks
from shared.config import InternalTokenSettings, setting


def _origins(text: str) -> tuple[str, ...]:
    return tuple(o.strip().rstrip("/") for o in text.split(",") if o.strip())


@dataclass(frozen=True)
class GatewaySettings(InternalTokenSettings):
    # Requests per minute the gateway lets through: per client address, hold attempts per address, and per
    # clinic API key.
    rate_limit_per_ip: int = 600
    rate_limit_holds_per_ip: int = 30
    rate_limit_per_key: int = 1200
    # Sign-in attempts per client address per quarter hour (the API's and the dashboard page's together).
    rate_limit_sign_ins_per_ip: int = 10
    # Networks of our own reverse proxies (the ingress, a load balancer): only a request whose TCP peer is in
    # one is believed about the client's address (X-Forwarded-For / Forwarded). None: the peer is the client.
    trusted_proxies: tuple[IPNetwork, ...] = setting((), parse=parse_networks)
    # Browser origins (besides our own pages) allowed to call the API, e.g. a clinic's own website.
    cors_origins: tuple[str, ...] = setting((), parse=_origins)
