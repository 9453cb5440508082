"""Who the client is behind trusted proxies (shared.client_address): only a trusted peer is believed, the
rightmost untrusted hop wins, RFC 7239 forms are read, and anything unreadable means the peer."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.gateway.settings import GatewaySettings
from shared.client_address import client_address, parse_networks
from shared.config import load_settings

PROXY = "10.0.0.9"  # the ingress, as the gateway's TCP peer
TRUSTED = parse_networks("10.0.0.0/8, 127.0.0.1")


def via_xff(*lines: str, peer: str = PROXY) -> str | None:
    return client_address(peer, TRUSTED, x_forwarded_for=lines)


def via_forwarded(*lines: str, peer: str = PROXY) -> str | None:
    return client_address(peer, TRUSTED, forwarded=lines)


def test_trusted_proxies_are_comma_separated_cidrs_or_addresses_and_none_by_default():
    assert parse_networks("") == () and load_settings(GatewaySettings, {}).trusted_proxies == ()
    assert parse_networks(" 10.0.0.0/8 , 127.0.0.1,2001:db8::/32, ") == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("2001:db8::/32"),
    )
    assert load_settings(GatewaySettings, {"TRUSTED_PROXIES": "10.244.0.0/16"}).trusted_proxies == parse_networks(
        "10.244.0.0/16"
    )
    for bad in ("10.0.0.0/33", "ingress", "10.0.0.0/8;127.0.0.1"):
        with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
            load_settings(GatewaySettings, {"TRUSTED_PROXIES": bad})


def test_an_untrusted_peer_is_the_client_whatever_its_headers_say():
    assert via_xff("203.0.113.7", peer="198.51.100.1") == "198.51.100.1"
    assert via_forwarded("for=203.0.113.7", peer="198.51.100.1") == "198.51.100.1"
    assert client_address(PROXY, (), ["203.0.113.7"], ["for=203.0.113.7"]) == PROXY, "no proxy trusted by default"
    assert client_address(None, TRUSTED, ["203.0.113.7"]) is None, "no peer address (a Unix socket): nothing to trust"


def test_a_trusted_peer_without_forwarding_headers_is_the_client():
    assert client_address(PROXY, TRUSTED) == PROXY


def test_the_rightmost_address_that_is_not_a_trusted_proxy_is_the_client():
    assert via_xff("203.0.113.7") == "203.0.113.7"
    # The client forged the first entry; our two proxies appended the last two.
    assert via_xff("1.1.1.1, 203.0.113.7, 10.1.2.3") == "203.0.113.7"
    assert via_xff("1.1.1.1, 203.0.113.7", "10.1.2.3") == "203.0.113.7", "header lines are one list"
    assert via_xff("10.5.5.5, 10.1.2.3") == "10.5.5.5", "all trusted (a request from inside): the farthest"
    assert via_xff("garbage, 203.0.113.7") == "203.0.113.7", "what lies left of the client is never read"


def test_ports_ipv6_and_mapped_addresses_are_one_canonical_address():
    assert via_xff("203.0.113.7:51234") == "203.0.113.7"
    assert via_xff("2001:DB8:0::7") == "2001:db8::7"
    assert via_xff("[2001:db8::7]:443") == via_xff("[2001:db8::7]") == "2001:db8::7"
    assert via_xff("::ffff:203.0.113.7") == "203.0.113.7"
    assert via_xff("203.0.113.7", peer="::ffff:10.0.0.9") == "203.0.113.7", "a dual-stack socket's IPv4 peer"


def test_the_forwarded_header_forms_of_rfc_7239():
    assert via_forwarded("for=192.0.2.60;proto=http;by=203.0.113.43") == "192.0.2.60"
    assert via_forwarded('For="[2001:db8:cafe::17]:4711"') == "2001:db8:cafe::17", "names in any case, quoted IPv6"
    assert via_forwarded('for="192.0.2.43:47011"') == "192.0.2.43"
    assert via_forwarded('for="\\192.0.2.43"') == "192.0.2.43", "quoted-pair escapes"
    assert via_forwarded("for=192.0.2.43, for=10.1.2.3") == "192.0.2.43"
    assert via_forwarded("for=192.0.2.43", "for=10.1.2.3 ; proto=https") == "192.0.2.43"
    assert via_forwarded("for=_hidden, for=192.0.2.43") == "192.0.2.43", "left of the client: never read"


def test_an_obfuscated_or_unknown_node_is_no_address_and_means_the_peer():
    # Skipping it would believe whatever its sender wrote further left, so the walk ends at the peer.
    for header in (
        "for=unknown",
        'for="_gazonk"',
        "for=_hidden",
        "for=192.0.2.43, for=unknown",
        "proto=https",
        "by=10.0.0.1;proto=https, for=10.1.2.3",
    ):
        assert via_forwarded(header) == PROXY, header


def test_x_forwarded_for_is_read_when_present_and_forwarded_only_without_it():
    # Our proxies append to X-Forwarded-For; a Forwarded the client sent along must not outrank it.
    assert client_address(PROXY, TRUSTED, ["203.0.113.7"], ["for=198.51.100.66"]) == "203.0.113.7"
    assert client_address(PROXY, TRUSTED, [], ["for=198.51.100.66"]) == "198.51.100.66"


@pytest.mark.parametrize(
    "header",
    [
        "",
        " ",
        "not-an-ip",
        "unknown",
        "203.0.113.7,",
        "203.0.113.7, , 10.1.2.3",
        "999.0.113.7",
        "203.0.113.7:99999",
        "203.0.113.7:port",
        "[2001:db8::7",
        "[2001:db8::7]x",
        "2001:db8::7]",
        "01.2.3.4",
        "203.0.113.7 10.1.2.3",
    ],
)
def test_a_malformed_x_forwarded_for_means_the_peer(header):
    assert via_xff(header) == PROXY


@pytest.mark.parametrize(
    "header",
    [
        "",
        "for=",
        "for",
        "for=192.0.2.43;",
        'for="192.0.2.43',
        "for=[2001:db8::7]",
        "for=192.0.2.43:80",
        "for=192.0.2.43;for=192.0.2.44",
        "for=192.0.2.43,,for=1.2.3.4",
        "for=192.0.2.43 for=1.2.3.4",
        "garbage",
        "for=a\u00e9",
    ],
)
def test_a_malformed_forwarded_header_means_the_peer(header):
    assert via_forwarded(header) == PROXY


@given(xff=st.lists(st.text(max_size=40), max_size=3), forwarded=st.lists(st.text(max_size=40), max_size=3))
def test_any_header_text_gives_the_peer_or_an_address_and_never_an_error(xff, forwarded):
    client = client_address(PROXY, TRUSTED, xff, forwarded)
    assert client == PROXY or ipaddress.ip_address(client)
    assert client_address("198.51.100.1", TRUSTED, xff, forwarded) == "198.51.100.1"
