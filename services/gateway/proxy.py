"""Forwarding a request to a service over pooled keep-alive connections, and who its client is.

Bodies of the usual size (every API answer) are read whole and sent in one write, the fastest way for
small messages; larger or unsized ones are streamed, in both directions, so the gateway never holds a
big body in memory. Request bodies stop at their route's `max_body` (MAX_BODY_BYTES unless the route says
more) either way.

Behind our own proxies (TRUSTED_PROXIES) the client is the one they name (shared.client_address);
`client_address_middleware` makes that `request.remote`, so the rate limits, the sign-in limiter and the
one X-Forwarded-For address the services receive all mean the same client."""

from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator, Awaitable

import aiohttp
from aiohttp import web
from aiohttp.payload import AsyncIterablePayload

from services.gateway.clinic_keys import KeyChecker, KnownKey
from services.gateway.routing import Route
from shared.client_address import client_address
from shared.clinic_auth import CLINIC_ID_HEADER, CLINIC_ROLE_HEADER, CLINIC_SESSION_HEADER, INTERNAL_TOKEN_HEADER
from shared.errors import ApiError
from shared.keys import SETTINGS
from shared.logs import request_id_var
from shared.web import MAX_BODY_BYTES, REQUEST_ID_HEADER

log = logging.getLogger(__name__)

HTTP_SESSION = web.AppKey("http_session", aiohttp.ClientSession)
KEY_CHECKER = web.AppKey("key_checker", KeyChecker)
CONNECT_TIMEOUT = 2.0
# Bodies up to this size are buffered (one write); larger or unsized ones are streamed in chunks.
BUFFER_BYTES = 1024 * 1024
CHUNK_BYTES = 64 * 1024
# Headers that describe one hop, not the message (RFC 9110 §7.6.1), plus ones we set ourselves.
HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Host",
        "Content-Length",
        REQUEST_ID_HEADER,
        # Set only by the gateway itself: a client sending them is ignored. The services get exactly one
        # client address, ours, and no client-written Forwarded to misread.
        CLINIC_ID_HEADER,
        CLINIC_ROLE_HEADER,
        CLINIC_SESSION_HEADER,
        INTERNAL_TOKEN_HEADER,
        "X-Forwarded-For",
        "Forwarded",
    )
)
RETRY_AFTER_UPSTREAM = "5"


@web.middleware
async def client_address_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Installed only with TRUSTED_PROXIES set: `request.remote` becomes the client the proxies name (a
    clone: aiohttp's way to override it), before any other middleware or handler reads it."""
    client = client_address(
        request.remote,
        request.app[SETTINGS].trusted_proxies,
        request.headers.getall("X-Forwarded-For", ()),
        request.headers.getall("Forwarded", ()),
    )
    if client != request.remote:
        request = request.clone(remote=client)
    return await handler(request)


async def http_session_ctx(app: web.Application) -> AsyncIterator[None]:
    connector = aiohttp.TCPConnector(limit=256, keepalive_timeout=60, ttl_dns_cache=300)
    # No cookie jar: cookies belong to each client, not to the gateway (a shared jar would hand one
    # client's Set-Cookie to every later request), and skipping it saves work on every request. No
    # Accept-Encoding of its own either: answers pass through undecoded, so only the client may ask for gzip.
    app[HTTP_SESSION] = aiohttp.ClientSession(
        connector=connector,
        auto_decompress=False,
        skip_auto_headers=("User-Agent", "Accept-Encoding"),
        cookie_jar=aiohttp.DummyCookieJar(),
    )
    settings = app[SETTINGS]
    app[KEY_CHECKER] = KeyChecker(app[HTTP_SESSION], settings.upstream("booking"), settings.internal_token)
    yield
    await app[HTTP_SESSION].close()


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "body_too_large", f"The request body is over {limit // 1024} KiB")


class CappedBody:
    """An unsized (chunked) request body, passed on as it comes, cut off past the limit. The client
    library reports the cut as a failed upload, so `over_limit` tells the two apart."""

    def __init__(self, stream: aiohttp.StreamReader, limit: int):
        self.stream = stream
        self.limit = limit
        self.over_limit = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        sent = 0
        async for chunk in self.stream.iter_chunked(CHUNK_BYTES):
            sent += len(chunk)
            if sent > self.limit:
                self.over_limit = True
                raise _too_large(self.limit)
            yield chunk


async def _request_body(request: web.Request, limit: int) -> bytes | CappedBody | None:
    if not request.can_read_body:
        return None
    length = request.content_length
    if length is not None and length > limit:
        raise _too_large(limit)
    if length is not None and length <= MAX_BODY_BYTES:  # what the app reads whole (its client_max_size)
        return await request.read()
    return CappedBody(request.content, limit)


async def _relay(upstream: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in upstream.content.iter_chunked(CHUNK_BYTES):
            yield chunk
    finally:
        upstream.release()


async def forward(
    request: web.Request, route: Route, caller: KnownKey | None = None, admit: Awaitable | None = None
) -> web.Response:
    """The upstream's answer to `request`, on behalf of `caller` (a clinic-API client, checked) if given.
    `admit`, if given, is awaited once the upstream has answered and before the answer is passed on: if it
    raises, the answer is dropped and its error is the client's."""
    settings = request.app[SETTINGS]
    url = settings.upstream(route.service) + request.rel_url.raw_path_qs
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    headers[REQUEST_ID_HEADER] = request_id_var.get() or ""
    if caller is not None:
        headers[CLINIC_ID_HEADER] = caller.clinic_id
        headers[CLINIC_ROLE_HEADER] = caller.role
        if caller.staff_id is not None:  # a signed-in staff member: which session (to sign it out, to name them)
            headers[CLINIC_SESSION_HEADER] = caller.key_id
        headers[INTERNAL_TOKEN_HEADER] = settings.internal_token
        headers.pop("Authorization", None)
    if request.remote:
        headers["X-Forwarded-For"] = request.remote
    body = await _request_body(request, route.max_body)
    if isinstance(body, CappedBody) and request.content_length is not None:
        headers["Content-Length"] = str(request.content_length)  # a large declared body goes on as declared
    data = AsyncIterablePayload(aiter(body)) if isinstance(body, CappedBody) else body
    timeout = aiohttp.ClientTimeout(total=route.timeout, connect=CONNECT_TIMEOUT)
    try:
        upstream = await request.app[HTTP_SESSION].request(
            request.method, url, headers=headers, data=data, allow_redirects=False, timeout=timeout
        )
        if admit is not None:
            try:
                await admit
            except BaseException:
                upstream.release()
                raise
        out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
        length = upstream.content_length
        if length is not None and length <= BUFFER_BYTES:
            async with upstream:
                return web.Response(status=upstream.status, body=await upstream.read(), headers=out_headers)
        # Sent after the middlewares have added their headers; the upstream connection is released at the end.
        return web.Response(status=upstream.status, body=AsyncIterablePayload(_relay(upstream)), headers=out_headers)
    except asyncio.TimeoutError:
        log.warning("upstream timed out", extra={"service": route.service, "timeout": route.timeout})
        raise ApiError(
            504,
            "upstream_timeout",
            f"The {route.service} service did not answer in time",
            headers={"Retry-After": RETRY_AFTER_UPSTREAM},
        ) from None
    except aiohttp.ClientError as exc:
        if isinstance(body, CappedBody) and body.over_limit:
            raise _too_large(route.max_body) from None
        log.warning("upstream unavailable", extra={"service": route.service, "error": repr(exc)})
        raise ApiError(
            503,
            "service_unavailable",
            f"The {route.service} service is unavailable, please retry shortly",
            headers={"Retry-After": RETRY_AFTER_UPSTREAM},
        ) from None
