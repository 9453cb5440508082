"""The Redis client a request handler uses, made one way: short timeouts, a pooled connection that died
(as every one does when Redis restarts) retried once on a fresh one, then a prompt failure that the
error middleware answers 503. (redis-py's own default retries ten times with back-off: a request would
wait on a Redis that is down instead of being told so.)"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# What a handler's Redis trouble looks like (BusyLoadingError, a restarted Redis still loading, is one).
REDIS_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError)
TIMEOUT_SECONDS = 1.0
HEALTH_CHECK_SECONDS = 15  # an idle pooled connection is pinged before use after this long


def for_requests(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=TIMEOUT_SECONDS,
        socket_connect_timeout=TIMEOUT_SECONDS,
        health_check_interval=HEALTH_CHECK_SECONDS,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=list(REDIS_UNAVAILABLE),
    )
