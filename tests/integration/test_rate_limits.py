"""The token-bucket rate limiter against a real Redis: bursts, steady refill, nothing charged when refused."""

from __future__ import annotations

import asyncio

import pytest

from shared.ratelimit import MAX_BATCH, Limit, RateLimiter


@pytest.fixture
def limiter(redis, settings) -> RateLimiter:
    return RateLimiter(redis, settings.redis_prefix)


async def test_a_burst_up_to_the_limit_passes_then_the_next_waits_one_interval(limiter):
    per_minute = Limit("burst", 6, 60)
    verdicts = [await limiter.take([(per_minute, "203.0.113.7")]) for _ in range(7)]
    assert [v.allowed for v in verdicts] == [True] * 6 + [False]
    assert [v.remaining for v in verdicts[:6]] == [5, 4, 3, 2, 1, 0]
    refused = verdicts[-1]
    assert refused.retry_after_seconds == 10, "one token comes back every 60 s / 6"
    assert refused.headers()["Retry-After"] == "10" and refused.headers()["RateLimit-Remaining"] == "0"
    assert 50 <= refused.reset_seconds <= 60
    assert (await limiter.take([(per_minute, "198.51.100.1")])).allowed, "another client has its own bucket"


async def test_the_bucket_refills_steadily_not_at_a_window_edge(limiter):
    ten_a_second = Limit("refill", 10, 1)
    assert all([(await limiter.take([(ten_a_second, "c")])).allowed for _ in range(10)])
    assert not (await limiter.take([(ten_a_second, "c")])).allowed
    await asyncio.sleep(0.25)  # two intervals of 100 ms: two tokens back, not ten, not none
    again = [(await limiter.take([(ten_a_second, "c")])).allowed for _ in range(4)]
    assert again == [True, True, False, False]


async def test_a_refused_request_charges_none_of_its_limits(limiter):
    roomy, tight = Limit("roomy", 100, 60), Limit("tight", 1, 60)
    assert (await limiter.take([(roomy, "c"), (tight, "c")])).allowed
    assert (await limiter.take([(roomy, "other")], look=[(roomy, "c")])).remaining == 99
    for _ in range(3):
        refused = await limiter.take([(roomy, "c"), (tight, "c")])
        assert not refused.allowed and refused.limit == 1, "the verdict is the refusing limit's"
    after = await limiter.take([(roomy, "c")])
    assert after.allowed and after.remaining == 98, "only the allowed request counted"


async def test_looking_charges_nothing_and_refuses_when_no_room_is_left(limiter):
    misses = Limit("misses", 2, 900)
    checks = Limit("checks", 100, 60)
    for _ in range(5):
        assert (await limiter.take([(checks, "c")], look=[(misses, "c")])).allowed
    await limiter.take([(misses, "c")])
    await limiter.take([(misses, "c")])
    refused = await limiter.take([(checks, "c")], look=[(misses, "c")])
    assert not refused.allowed and refused.retry_after_seconds == 450


async def test_concurrent_requests_share_one_redis_call_and_the_limit_still_holds(limiter):
    calls = []
    script = limiter._script

    async def counted(**kwargs):
        calls.append(len(kwargs["keys"]))
        return await script(**kwargs)

    limiter._script = counted
    five = Limit("burst", 5, 60)
    verdicts = await asyncio.gather(*(limiter.take([(five, "203.0.113.9")]) for _ in range(20)))
    assert [v.allowed for v in verdicts].count(True) == 5, "a request sees the charges of those before it"
    assert calls == [20], "twenty requests in one event-loop turn: one round trip"
    mixed = await asyncio.gather(*(limiter.take([(five, f"client-{i}")]) for i in range(MAX_BATCH + 6)))
    assert all(v.allowed for v in mixed) and calls[1:] == [MAX_BATCH, 6], "at most MAX_BATCH per call"
