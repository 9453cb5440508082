"""Where a customer is in a flow, kept in Redis for an hour under a random id in an HttpOnly cookie: for a
booking the hold, then the booking and its payment; for a gift the voucher ordered and its payment. Never
the health answers (they travel only in the bodies of the forms that need them) and nothing a URL would leak."""

from __future__ import annotations

import json
import secrets

import redis.asyncio as aioredis
from aiohttp import web

LIFETIME_SECONDS = 3600


class FlowStore:
    def __init__(self, redis: aioredis.Redis, prefix: str, cookie: str, *, secure: bool):
        self.redis = redis
        self.cookie = cookie
        self.secure = secure  # the cookie only over https (production)
        self.prefix = f"{prefix}web:{cookie}:"

    async def find(self, request: web.Request) -> tuple[str, dict] | None:
        flow_id = request.cookies.get(self.cookie, "")
        if not flow_id or len(flow_id) > 64:
            return None
        raw = await self.redis.get(self.prefix + flow_id)
        return (flow_id, json.loads(raw)) if raw else None

    async def save(self, flow_id: str | None, state: dict) -> str:
        flow_id = flow_id or secrets.token_urlsafe(24)
        await self.redis.set(self.prefix + flow_id, json.dumps(state), ex=LIFETIME_SECONDS)
        return flow_id

    def remember(self, response: web.StreamResponse, flow_id: str) -> None:
        """The browser keeps the flow's id (Lax: the flow's own links and forms are same-site)."""
        response.set_cookie(
            self.cookie, flow_id, httponly=True, samesite="Lax", path="/", max_age=LIFETIME_SECONDS, secure=self.secure
        )


FLOWS = web.AppKey("flows", FlowStore)  # booking a treatment or a course
VOUCHER_FLOWS = web.AppKey("voucher_flows", FlowStore)  # buying a gift
