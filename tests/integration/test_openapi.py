"""The OpenAPI document: valid 3.1, exactly the public routes the services register, request bodies from the
very pydantic models the handlers validate with, assembled by the gateway from the services' internal APIs
(it imports none of their code); and /docs served from installed assets, no CDN."""

from __future__ import annotations

import asyncio
import inspect
import json
import re

import pytest
from aiohttp import web
from openapi_spec_validator import OpenAPIV31SpecValidator

from services.booking.app import create_app as create_booking
from services.gateway.app import create_app as create_gateway
from services.gateway.openapi import DOCS_ASSETS, SPEC_SERVICES
from services.gateway.routing import service_for
from services.notifications.app import create_app as create_notifications
from services.payments.app import create_app as create_payments
from shared.clinic_auth import INTERNAL_TOKEN_HEADER
from shared.keys import SETTINGS
from shared.openapi import REF, SPEC_PATH, serve_operations
from tests.support.openapi import BY_SERVICE, OPERATIONS, build_document

NOT_PUBLIC = ("/internal/", "/dev/")
# Public operations with a 401 of their own (not the clinic key's): a wrong email and password.
PUBLIC_401 = {("post", "/api/v1/staff/sessions")}
OPERATOR_PATHS = {"/healthz", "/readyz", "/metrics"}
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}

# HANDBOOK §5: the agreed public and clinic API (a floor: the services may add more, the spec must follow).
HANDBOOK_API = {
    ("get", "/api/v1/clinics"),
    ("get", "/api/v1/clinics/{clinic}"),
    ("get", "/api/v1/clinics/{clinic}/treatments"),
    ("get", "/api/v1/clinics/{clinic}/courses"),
    ("get", "/api/v1/clinics/{clinic}/therapists"),
    ("get", "/api/v1/clinics/{clinic}/screening"),
    ("get", "/api/v1/clinics/{clinic}/availability"),
    ("post", "/api/v1/holds"),
    ("post", "/api/v1/bookings"),
    ("get", "/api/v1/bookings/{id}"),
    ("post", "/api/v1/bookings/{id}/cancel"),
    ("post", "/api/v1/bookings/{id}/reschedule"),
    ("post", "/api/v1/vouchers"),
    ("post", "/api/v1/vouchers/balance"),
    ("post", "/api/v1/stripe/webhook"),
    ("get", "/api/v1/clinic/bookings"),
    ("get", "/api/v1/clinic/bookings/{id}"),
    ("get", "/api/v1/clinic/vouchers"),
    ("get", "/api/v1/clinic/webhook-endpoints"),
    ("post", "/api/v1/clinic/webhook-endpoints"),
    ("get", "/api/v1/clinic/webhook-endpoints/{id}"),
    ("patch", "/api/v1/clinic/webhook-endpoints/{id}"),
    ("delete", "/api/v1/clinic/webhook-endpoints/{id}"),
    ("post", "/api/v1/clinic/webhook-endpoints/{id}/rotate-secret"),
    ("get", "/api/v1/clinic/webhook-endpoints/{id}/deliveries"),
    ("post", "/api/v1/clinic/deliveries/{id}/replay"),
}


@pytest.fixture
def document(settings) -> dict:
    return build_document(settings.public_url)


def public_routes(app) -> dict[tuple[str, str], object]:
    """(method, path) → handler of every public route an app registers (HEAD and operator paths left out)."""
    found = {}
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method not in METHODS or path in OPERATOR_PATHS or path.startswith(NOT_PUBLIC):
            continue
        found[(route.method.lower(), path)] = route.handler
    return found


@pytest.fixture
def service_routes(settings) -> dict[str, dict]:
    dev = settings.with_overrides(env="development")
    return {
        "booking": public_routes(create_booking(dev)),
        "payments": public_routes(create_payments(dev)),
        "notifications": public_routes(create_notifications(dev)),
    }


def spec_operations(document: dict) -> set[tuple[str, str]]:
    return {(method, path) for path, item in document["paths"].items() for method in item}


def test_the_document_is_valid_openapi_3_1(document, settings):
    assert document["openapi"].startswith("3.1.")
    OpenAPIV31SpecValidator(document).validate()
    assert document["servers"] == [{"url": settings.public_url}]


def test_every_public_route_is_in_the_spec_and_nothing_else(document, service_routes):
    registered = set()
    for service, routes in service_routes.items():
        for method, path in routes:
            assert service_for(path) == service, f"the gateway does not route {path} to {service}"
            registered.add((method, path))
    in_spec = spec_operations(document)
    assert registered - in_spec == set(), "routes without a spec"
    assert in_spec - registered == set(), "spec operations no service registers"
    assert HANDBOOK_API <= in_spec
    assert not any(path.startswith(NOT_PUBLIC) for _, path in in_spec)


def test_operations_declare_their_path_parameters_and_clinic_auth(document):
    for path, item in document["paths"].items():
        for method, op in item.items():
            in_path = set(re.findall(r"{(\w+)}", path))
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert in_path == declared, f"{method} {path}"
            is_clinic = path.startswith("/api/v1/clinic/")
            assert (op.get("security") == [{"clinicApiKey": []}]) == is_clinic, f"{method} {path}"
            # A public operation answers 401 only for its own reason: signing in with a wrong password.
            assert ("401" in op["responses"]) == (is_clinic or (method, path) in PUBLIC_401), f"{method} {path}"
            assert {"429", "503"} <= set(op["responses"])
    assert document["components"]["securitySchemes"]["clinicApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "The clinic's API key",
    }


def test_request_bodies_are_the_models_the_handlers_validate_with(document, service_routes):
    handlers = {key: handler for routes in service_routes.values() for key, handler in routes.items()}
    components = document["components"]["schemas"]
    with_model = [op for op in OPERATIONS if op.model is not None]
    assert len(with_model) >= 10
    for op in with_model:
        body = document["paths"][op.path][op.method]["requestBody"]
        assert body["content"]["application/json"]["schema"] == {"$ref": REF.format(model=op.model.__name__)}
        expected = op.model.model_json_schema(ref_template=REF)
        for name, schema in expected.pop("$defs", {}).items():
            assert components[name] == schema
        assert components[op.model.__name__] == expected
        # The handler parses the body with this very model (shared.http_input.read_json).
        source = inspect.getsource(handlers[(op.method, op.path)])
        assert re.search(rf"\b{op.model.__name__}\b", source), f"{op.method} {op.path} does not use {op.model.__name__}"
    # And every handler that parses a body with read_json has its model in the spec.
    for (method, path), handler in handlers.items():
        match = re.search(r"read_json\(request, (\w+)\)", inspect.getsource(handler))
        if match:
            spec_body = document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
            assert spec_body == {"$ref": REF.format(model=match.group(1))}, f"{method} {path}"


async def test_the_gateway_serves_the_document(gateway, document):
    resp = await gateway.get("/openapi.json")
    assert resp.status == 200 and resp.content_type == "application/json"
    assert await resp.json() == document


async def test_the_document_is_the_one_built_in_process_byte_for_byte(gateway, document, booking, payments):
    first, again = await gateway.get("/openapi.json"), await gateway.get("/openapi.json")
    assert await first.read() == await again.read() == json.dumps(document).encode()
    # Each service serves its operations internally: the internal token is needed, and the gateway never
    # routes there.
    for service in (booking, payments):
        assert (await service.get(SPEC_PATH)).status == 401
        resp = await service.get(SPEC_PATH, headers={INTERNAL_TOKEN_HEADER: service.app[SETTINGS].internal_token})
        assert resp.status == 200 and (await resp.json())["operations"]
    resp = await gateway.get(SPEC_PATH, headers={INTERNAL_TOKEN_HEADER: gateway.app[SETTINGS].internal_token})
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"


async def test_a_service_down_makes_the_document_503_until_it_answers(linked, aiohttp_server, aiohttp_client, document):
    ports, settings = linked
    notifications = await aiohttp_server(create_notifications(settings))
    upstreams = {**settings.upstreams, "notifications": str(notifications.make_url("")).rstrip("/")}
    gateway = await aiohttp_client(create_gateway(settings.with_overrides(upstreams=upstreams)))
    assert (await gateway.get("/readyz")).status == 200, "the gateway is ready without the services"
    down = await gateway.get("/openapi.json")  # booking and payments are not started yet
    assert down.status == 503 and int(down.headers["Retry-After"]) >= 1
    assert (await down.json())["error"]["code"] == "service_unavailable"
    await aiohttp_server(create_payments(settings, reconciler=False), port=ports["payments"])
    await aiohttp_server(create_booking(settings), port=ports["booking"])
    up = await gateway.get("/openapi.json")
    assert up.status == 200 and await up.json() == document


async def test_concurrent_first_requests_fetch_each_service_s_operations_once(
    settings, aiohttp_server, aiohttp_client, document
):
    calls = {service: 0 for service in SPEC_SERVICES}

    async def stand_in(service: str) -> str:
        """A service that serves only its operations, counting the fetches."""

        @web.middleware
        async def count(request, handler):
            calls[service] += 1
            await asyncio.sleep(0.05)  # slow enough for the requests below to overlap
            return await handler(request)

        app = web.Application(middlewares=[count])
        app[SETTINGS] = settings
        serve_operations(app, BY_SERVICE[service])
        return str((await aiohttp_server(app)).make_url("")).rstrip("/")

    upstreams = {service: await stand_in(service) for service in SPEC_SERVICES}
    gateway = await aiohttp_client(create_gateway(settings.with_overrides(upstreams=upstreams)))
    answers = await asyncio.gather(*(gateway.get("/openapi.json") for _ in range(5)))
    assert [resp.status for resp in answers] == [200] * 5
    assert [await resp.json() for resp in answers] == [document] * 5
    assert calls == {service: 1 for service in SPEC_SERVICES}


async def test_docs_page_and_its_assets_are_served_locally(aiohttp_client, settings):
    gateway = await aiohttp_client(create_gateway(settings))
    page = await gateway.get("/docs")
    assert page.status == 200 and page.content_type == "text/html"
    html = await page.text()
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert not re.search(r"(https?:)?//", html), "no external URL in the docs page"
    assert "<script>" not in html and "onload=" not in html, "no inline script (the CSP forbids it)"
    referenced = re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', html)
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/docs.js", "/docs/assets/swagger-ui.css"} <= set(
        referenced
    )
    types = {"js": "text/javascript", "css": "text/css", "png": "image/png"}
    for url in referenced:
        resp = await gateway.get(url)
        assert resp.status == 200, url
        assert resp.content_type == types[url.rsplit(".", 1)[1]], url
        assert len(await resp.read()) > 0
    initialiser = await (await gateway.get("/docs/assets/docs.js")).text()
    assert 'url: "/openapi.json"' in initialiser and "validatorUrl: null" in initialiser
    assert set(DOCS_ASSETS) >= {u.rsplit("/", 1)[1] for u in referenced}
    for bad in ("/docs/assets/nope.js", "/docs/assets/..%2F..%2Fapp.py"):
        resp = await gateway.get(bad)
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
