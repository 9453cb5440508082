"""The link tokens a browser is paying with (a booking's manage link, a fee's pay link), kept server-side behind
a cookie once the link's page was opened, so the payment's own pages carry no token in their URLs (nothing to
leak through Referer or history). One cookie per kind of link; a few links at once, the oldest forgotten first."""

from __future__ import annotations

from aiohttp import web

from services.web.flows import FlowStore
from shared.keys import REDIS, SETTINGS

TOKENS_KEPT = 8  # links one browser is paying from at once


class KeptTokens:
    def __init__(self, cookie: str):
        self.cookie = cookie

    def _store(self, request: web.Request) -> FlowStore:
        settings = request.app[SETTINGS]
        return FlowStore(request.app[REDIS], settings.redis_prefix, self.cookie, secure=settings.env == "production")

    async def keep(self, request: web.Request, response: web.StreamResponse, thing_id: str, token: str) -> None:
        """`token` kept for `thing_id` (the cookie set on `response`)."""
        store = self._store(request)
        found = await store.find(request)
        tokens = {k: v for k, v in (found[1].get("tokens", {}) if found else {}).items() if k != thing_id}
        tokens[thing_id] = token
        flow_id = await store.save(found[0] if found else None, {"tokens": dict(list(tokens.items())[-TOKENS_KEPT:])})
        store.remember(response, flow_id)

    async def kept(self, request: web.Request, thing_id: str) -> str:
        """The token kept for `thing_id`; 403 (open the link again) when none is."""
        found = await self._store(request).find(request)
        token = found[1].get("tokens", {}).get(thing_id) if found else None
        if not token:
            raise web.HTTPForbidden(text="This page has expired. Please open the link in your email again.")
        return str(token)
