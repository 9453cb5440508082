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
        count, ttl_ms = await self._script(keys=[self._key(limit, subject)], args=[limit.window_seconds * 1000, cost])
        return _verdict(limit, count, ttl_ms, cost)

    async def hit_all(self, checks: list[tuple[Limit, str]]) -> Verdict:
        """Count one hit against each (limit, subject) in one round trip; the tightest verdict."""
        pipe = self.redis.pipeline(transaction=False)
        for limit, subject in checks:
            await self._script(keys=[self._key(limit, subject)], args=[limit.window_seconds * 1000, 1], client=pipe)
        replies = await pipe.execute()
        verdicts = [_verdict(limit, count, ttl, 1) for (limit, _), (count, ttl) in zip(checks, replies)]
        refused = [v for v in verdicts if not v.allowed]
        return max(refused, key=lambda v: v.reset_seconds) if refused else min(verdicts, key=lambda v: v.remaining)

    def _key(self, limit: Limit, subject: str) -> str:
        return f"{self.prefix}rl:{limit.name}:{subject}"


def _verdict(limit: Limit, count, ttl_ms, cost: int) -> Verdict:
    reset = max(1, -(-int(ttl_ms) // 1000))
    allowed = count <= limit.limit if cost else count < limit.limit
    return Verdict(allowed, limit.limit, max(0, limit.limit - int(count)), reset)
