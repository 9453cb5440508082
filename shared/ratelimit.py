"""Rate limits in Redis as token buckets (GCRA: one key per subject holding its "theoretical arrival
time"), every limit of a request checked and charged in one atomic Lua call, so one round trip.

A limit of N per window lets a burst of N through, then one request every window/N: the bucket refills
steadily instead of all at once at a window edge (a fixed window lets 2N through around that edge)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import redis.asyncio as aioredis

# KEYS: one bucket per check. ARGV: per key, (window ms, limit, charge 1 or 0 = only look).
# A refused call charges nothing. Returns, per key: {allowed, remaining, ms until full, ms until allowed}.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all_allowed = true
local answers, tats = {}, {}
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[3 * i - 2])
  local limit = tonumber(ARGV[3 * i - 1])
  local interval = window / limit
  local tat = math.max(tonumber(redis.call('GET', key) or 0), now)
  local wait = tat + interval - window - now
  local allowed = wait <= 0
  if not allowed then all_allowed = false end
  if allowed and ARGV[3 * i] == '1' then tats[i] = tat + interval end
  local after = tats[i] or tat
  answers[i] = {allowed and 1 or 0, math.floor((window - (after - now)) / interval),
                math.ceil(after - now), math.max(0, math.ceil(wait))}
end
if all_allowed then
  for i, key in ipairs(KEYS) do
    if tats[i] then redis.call('SET', key, string.format('%d', math.ceil(tats[i])), 'PX', math.ceil(tats[i] - now)) end
  end
end
return answers
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
    reset_seconds: int        # until the bucket is full again
    retry_after_seconds: int  # until one more request would be allowed (0 when allowed)

    def headers(self) -> dict[str, str]:
        headers = {"RateLimit-Limit": str(self.limit), "RateLimit-Remaining": str(self.remaining),
                   "RateLimit-Reset": str(self.reset_seconds)}
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_seconds)
        return headers


Check = tuple[Limit, str]      # a limit and whom it counts (a client address, a key's fingerprint)


class RateLimiter:
    def __init__(self, redis: aioredis.Redis, prefix: str):
        self.redis = redis
        self.prefix = prefix
        self._script = redis.register_script(_SCRIPT)

    async def take(self, charge: Sequence[Check], *, look: Sequence[Check] = ()) -> Verdict:
        """One request against every check in `charge`, allowed only if each has room (and each in `look`
        has room for one more, uncharged). A refused request charges nothing. The tightest verdict."""
        checks = [*charge, *look]
        args: list[int] = []
        for i, (limit, _) in enumerate(checks):
            args += [limit.window_seconds * 1000, limit.limit, 1 if i < len(charge) else 0]
        answers = await self._script(keys=[self._key(limit, subject) for limit, subject in checks], args=args)
        verdicts = [Verdict(bool(allowed), limit.limit, max(0, int(remaining)), _seconds(full_ms), _seconds(wait_ms))
                    for (limit, _), (allowed, remaining, full_ms, wait_ms) in zip(checks, answers)]
        refused = [v for v in verdicts if not v.allowed]
        if refused:
            return max(refused, key=lambda v: v.retry_after_seconds)
        return min(verdicts, key=lambda v: v.remaining)

    def _key(self, limit: Limit, subject: str) -> str:
        return f"{self.prefix}rl:{limit.name}:{subject}"


def _seconds(ms) -> int:
    return max(1, -(-int(ms) // 1000)) if int(ms) > 0 else 0
