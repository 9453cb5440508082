"""Fixed-window rate limits in Redis, atomic through one Lua script (count and expiry set together)."""
from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

# INCR the window's counter (by ARGV[2], 0 to only read it), start its expiry on first use; return
# the count and the milliseconds left in the window.
_SCRIPT = """
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


@dataclass(frozen=True)
class Limit:
    name: str
    limit: int
    window_seconds: int


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        headers = {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
                   "RateLimit-Reset": str(self.reset_seconds)}
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_seconds)
        return headers


class RateLimiter:
    def __init__(self, redis: aioredis.Redis, prefix: str):
        self.redis = redis
        self.prefix = prefix
        self._script = redis.register_script(_SCRIPT)

    async def hit(self, limit: Limit, subject: str, cost: int = 1) -> Verdict:
        """Count `cost` against `subject`; cost 0 only asks whether it is already over."""
        count, ttl_ms = await self._script(keys=[f"{self.prefix}rl:{limit.name}:{subject}"],
                                           args=[limit.window_seconds * 1000, cost])
        reset = max(1, -(-int(ttl_ms) // 1000))
        allowed = count <= limit.limit if cost else count < limit.limit
        return Verdict(allowed, limit.limit, max(0, limit.limit - int(count)), reset)
