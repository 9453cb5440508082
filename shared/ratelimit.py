"""Rate limits in Redis as token buckets (GCRA: one key per subject holding its "theoretical arrival
time"), every limit of a request checked and charged in one atomic Lua call, so one round trip.

Requests checked in the same event-loop turn share one call (RateLimiter).

A limit of N per window lets a burst of N through, then one request every window/N: the bucket refills
steadily instead of all at once at a window edge (a fixed window lets 2N through around that edge)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Sequence

import redis.asyncio as aioredis

# Several requests' checks in one call (see RateLimiter), each request on its own all-or-nothing.
# KEYS: every request's buckets, request after request. ARGV: per request its number of buckets n, then per
# bucket (window ms, limit, charge 1 or 0 = only look). A refused request charges nothing; a later request
# in the same call sees an earlier one's charge. Returns, per request and bucket:
# {allowed, remaining, ms until full, ms until allowed}.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local results = {}
local k, a = 1, 1
while a <= #ARGV do
  local n = tonumber(ARGV[a])
  a = a + 1
  local all_allowed = true
  local answers, tats = {}, {}
  for i = 1, n do
    local key = KEYS[k + i - 1]
    local window = tonumber(ARGV[a])
    local limit = tonumber(ARGV[a + 1])
    local interval = window / limit
    local tat = math.max(tonumber(redis.call('GET', key) or 0), now)
    local wait = tat + interval - window - now
    local allowed = wait <= 0
    if not allowed then all_allowed = false end
    if allowed and ARGV[a + 2] == '1' then tats[i] = tat + interval end
    local after = tats[i] or tat
    answers[i] = {allowed and 1 or 0, math.floor((window - (after - now)) / interval),
                  math.ceil(after - now), math.max(0, math.ceil(wait))}
    a = a + 3
  end
  if all_allowed then
    for i = 1, n do
      if tats[i] then
        redis.call('SET', KEYS[k + i - 1], string.format('%d', math.ceil(tats[i])), 'PX', math.ceil(tats[i] - now))
      end
    end
  end
  results[#results + 1] = answers
  k = k + n
end
return results
"""
# Requests checked together in one call at most (a script blocks Redis while it runs).
MAX_BATCH = 64


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
    reset_seconds: int  # until the bucket is full again
    retry_after_seconds: int  # until one more request would be allowed (0 when allowed)

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_seconds)
        return headers


Check = tuple[Limit, str]  # a limit and whom it counts (a client address, a key's fingerprint)


class RateLimiter:
    """Requests whose checks arrive in the same turn of the event loop share one Redis call (one
    round trip and one script run for a burst of concurrent requests instead of one each)."""

    def __init__(self, redis: aioredis.Redis, prefix: str):
        self.redis = redis
        self.prefix = prefix
        self._script = redis.register_script(_SCRIPT)
        self._waiting: list[tuple[list[Check], int, asyncio.Future[Verdict]]] = []
        self._calls: set[asyncio.Task[None]] = set()

    async def take(self, charge: Sequence[Check], *, look: Sequence[Check] = ()) -> Verdict:
        """One request against every check in `charge`, allowed only if each has room (and each in `look`
        has room for one more, uncharged). A refused request charges nothing. The tightest verdict."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Verdict] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._send)
        self._waiting.append(([*charge, *look], len(charge), answer))
        return await answer

    def _send(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            call = asyncio.ensure_future(self._call(batch))
            self._calls.add(call)  # held until done (the loop keeps only weak references)
            call.add_done_callback(self._calls.discard)

    async def _call(self, batch: list[tuple[list[Check], int, asyncio.Future[Verdict]]]) -> None:
        keys: list[str] = []
        args: list[int] = []
        for checks, charged, _ in batch:
            args.append(len(checks))
            for i, (limit, subject) in enumerate(checks):
                keys.append(self._key(limit, subject))
                args += [limit.window_seconds * 1000, limit.limit, 1 if i < charged else 0]
        try:
            results = await self._script(keys=keys, args=args)
        except BaseException as exc:
            for _, _, answer in batch:
                if not answer.done():
                    answer.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (checks, _, answer), answers in zip(batch, results):
            if not answer.done():
                answer.set_result(_tightest(checks, answers))

    def _key(self, limit: Limit, subject: str) -> str:
        return f"{self.prefix}rl:{limit.name}:{subject}"


# One request's answers from _SCRIPT, per bucket: (allowed 1 or 0, remaining, ms until full, ms until allowed).
def _tightest(checks: list[Check], answers: Sequence[Sequence[int]]) -> Verdict:
    verdicts = [
        Verdict(bool(allowed), limit.limit, max(0, int(remaining)), _seconds(full_ms), _seconds(wait_ms))
        for (limit, _), (allowed, remaining, full_ms, wait_ms) in zip(checks, answers)
    ]
    refused = [v for v in verdicts if not v.allowed]
    if refused:
        return max(refused, key=lambda v: v.retry_after_seconds)
    return min(verdicts, key=lambda v: v.remaining)


def _seconds(ms: int) -> int:
    return max(1, -(-int(ms) // 1000)) if int(ms) > 0 else 0
