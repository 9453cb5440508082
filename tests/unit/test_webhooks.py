import json
import random
from datetime import datetime, timedelta, timezone

import pytest
from standardwebhooks.webhooks import Webhook

from services.notifications.webhooks import (DEFAULT_SCHEDULE, WebhookError, check_addresses, check_event_types,
                                             check_url, classify, new_secret, next_attempt, payload_for, sign)

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


@pytest.mark.parametrize("url, production, code", [
    ("ftp://example.com/hook", False, "invalid_url"),
    ("not a url", False, "invalid_url"),
    ("http://example.com/hook", True, "insecure_url"),
    ("https://user:pw@example.com/hook", False, "invalid_url"),
])
def test_bad_urls(url, production, code):
    with pytest.raises(WebhookError) as refused:
        check_url(url, production=production)
    assert refused.value.code == code and refused.value.status == 422


def test_good_urls():
    assert check_url("https://hooks.example.com/in", production=True) == ("hooks.example.com", 443)
    assert check_url("http://127.0.0.1:8123/x", production=False) == ("127.0.0.1", 8123)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.0.5", "172.16.9.9", "169.254.169.254",
                                     "::1", "fe80::1", "fd00::1", "0.0.0.0"])
def test_private_loopback_and_link_local_addresses_are_refused(address):
    with pytest.raises(WebhookError) as refused:
        check_addresses([address], allow_private=False)
    assert refused.value.code == "private_address"
    check_addresses([address], allow_private=True)


def test_public_addresses_pass():
    check_addresses(["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"], allow_private=False)


def test_event_types():
    assert check_event_types(["booking.created", "booking.created", "voucher.purchased"]) == \
        ["booking.created", "voucher.purchased"]
    with pytest.raises(WebhookError):
        check_event_types(["booking.confirmed"])


def test_payload_carries_no_codes_links_tokens_or_health_data():
    body = payload_for("voucher.purchased", NOW, {"voucher_id": "v1", "code_hint": "…ABCD", "buyer_token": "t",
                                                  "nested": {"screening": {"a": True}, "ok": 1}})
    assert body == {"type": "voucher.purchased", "timestamp": NOW.isoformat(),
                    "data": {"voucher_id": "v1", "nested": {"ok": 1}}}


def test_signatures_verify_with_each_live_secret_during_rotation():
    old, new = new_secret(), new_secret()
    assert old.startswith("whsec_")
    body = json.dumps({"type": "booking.created"})
    sent_at = datetime.now(timezone.utc)   # verifiers allow five minutes of clock difference
    header = sign([new, old], "msg_1", sent_at, body)
    assert header.count("v1,") == 2
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(sent_at.timestamp())), "webhook-signature": header}
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers) == {"type": "booking.created"}
    with pytest.raises(Exception):
        Webhook(new_secret()).verify(body, headers)
