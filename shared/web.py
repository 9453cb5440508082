"""What every aiohttp service has: request ids, access logs, the error shape, health, resources."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

from aiohttp import web

from shared import db, metrics, migrations, redis_client
from shared.config import Settings, validate_for_production
from shared.errors import error_middleware
from shared.http_input import parameters_middleware
from shared.keys import DB, REDIS, SERVICE_NAME, SETTINGS, SOFT_DEPENDENCIES
from shared.logs import loggable_path, new_request_id, request_id_var, setup_logging
from shared.runner import freeze_startup_objects

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
# Bodies larger than this are refused with 413 before a handler reads them.
MAX_BODY_BYTES = 256 * 1024
READY_CHECK_TIMEOUT = 2.0


@web.middleware
async def request_id_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = incoming if _VALID_REQUEST_ID.match(incoming) else new_request_id()
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    try:
        response = await handler(request)
        response.headers[REQUEST_ID_HEADER] = request_id
        # `client`: the peer, or at the gateway behind a trusted proxy the client it named; behind the gateway
        # a service's peer is the gateway, and `forwarded_for` is the client the gateway worked out.
        log.info(
            "request",
            extra={
                "method": request.method,
                "path": loggable_path(request.path),
                "status": response.status,
                "ms": round((time.perf_counter() - started) * 1000, 2),
                "client": request.remote,
                "forwarded_for": request.headers.get("X-Forwarded-For"),
            },
        )
        return response
    finally:
        request_id_var.reset(token)


# Pages are our own HTML and CSS only (no CDN, no inline script); the API answers JSON.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
HSTS = "max-age=31536000; includeSubDomains"


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response, errors included: no sniffing, no referrer leaks, a CSP on pages, no server banner."""
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    if response.content_type == "text/html":
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    if request.app[SETTINGS].env == "production":
        headers["Strict-Transport-Security"] = HSTS
    headers.pop("Server", None)


def create_base_app(
    settings: Settings,
    service: str,
    *,
    schema: str | None = None,
    migrations: Path | None = None,
    with_redis: bool = True,
    topics: tuple[str, ...] = (),
) -> web.Application:
    """An app with the common middlewares, /healthz, /readyz, /metrics (with the lag of the event `topics` it
    publishes or reads), and optionally its pool on `schema`, migrated from the folder `migrations`, and Redis."""
    app = web.Application(
        middlewares=[request_id_middleware, error_middleware, parameters_middleware], client_max_size=MAX_BODY_BYTES
    )
    app.on_response_prepare.append(_security_headers)
    app[SETTINGS] = settings
    app[SERVICE_NAME] = service
    if schema is not None:
        assert migrations is not None, "a service with a schema names its migrations' folder"
        app.cleanup_ctx.append(_database_ctx(schema, migrations))
    if with_redis:
        app.cleanup_ctx.append(_redis_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    metrics.install(app, topics)
    return app


def _database_ctx(schema: str, folder: Path) -> Callable[[web.Application], AsyncIterator[None]]:
    """The service's pool. In development its schema is migrated here; in production the migrations Job
    (deploy/) has run before the rollout, and a schema it has not brought up to date stops the start."""

    async def database(app: web.Application) -> AsyncIterator[None]:
        pool = await db.create_pool(app[SETTINGS], schema)
        try:
            async with pool.acquire() as conn:
                if app[SETTINGS].development:
                    await migrations.apply_migrations(conn, schema, folder)
                elif pending := await migrations.pending_migrations(conn, schema, folder):
                    raise migrations.SchemaBehind(
                        f"schema {schema} lacks migrations {', '.join(pending)}: run the migrations first "
                        "(python -m shared.migrations, the Kubernetes migrations Job)"
                    )
        except BaseException:
            await pool.close()
            raise
        app[DB] = pool
        yield
        await pool.close()

    return database


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    client = redis_client.for_requests(app[SETTINGS].redis_url)
    app[REDIS] = client
    yield
    await client.aclose()


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "service": request.app[SERVICE_NAME]})


async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    app = request.app
    if DB in app:
        checks["postgres"] = await _check(_ping_db(app))
    if REDIS in app:
        checks["redis"] = await _check(app[REDIS].ping())
    ready = all(v == "ok" for v in checks.values())
    soft = {name: await _check(ping()) for name, ping in app.get(SOFT_DEPENDENCIES, {}).items()}
    status = "unavailable" if not ready else "ready" if all(v == "ok" for v in soft.values()) else "degraded"
    return web.json_response(
        {"status": status, "checks": {**checks, **soft}},
        status=200 if ready else 503,
        headers=None if ready else {"Retry-After": "5"},
    )


async def _ping_db(app: web.Application) -> None:
    async with app[DB].acquire(timeout=READY_CHECK_TIMEOUT) as conn:
        await conn.fetchval("SELECT 1")


async def _check(coro: Awaitable[object]) -> str:
    try:
        await asyncio.wait_for(coro, READY_CHECK_TIMEOUT)
        return "ok"
    except Exception as exc:
        return f"error: {type(exc).__name__}"


async def _freeze_startup_objects(app: web.Application) -> None:
    freeze_startup_objects()  # after the cleanup contexts opened the pools and clients


def run_service(app_factory: Callable[[Settings], web.Application], service: str, settings: Settings) -> None:
    """Entry point of a service process: JSON logs, uvloop, graceful shutdown on SIGTERM/SIGINT."""
    setup_logging(service, settings.log_level, off_loop=True)
    problems = validate_for_production(settings)
    if problems:
        raise SystemExit("refusing to start: " + "; ".join(problems))
    import uvloop

    host, port = settings.service_host, settings.port(service)
    log.info("listening", extra={"url": f"http://{host}:{port}"})
    app = app_factory(settings)
    app.on_startup.append(_freeze_startup_objects)
    try:
        web.run_app(
            app, host=host, port=port, print=None, access_log=None, shutdown_timeout=10, loop=uvloop.new_event_loop()
        )
    except migrations.SchemaBehind as exc:
        raise SystemExit(f"refusing to start: {exc}") from None
