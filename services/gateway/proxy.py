"""Forwarding a request to a service over pooled keep-alive connections."""
from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator

import aiohttp
from aiohttp import web

from services.gateway.clinic_keys import KeyChecker
from shared.clinic_auth import CLINIC_ID_HEADER, INTERNAL_TOKEN_HEADER
from shared.errors import ApiError
from shared.keys import SETTINGS
from shared.logs import request_id_var
from shared.web import REQUEST_ID_HEADER

log = logging.getLogger(__name__)

HTTP_SESSION = web.AppKey("http_session", aiohttp.ClientSession)
KEY_CHECKER = web.AppKey("key_checker", KeyChecker)
UPSTREAM_TIMEOUT = aiohttp.ClientTimeout(total=30, connect=2)
# Headers that describe one hop, not the message (RFC 9110 §7.6.1), plus ones we set ourselves.
HOP_BY_HOP = frozenset(h.lower() for h in (
    "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer",
    "Transfer-Encoding", "Upgrade", "Host", "Content-Length", REQUEST_ID_HEADER,
    # Set only by the gateway itself: a client sending them is ignored.
    CLINIC_ID_HEADER, INTERNAL_TOKEN_HEADER,
))
RETRY_AFTER_UPSTREAM = "5"


async def http_session_ctx(app: web.Application) -> AsyncIterator[None]:
    connector = aiohttp.TCPConnector(limit=256, keepalive_timeout=60, ttl_dns_cache=300)
    app[HTTP_SESSION] = aiohttp.ClientSession(connector=connector, timeout=UPSTREAM_TIMEOUT,
                                              auto_decompress=False, skip_auto_headers=("User-Agent",))
    settings = app[SETTINGS]
    app[KEY_CHECKER] = KeyChecker(app[HTTP_SESSION], settings.upstream("booking"), settings.internal_token)
    yield
    await app[HTTP_SESSION].close()


async def forward(request: web.Request, service: str, clinic_id: str | None = None) -> web.Response:
    settings = request.app[SETTINGS]
    url = settings.upstream(service) + request.rel_url.raw_path_qs
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    headers[REQUEST_ID_HEADER] = request_id_var.get() or ""
    if clinic_id is not None:
        headers[CLINIC_ID_HEADER] = clinic_id
        headers[INTERNAL_TOKEN_HEADER] = settings.internal_token
        headers.pop("Authorization", None)
    if request.remote:
        headers["X-Forwarded-For"] = request.remote
    body = await request.read() if request.can_read_body else None
    try:
        async with request.app[HTTP_SESSION].request(request.method, url, headers=headers, data=body,
                                                     allow_redirects=False) as upstream:
            payload = await upstream.read()
            out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
            return web.Response(status=upstream.status, body=payload, headers=out_headers)
    except asyncio.TimeoutError:
        log.warning("upstream timed out", extra={"service": service})
        raise ApiError(504, "upstream_timeout", f"The {service} service did not answer in time",
                       headers={"Retry-After": RETRY_AFTER_UPSTREAM}) from None
    except aiohttp.ClientError as exc:
        log.warning("upstream unavailable", extra={"service": service, "error": repr(exc)})
        raise ApiError(503, "service_unavailable", f"The {service} service is unavailable, please retry shortly",
                       headers={"Retry-After": RETRY_AFTER_UPSTREAM}) from None
