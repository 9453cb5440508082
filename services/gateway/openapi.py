"""One OpenAPI 3.1 document for the public and clinic API, assembled from the services' own declarations
(services/<svc>/api_spec.py), served at /openapi.json; and Swagger UI at /docs, its assets coming from the
installed `openapi-ui-bundles` package (no CDN) and started by our own script (the CSP allows no inline one).
"""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from aiohttp import web
from openapi_ui_bundles import swagger_ui

from services.booking import api_spec as booking_spec
from services.notifications import api_spec as notifications_spec
from services.payments import api_spec as payments_spec
from shared.keys import SETTINGS
from shared.openapi import CLINIC_SECURITY, SHARED_SCHEMAS, Operation

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
OPERATIONS: tuple[Operation, ...] = (*booking_spec.OPERATIONS, *payments_spec.OPERATIONS,
                                     *notifications_spec.OPERATIONS)
TAGS = [
    {"name": "Booking", "description": "Catalogue, availability, holds, bookings and changes (customers, no key)"},
    {"name": "Vouchers", "description": "Gift vouchers and their balance (customers, no key)"},
    {"name": "Clinic API", "description": "For clinics, with `Authorization: Bearer <clinic API key>`; "
                                          "everything is scoped to the key's clinic"},
    {"name": "Stripe", "description": "Stripe's webhook"},
]
OPENAPI_JSON = web.AppKey("openapi_json", bytes)

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


def build_document(public_url: str, operations: tuple[Operation, ...] = OPERATIONS) -> dict:
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
        "info": {"title": "Clinic booking API", "version": API_VERSION,
                 "description": "Book and pay for treatments, gift vouchers, and the clinic integration API. "
                                "Times are ISO 8601 with offset; money is `{amount, currency}` in minor units; "
                                "every error is `{\"error\": {\"code\", \"message\", \"details\"?}}`.",
                 "license": {"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"}},
        "servers": [{"url": public_url}],
        "tags": TAGS,
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {CLINIC_SECURITY: {"type": "http", "scheme": "bearer",
                                                  "description": "The clinic's API key"}},
        },
    }


async def openapi_ctx(app: web.Application):
    app[OPENAPI_JSON] = json.dumps(build_document(app[SETTINGS].public_url)).encode()
    yield


routes = web.RouteTableDef()


@routes.get("/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=request.app[OPENAPI_JSON], content_type="application/json")


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
    return web.Response(body=_asset(name), content_type=DOCS_ASSETS[name][1],
                        headers={"Cache-Control": ASSET_CACHE})
