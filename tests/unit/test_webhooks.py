import json
import random
from datetime import datetime, timedelta, timezone

import pytest
from standardwebhooks.webhooks import Webhook

from services.notifications.webhooks.rules import (
    DEFAULT_SCHEDULE,
    WebhookError,
    check_addresses,
    check_event_types,
    check_url,
    classify,
    is_public_address,
    new_secret,
    next_attempt,
    payload_for,
    sign,
)

NOW = datetime(2026, 11, 25, 12, tzinfo=timezone.utc)


def test_outcomes():
    assert classify(200, None).delivered and classify(204, None).delivered
    assert classify(410, None).disable_endpoint
    assert classify(429, "30").retry_after == 30 and classify(503, "30").retry_after is None
    for failure in (301, 400, 404, 500, None):
        outcome = classify(failure, None)
        assert not outcome.delivered and not outcome.disable_endpoint


def test_the_standard_webhooks_schedule_with_jitter_then_dead_letter():
    rng = random.Random(7)
    delays = [(next_attempt(n, DEFAULT_SCHEDULE, NOW, rng=rng) - NOW).total_seconds() for n in range(1, 10)]
    for delay, planned in zip(delays, DEFAULT_SCHEDULE[1:]):
        assert planned * 0.9 <= delay <= planned * 1.1
    assert sum(DEFAULT_SCHEDULE) / 3600 > 60, "about three days in all"
    assert next_attempt(len(DEFAULT_SCHEDULE), DEFAULT_SCHEDULE, NOW) is None


def test_retry_after_is_honoured_when_longer():
    assert next_attempt(1, (0, 5), NOW, retry_after=120) - NOW >= timedelta(seconds=120)


@pytest.mark.parametrize(
    "url, production, code",
    [
        ("ftp://example.com/hook", False, "invalid_url"),
        ("not a url", False, "invalid_url"),
        ("http://example.com/hook", True, "insecure_url"),
        ("https://user:pw@example.com/hook", False, "invalid_url"),
        # Credentials in any shape, even an empty user part.
        ("https://user@example.com/hook", False, "invalid_url"),
        ("https://:pw@example.com/hook", False, "invalid_url"),
        ("https://@example.com/hook", False, "invalid_url"),
        ("https://hooks.example.com\\@10.0.0.1/hook", False, "invalid_url"),
    ],
)
def test_bad_urls(url, production, code):
    with pytest.raises(WebhookError) as refused:
        check_url(url, production=production)
    assert refused.value.code == code and refused.value.status == 422


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/in\r\nX-Injected: 1",
        "https://hooks.example.com/in\n",
        "https://hooks.exa\tmple.com/in",
        "https://hooks.example.com/in\x00",
        "\x1bhttps://hooks.example.com/in",
        "https://hooks.example.com/in\x7f",
        "https://hooks.example.com/\x85in",
        "https://hooks.example.com/in\x9f",
        "https://hooks.example.com/a b",
        "https://127.0.0.1\r\n.example.com/in",
    ],
)
@pytest.mark.parametrize("production", [True, False])
def test_urls_with_control_characters_or_spaces_are_refused(url, production):
    # urlsplit silently drops TAB/CR/LF, so without this the URL judged would not be the URL stored and sent.
    with pytest.raises(WebhookError) as refused:
        check_url(url, production=production)
    assert refused.value.code == "invalid_url" and "control characters" in refused.value.message


def test_good_urls():
    assert check_url("https://hooks.example.com/in", production=True) == ("hooks.example.com", 443)
    assert check_url("http://127.0.0.1:8123/x", production=False) == ("127.0.0.1", 8123)


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "192.168.0.5", "172.16.9.9", "169.254.169.254", "::1", "fe80::1", "fd00::1", "0.0.0.0"],
)
def test_private_loopback_and_link_local_addresses_are_refused(address):
    with pytest.raises(WebhookError) as refused:
        check_addresses([address], allow_private=False)
    assert refused.value.code == "private_address"
    check_addresses([address], allow_private=True)


def test_public_addresses_pass():
    check_addresses(["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"], allow_private=False)


# Each IPv6 form that carries an IPv4 address, with a private, loopback or link-local one inside.
@pytest.mark.parametrize(
    "address",
    [
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::127.0.0.1",
        "::10.0.0.1",
        "::169.254.169.254",  # IPv4-compatible (deprecated)
        "::ffff:0:10.0.0.1",  # IPv4-translated (SIIT)
        "64:ff9b::10.0.0.1",
        "64:ff9b::127.0.0.1",
        "64:ff9b::169.254.169.254",  # NAT64 well-known prefix
        "64:ff9b:1::a00:1",
        "64:ff9b:1:a00:0:100::",  # NAT64 local-use, /96 and /48 embeddings
        "2002:a00:1::1",
        "2002:7f00:1::",
        "2002:a9fe:a9fe::1",  # 6to4: the IPv4 in bits 16-48
        "2001:0:a00:1::1",  # Teredo: server 10.0.0.1
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo: client 127.0.0.1 (XOR 0xffffffff)
        "2a00:1450:4009::5efe:10.0.0.1",
        "2a00:1450:4009::200:5efe:192.168.1.1",  # ISATAP interface ids
        "2a00:1450:4009::200:5efe:169.254.169.254",
        "2a00:1450:4009::100:5efe:127.0.0.1",
    ],
)
def test_ipv6_forms_carrying_a_private_ipv4_are_refused(address):
    assert not is_public_address(address)
    with pytest.raises(WebhookError) as refused:
        check_addresses(["93.184.216.34", address], allow_private=False)  # one bad answer refuses the name
    assert refused.value.code == "private_address" and "public internet addresses" in refused.value.message
    check_addresses([address], allow_private=True)  # development and tests: as before


# A global IPv4 inside: IPv4-mapped and NAT64 (DNS64 answers these for IPv4-only receivers) and ISATAP on a
# global prefix are judged by that IPv4 and allowed; 6to4, Teredo and IPv4-compatible are refused whatever
# they carry (deprecated transition forms; newer Pythons call 2002::/16 not global).
@pytest.mark.parametrize(
    "address, public",
    [
        ("::ffff:8.8.8.8", True),
        ("64:ff9b::8.8.8.8", True),
        ("2a00:1450:4009::200:5efe:8.8.8.8", True),
        ("2002:808:808::1", False),
        ("2001:0:808:808::f7f7:f7f7", False),
        ("::8.8.8.8", False),
        ("64:ff9b:1::808:808", False),
        ("::5efe:8.8.8.8", False),  # ISATAP id, but no global prefix
    ],
)
def test_a_global_ipv4_inside_an_ipv6_form(address, public):
    assert is_public_address(address) is public


@pytest.mark.parametrize(
    "address",
    [
        "224.0.0.1",
        "239.255.255.250",
        "ff0e::1",
        "ff02::1",  # multicast, which 3.11's is_global lets by
        "192.0.0.8",
        "192.88.99.1",
        "3fff::1",
        "fec0::1",
        "5f00::1",  # special-purpose, retired, documentation
        "100.64.0.1",
        "198.18.0.1",
        "192.0.2.1",
        "2001:db8::1",
        "240.0.0.1",
        "255.255.255.255",
        "::",
        "0.0.0.0",
        "fe80::1%eth0",
        "localhost",
        "",
        "10.0.0.1.nip.io",  # not numeric: never a public address
    ],
)
def test_other_non_global_addresses_are_refused(address):
    assert not is_public_address(address)


def test_event_types():
    assert check_event_types(["booking.created", "booking.created", "voucher.purchased"]) == [
        "booking.created",
        "voucher.purchased",
    ]
    with pytest.raises(WebhookError):
        check_event_types(["booking.confirmed"])


def test_payload_carries_no_codes_links_tokens_or_health_data():
    body = payload_for(
        "voucher.purchased",
        NOW,
        {"voucher_id": "v1", "code_hint": "…ABCD", "buyer_token": "t", "nested": {"screening": {"a": True}, "ok": 1}},
    )
    assert body == {
        "type": "voucher.purchased",
        "timestamp": NOW.isoformat(),
        "data": {"voucher_id": "v1", "nested": {"ok": 1}},
    }


def test_signatures_verify_with_each_live_secret_during_rotation():
    old, new = new_secret(), new_secret()
    assert old.startswith("whsec_")
    body = json.dumps({"type": "booking.created"})
    sent_at = datetime.now(timezone.utc)  # verifiers allow five minutes of clock difference
    header = sign([new, old], "msg_1", sent_at, body)
    assert header.count("v1,") == 2
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(sent_at.timestamp())), "webhook-signature": header}
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers) == {"type": "booking.created"}
    with pytest.raises(Exception):
        Webhook(new_secret()).verify(body, headers)
