"""Where a customer is in the booking flow, kept in Redis for an hour under a random id in an HttpOnly
cookie: the hold, then the booking and its payment. Never the health answers (they travel only in the
bodies of the forms that need them) and nothing a URL would leak."""
from __future__ import annotations

import json
import secrets

import redis.asyncio as aioredis
from aiohttp import web

COOKIE = "booking_flow"
LIFETIME_SECONDS = 3600


class FlowStore:
    def __init__(self, redis: aioredis.Redis, prefix: str):
        self.redis = redis
        self.prefix = f"{prefix}web:flow:"

    async def find(self, request: web.Request) -> tuple[str, dict] | None:
        flow_id = request.cookies.get(COOKIE, "")
        if not flow_id or len(flow_id) > 64:
            return None
        raw = await self.redis.get(self.prefix + flow_id)
        return (flow_id, json.loads(raw)) if raw else None

    async def save(self, flow_id: str | None, state: dict) -> str:
        flow_id = flow_id or secrets.token_urlsafe(24)
        await self.redis.set(self.prefix + flow_id, json.dumps(state), ex=LIFETIME_SECONDS)
        return flow_id


FLOWS = web.AppKey("flows", FlowStore)
