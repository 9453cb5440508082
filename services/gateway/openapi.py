"""One OpenAPI 3.1 document for the public and clinic API, served at /openapi.json; and Swagger UI at /docs, its
assets coming from the installed `openapi-ui-bundles` package (no CDN) and started by our own script (the CSP
allows no inline one).

The gateway imports no service's code: each service declares its operations (services/<svc>/api_spec.py) and
serves them on its internal API (shared.openapi.SPEC_PATH, internal token required, never routed by the
gateway). The first request for /openapi.json fetches them from SPEC_SERVICES and assembles the document, kept
for the gateway's life; a service that cannot answer makes that request a 503 (Retry-After), and the next
request tries again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import AsyncIterator

import aiohttp
from aiohttp import web
from openapi_ui_bundles import swagger_ui

from services.gateway.proxy import CONNECT_TIMEOUT, HTTP_SESSION, RETRY_AFTER_UPSTREAM
from services.gateway.settings import GatewaySettings
from shared.clinic_auth import INTERNAL_TOKEN_HEADER
from shared.errors import ApiError
from shared.keys import SETTINGS
from shared.openapi import CLINIC_SECURITY, SHARED_SCHEMAS, SPEC_PATH, Operation, operations_from_json

log = logging.getLogger(__name__)

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
# The services whose public operations the document holds, in this order (the web service has none).
SPEC_SERVICES = ("booking", "payments", "notifications")
# Seconds for one service to answer with its operations.
SPEC_TIMEOUT = 5.0
TAGS = [
    {"name": "Booking", "description": "Catalogue, availability, holds, bookings and changes (customers, no key)"},
    {"name": "Vouchers", "description": "Gift vouchers and their balance (customers, no key)"},
    {
        "name": "Clinic API",
        "description": "For clinics, with `Authorization: Bearer <clinic API key>`; "
        "everything is scoped to the key's clinic",
    },
    {"name": "Stripe", "description": "Stripe's webhook"},
]

_STATIC = Path(__file__).parent / "static"
_DOCS_HTML = (Path(__file__).parent / "templates" / "docs.html").read_bytes()
# The files /docs may load: ours (the initialiser) and Swagger UI's, from the installed package.
DOCS_ASSETS: dict[str, tuple[Path, str]] = {
    "docs.js": (_STATIC / "docs.js", "text/javascript"),
    "swagger-ui-bundle.js": (swagger_ui.static_path / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": (swagger_ui.static_path / "swagger-ui.css", "text/css"),
    "favicon-32x32.png": (swagger_ui.static_path / "favicon-32x32.png", "image/png"),
}
ASSET_CACHE = "public, max-age=3600"


def build_document(public_url: str, operations: tuple[Operation, ...]) -> dict:
    """The whole document; two services declaring one path and method, or one schema name
    differently, is a programming error."""
    paths: dict[str, dict] = {}
    schemas: dict[str, dict] = dict(SHARED_SCHEMAS)
    for op in operations:
        item = paths.setdefault(op.path, {})
        if op.method in item:
            raise ValueError(f"{op.method.upper()} {op.path} is declared twice")
        item[op.method] = op.spec
        for name, schema in op.schemas.items():
            if schemas.setdefault(name, schema) != schema:
                raise ValueError(f"two different schemas are called {name}")
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Clinic booking API",
            "version": API_VERSION,
            "description": "Book and pay for treatments, gift vouchers, and the clinic integration API. "
            "Times are ISO 8601 with offset; money is `{amount, currency}` in minor units; "
            'every error is `{"error": {"code", "message", "details"?}}`.',
            "license": {"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
        },
        "servers": [{"url": public_url}],
        "tags": TAGS,
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                CLINIC_SECURITY: {"type": "http", "scheme": "bearer", "description": "The clinic's API key"}
            },
        },
    }


@dataclass
class Document:
    """The document's bytes once assembled; the lock makes concurrent first requests fetch once."""

    body: bytes | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


OPENAPI_DOCUMENT = web.AppKey("openapi_document", Document)


async def openapi_ctx(app: web.Application) -> AsyncIterator[None]:
    app[OPENAPI_DOCUMENT] = Document()
    yield


async def service_operations(
    session: aiohttp.ClientSession, settings: GatewaySettings, service: str
) -> tuple[Operation, ...]:
    """The public operations `service` serves on its internal API; ApiError 503 if it cannot say."""
    timeout = aiohttp.ClientTimeout(total=SPEC_TIMEOUT, connect=CONNECT_TIMEOUT)
    try:
        async with session.get(
            settings.upstream(service) + SPEC_PATH,
            timeout=timeout,
            allow_redirects=False,
            headers={INTERNAL_TOKEN_HEADER: settings.internal_token},
        ) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise ValueError(f"status {resp.status}")
        return operations_from_json(json.loads(body))
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, KeyError, TypeError) as exc:
        log.warning("service operations unavailable", extra={"service": service, "error": repr(exc)})
        raise ApiError(
            503,
            "service_unavailable",
            f"The API document needs the {service} service, which is unavailable; please retry shortly",
            headers={"Retry-After": RETRY_AFTER_UPSTREAM},
        ) from None


async def document_json(app: web.Application) -> bytes:
    """The document, assembled from the services' operations on first use and kept."""
    document = app[OPENAPI_DOCUMENT]
    if document.body is None:
        async with document.lock:
            if document.body is None:
                settings = app[SETTINGS]
                fetched = await asyncio.gather(
                    *(service_operations(app[HTTP_SESSION], settings, service) for service in SPEC_SERVICES),
                    return_exceptions=True,
                )
                for result in fetched:
                    if isinstance(result, BaseException):
                        raise result
                operations = tuple(op for ops in fetched for op in ops)
                document.body = json.dumps(build_document(settings.public_url, operations)).encode()
    return document.body


routes = web.RouteTableDef()


@routes.get("/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=await document_json(request.app), content_type="application/json")


@routes.get("/docs")
async def docs(request: web.Request) -> web.Response:
    return web.Response(body=_DOCS_HTML, content_type="text/html", charset="utf-8")


@cache
def _asset(name: str) -> bytes:
    return DOCS_ASSETS[name][0].read_bytes()


@routes.get("/docs/assets/{name}")
async def docs_asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in DOCS_ASSETS:
        raise web.HTTPNotFound()
    return web.Response(body=_asset(name), content_type=DOCS_ASSETS[name][1], headers={"Cache-Control": ASSET_CACHE})
