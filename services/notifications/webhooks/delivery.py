"""One attempt of a webhook delivery: sign, POST, record, decide what next. Runs inside a Celery task
(see webhooks/tasks.py) in the transaction that holds the delivery's row lock."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import socket
import time
import uuid
from datetime import datetime, timezone
from typing import Awaitable, Callable

import aiohttp
import asyncpg
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from services.notifications.settings import NotificationsSettings
from services.notifications.webhooks import store
from services.notifications.webhooks.rules import (
    DISABLE_AFTER,
    RESPONSE_SNIPPET,
    WebhookError,
    check_addresses,
    check_url,
    classify,
    next_attempt,
    sign,
)

log = logging.getLogger(__name__)
USER_AGENT = "ClinicBookings-Webhooks/1.0"
# An idle kept-alive connection to a receiver is closed after this long: below the keep-alive timeouts of
# common servers (Node 5 s, nginx 75 s), so we close first rather than write into a connection being closed.
KEEPALIVE_SECONDS = 1.5


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp does (or like `inner`, a test's DNS), then refuses a name if any answer is not
    a public address: aiohttp connects to these very answers, so a DNS answer cannot change between our
    check and the connection (rebinding)."""

    def __init__(self, allow_private: bool, inner: AbstractResolver | None = None):
        self._inner = inner or DefaultResolver()
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        check_addresses([a["host"] for a in answers], allow_private=self._allow_private)
        return answers

    async def close(self) -> None:
        await self._inner.close()


def guarded_socket(allow_private: bool) -> Callable[[tuple], socket.socket]:
    """aiohttp's socket_factory, called with each address it is about to connect to. It judges IP literals,
    which never reach the resolver, and refuses a name, which asyncio would look up again at connect."""

    def new_socket(addr_info: tuple) -> socket.socket:
        family, type_, proto, _canonical_name, sockaddr = addr_info
        try:
            check_addresses([sockaddr[0]], allow_private=allow_private)
        except WebhookError as exc:
            # An OSError (aiohttp reports a connection that failed), with the reason as its strerror.
            raise PermissionError(errno.EACCES, exc.message) from None
        return socket.socket(family, type_, proto)

    return new_socket


async def resolve_and_check(url: str, settings: NotificationsSettings) -> None:
    """At registration: the URL is well formed and its host resolves to addresses we may call."""
    host, port = check_url(url, production=not settings.development)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise WebhookError(422, "unresolvable_url", "The endpoint's host name does not resolve") from None
    except UnicodeError:  # not a name IDNA can encode (an empty or over-long label)
        raise WebhookError(422, "invalid_url", "The endpoint's host name is not a valid name") from None
    check_addresses([info[4][0] for info in infos], allow_private=settings.allow_private_webhooks)


def guarded_session(
    settings: NotificationsSettings, dns: AbstractResolver | None = None, **options
) -> aiohttp.ClientSession:
    """A client session that connects only to addresses the rules allow: names through the guarded resolver
    (`dns`: a test's resolver), and every socket through the guarded factory."""
    allow = settings.allow_private_webhooks
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(allow, dns), socket_factory=guarded_socket(allow), **options
    )
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())


class KeptSession:
    """A worker process's client session (on its event loop), so that deliveries to an endpoint reuse a
    kept-alive connection instead of connecting each time. Every new connection still goes through the
    guarded resolver."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self, settings: NotificationsSettings) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session, self._loop = guarded_session(settings, keepalive_timeout=KEEPALIVE_SECONDS), loop
        return self._session

    def reset(self) -> None:
        """After a fork: the parent's session belongs to the parent's loop; start afresh."""
        self._session = self._loop = None

    async def close(self) -> None:
        if self._session is not None and self._loop is asyncio.get_running_loop():
            await self._session.close()
        self.reset()


kept_session = KeptSession()


async def _post(
    url: str, body: bytes, headers: dict, settings: NotificationsSettings, session: aiohttp.ClientSession | None
) -> tuple[int | None, str | None, str | None, str | None]:
    """(status, Retry-After, first bytes of the response, error). Without `session`, on a connection of its own."""
    timeout = aiohttp.ClientTimeout(total=settings.webhook_timeout)
    own = session is None
    if own:
        session = guarded_session(settings, force_close=True)
    try:
        async with session.post(url, data=body, headers=headers, allow_redirects=False, timeout=timeout) as resp:
            snippet = (await resp.content.read(RESPONSE_SNIPPET)).decode("utf-8", "replace")
            return resp.status, resp.headers.get("Retry-After"), snippet, None
    except WebhookError as exc:
        return None, None, None, exc.message
    except asyncio.TimeoutError:
        return None, None, None, f"timed out after {settings.webhook_timeout:g}s"
    except aiohttp.ClientError as exc:
        return None, None, None, f"{type(exc).__name__}: {exc}"[:300]
    finally:
        if own:
            await session.close()


# Records the clinic's alert that its endpoint was disabled, in the attempt's transaction; returns what starts
# sending it (or None), which runs once that transaction has committed.
Alert = Callable[[asyncpg.Connection, dict], Awaitable[Callable[[], Awaitable[None]] | None]]


async def attempt(
    conn: asyncpg.Connection,
    delivery_id: uuid.UUID,
    attempt_number: int,
    settings: NotificationsSettings,
    alert: Alert,
    session: aiohttp.ClientSession | None = None,
) -> str:
    """Make attempt `attempt_number` of a delivery, once; returns what happened. `alert` is called when an
    endpoint is disabled after failing for days (the clinic is emailed), and its email started after commit:
    a task started earlier could run before the email's row is visible, and the email wait for the sweeper.
    `session`: a kept one (KeptSession) to reuse connections; by default the POST has a connection of its own.
    Three round trips besides the POST: the locked delivery with its endpoint, the outcome, the commit."""
    after_commit: list[Callable[[], Awaitable[None]]] = []
    async with conn.transaction():
        outcome = await _attempt_locked(conn, delivery_id, attempt_number, settings, alert, session, after_commit)
    for start in after_commit:
        await start()
    return outcome


async def _attempt_locked(
    conn: asyncpg.Connection,
    delivery_id: uuid.UUID,
    attempt_number: int,
    settings: NotificationsSettings,
    alert: Alert,
    session: aiohttp.ClientSession | None,
    after_commit: list[Callable[[], Awaitable[None]]],
) -> str:
    delivery = await store.lock_delivery_attempt(conn, delivery_id, attempt_number)
    if delivery is None:
        return "skipped"
    if delivery["endpoint_status"] != "enabled" or delivery["deleted_at"] is not None:
        await store.fail_unattempted(conn, delivery_id, "endpoint disabled")
        return "endpoint_disabled"
    now = datetime.now(timezone.utc)
    body = json.dumps(delivery["payload"], separators=(",", ":"))
    headers = {
        "webhook-id": str(delivery_id),
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": sign(delivery["secrets"], str(delivery_id), now, body),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    url = delivery["url"]
    started = time.perf_counter()
    try:
        check_url(url, production=not settings.development)  # rows stored before a rule was tightened
        status, retry_after, snippet, error = await _post(url, body.encode(), headers, settings, session)
    except WebhookError as exc:
        status, retry_after, snippet, error = None, None, None, exc.message
    latency = int((time.perf_counter() - started) * 1000)
    answer = {"status_code": status, "latency_ms": latency, "response": snippet, "error": error}
    endpoint_id = delivery["endpoint_id"]
    outcome = classify(status, retry_after)
    if outcome.delivered:
        await store.record_outcome(
            conn,
            delivery_id,
            endpoint_id,
            **answer,
            status="delivered",
            last_error=None,
            next_attempt_at=None,
            healthy=True,
        )
        return "delivered"
    if outcome.disable_endpoint:
        await store.record_outcome(
            conn,
            delivery_id,
            endpoint_id,
            **answer,
            status="failed",
            last_error="410 Gone",
            next_attempt_at=None,
            healthy=None,
        )
        await store.disable_endpoint(conn, endpoint_id, "the endpoint answered 410 Gone")
        return "endpoint_gone"
    retry_at = next_attempt(delivery["attempts"] + 1, settings.webhook_retry_schedule, now, outcome.retry_after)
    failing_since = await store.record_outcome(
        conn,
        delivery_id,
        endpoint_id,
        **answer,
        status="pending" if retry_at else "failed",
        last_error=error or f"HTTP {status}",
        next_attempt_at=retry_at,
        healthy=False,
    )
    if failing_since is not None and now - failing_since > DISABLE_AFTER:
        await store.disable_endpoint(conn, endpoint_id, "failing for more than 5 days")
        endpoint = {
            "id": endpoint_id,
            "clinic_id": delivery["clinic_id"],
            "url": url,
            "alert_email": delivery["alert_email"],
        }
        if start := await alert(conn, endpoint):
            after_commit.append(start)
        log.warning("webhook endpoint disabled after failing for days", extra={"endpoint_id": str(endpoint_id)})
    log.info(
        "webhook attempt failed",
        extra={
            "delivery_id": str(delivery_id),
            "status": status,
            "error": error,
            "retry_at": retry_at.isoformat() if retry_at else None,
        },
    )
    return "retry" if retry_at else "failed"
