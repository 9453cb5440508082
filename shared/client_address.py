"""Who the client is when the gateway stands behind reverse proxies (an ingress, a load balancer). Pure: no I/O.

Anyone can send `X-Forwarded-For: 198.51.100.7`, so the forwarding headers are believed only when the TCP
peer is one of our own proxies (TRUSTED_PROXIES), and only as far as our proxies wrote them: each proxy
appends the address it saw, so walking the hops from the right, the first address that is not a trusted
proxy is the client; whatever lies left of it came from that client and may be forged. What cannot be read
on that walk (a malformed entry, an obfuscated or `unknown` Forwarded node, an element without `for=`)
ends it at the peer: the proxies' own address, never one the client chose.

`X-Forwarded-For` is read when present (every common proxy writes it, so a client's own `Forwarded` is then
ignored); the standard `Forwarded` (RFC 7239) only when it is absent."""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Iterator, Sequence

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

# RFC 7239 §4: forwarded-pair = token "=" ( token / quoted-string ), pairs joined by ";", elements by ",".
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_PAIR = re.compile(rf"[ \t]*({_TOKEN})=({_TOKEN}|{_QUOTED})[ \t]*(;|,|\Z)")


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """TRUSTED_PROXIES: comma-separated CIDRs (a bare address is one host). A ValueError names a bad entry,
    so a typo stops the start instead of trusting nobody (or everybody) in silence."""
    networks = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            networks.append(ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"TRUSTED_PROXIES: {item!r} is not an IP address or CIDR network") from None
    return tuple(networks)


def client_address(
    peer: str | None, trusted: Sequence[IPNetwork], x_forwarded_for: Sequence[str] = (), forwarded: Sequence[str] = ()
) -> str | None:
    """The client's address: the TCP `peer`, unless the peer is a trusted proxy naming whom it forwards for.
    The header arguments are every line of each header, as received."""
    peer_address = _address(peer or "")
    if peer_address is None or not _is_trusted(peer_address, trusted):
        return peer
    if x_forwarded_for:
        nodes: Sequence[str | None] = ",".join(x_forwarded_for).split(",")
    elif forwarded:
        nodes = _forwarded_for(",".join(forwarded)) or [None]
    else:
        return peer
    hop: IPAddress | None = peer_address
    for node in reversed(nodes):
        hop = _address(node) if node is not None else None
        if hop is None:
            return peer
        if not _is_trusted(hop, trusted):
            return str(hop)
    # Every hop trusted (a request from inside, through the ingress): the farthest one is the client.
    return str(hop)


def _is_trusted(address: IPAddress, trusted: Sequence[IPNetwork]) -> bool:
    return any(address in network for network in trusted)


def _address(node: str) -> IPAddress | None:
    """An address as the headers write a node: `192.0.2.7`, `192.0.2.7:4711`, `2001:db8::7`, `[2001:db8::7]`,
    `[2001:db8::7]:4711` (the port dropped); None for anything else (`unknown`, `_hidden`, garbage)."""
    node = node.strip()
    if node.startswith("["):
        host, closed, port = node[1:].partition("]")
        if not closed or (port and not (port.startswith(":") and _is_port(port[1:]))):
            return None
    elif node.count(":") == 1:  # IPv4 with a port (IPv6 has at least two colons)
        host, port = node.split(":")
        if not _is_port(port):
            return None
    else:
        host = node
    try:
        address = ip_address(host)
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d: one client, one bucket, one CIDR match.
    return (address.ipv4_mapped or address) if isinstance(address, IPv6Address) else address


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and int(text) <= 65535


def _forwarded_for(header: str) -> list[str | None] | None:
    """Each element's `for=` value (None where an element has none), left to right; None if the header
    breaks RFC 7239's syntax anywhere (then none of it is believed)."""
    nodes: list[str | None] = []
    element: dict[str, str] = {}
    for name, value, separator in _pairs(header):
        if name is None or name in element:  # a syntax error, or a parameter twice in one element
            return None
        element[name] = value
        if separator != ";":
            nodes.append(element.get("for"))
            element = {}
    return None if element else nodes  # a trailing ";" leaves an element unfinished


def _pairs(header: str) -> Iterator[tuple[str | None, str, str]]:
    """(name lower-cased, value unquoted, the separator after it); (None, "", "") where the syntax breaks."""
    position = 0
    while position < len(header):
        match = _PAIR.match(header, position)
        if match is None:
            yield None, "", ""
            return
        name, value, separator = match.groups()
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        yield name.lower(), value, separator
        position = match.end()
