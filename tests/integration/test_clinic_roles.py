"""Roles in the clinic API: the gateway names who a request acts for, and each service refuses a staff
account the owner's actions (API keys, webhooks, settings) while letting it run bookings."""

from __future__ import annotations

import pytest

from services.booking.seed import stable_id
from services.notifications.app import create_app as create_notifications
from shared.clinic_auth import CLINIC_ID_HEADER, CLINIC_ROLE_HEADER, INTERNAL_TOKEN_HEADER
from tests.support.clinic_api import bearer


def as_role(settings, role: str | None) -> dict:
    """What the gateway sends after checking a caller of the urban-therapy clinic."""
    headers = {CLINIC_ID_HEADER: str(stable_id("urban-therapy")), INTERNAL_TOKEN_HEADER: settings.internal_token}
    return headers | ({CLINIC_ROLE_HEADER: role} if role else {})


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/clinic/api-keys"),
        ("POST", "/api/v1/clinic/api-keys"),
        ("GET", "/api/v1/clinic/settings"),
        ("PATCH", "/api/v1/clinic/settings"),
    ],
)
async def test_staff_are_refused_the_owners_booking_actions(booking, settings, method, path):
    body = {"name": "till"} if path.endswith("api-keys") else {"embed_origins": []}
    staff = await booking.request(method, path, headers=as_role(settings, "staff"), json=body)
    assert staff.status == 403, await staff.text()
    assert (await staff.json())["error"]["code"] == "owner_only"
    owner = await booking.request(method, path, headers=as_role(settings, "owner"), json=body)
    assert owner.status in (200, 201), await owner.text()


async def test_staff_run_bookings_and_an_unknown_role_counts_as_staff(booking, settings):
    listing = await booking.get("/api/v1/clinic/bookings", headers=as_role(settings, "staff"))
    assert listing.status == 200
    odd = await booking.get("/api/v1/clinic/api-keys", headers=as_role(settings, "superuser"))
    assert odd.status == 403


async def test_staff_are_refused_webhook_endpoints(settings, aiohttp_client):
    notifications = await aiohttp_client(create_notifications(settings))
    resp = await notifications.get("/api/v1/clinic/webhook-endpoints", headers=as_role(settings, "staff"))
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "owner_only"
    resp = await notifications.get("/api/v1/clinic/webhook-endpoints", headers=as_role(settings, "owner"))
    assert resp.status == 200


async def test_the_gateway_names_an_api_keys_role_and_ignores_one_the_client_sends(gateway, keys):
    """An API key acts as the owner; a role header from outside is dropped, never trusted or passed on."""
    headers = {**bearer(keys["urban-therapy"]), CLINIC_ROLE_HEADER: "staff"}
    resp = await gateway.get("/api/v1/clinic/api-keys", headers=headers)
    assert resp.status == 200, await resp.text()
