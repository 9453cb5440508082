"""Tenancy across the whole clinic API, through the gateway: clinic A has a booking, a webhook endpoint,
a delivery, a voucher and an API key; clinic B's key, on every clinic route of the OpenAPI document with
A's ids, gets 404 (no existence leak), and B's listings show none of A's things. A new clinic route
fails this test until it is covered here."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from services.booking.seed import stable_id
from services.notifications.webhooks import store as webhook_store
from tests.support.booking import COURSE, THERAPIST, TREATMENT, book_and_pay, next_weekday
from tests.support.clinic_api import bearer
from tests.support.openapi import build_document
from tests.support.vouchers import buy_voucher

CLINIC_API = "/api/v1/clinic/"
# What each clinic route's {id} names, by the path's first segment after /api/v1/clinic/.
KINDS = (
    "bookings",
    "webhook-endpoints",
    "deliveries",
    "vouchers",
    "api-keys",
    "staff",
    "treatments",
    "courses",
    "therapists",
    "waitlist",
)
TIME_OFF = {"start": "2030-01-07T09:00:00+00:00", "end": "2030-01-07T17:00:00+00:00", "reason": "training"}
# Valid bodies, so that a 404 is about the id and not a 422 about the body.
BODIES = {
    ("PATCH", "/api/v1/clinic/webhook-endpoints/{id}"): {"description": "renamed"},
    ("POST", "/api/v1/clinic/webhook-endpoints/{id}/replay"): {"since": "2026-01-01T00:00:00+00:00"},
    ("POST", "/api/v1/clinic/vouchers/{id}/reactivate"): {"reason": "goodwill gesture"},
    ("POST", "/api/v1/clinic/bookings/{id}/cancel"): {"reason": "therapist unwell"},
    ("POST", "/api/v1/clinic/bookings/{id}/reschedule"): {"start": "2030-01-08T10:00:00+00:00"},
    ("PATCH", "/api/v1/clinic/treatments/{id}"): {"name": "renamed"},
    ("PATCH", "/api/v1/clinic/courses/{id}"): {"name": "renamed"},
    ("PATCH", "/api/v1/clinic/therapists/{id}"): {"name": "renamed"},
    ("PUT", "/api/v1/clinic/therapists/{id}/hours"): {"hours": [], "breaks": []},
    ("POST", "/api/v1/clinic/therapists/{id}/time-off"): TIME_OFF,
}


async def _clinic_a_things(
    gateway, key_a, booking, checkout, payments, payments_pool, notifications_pool, settings
) -> dict[str, str]:
    paid = await book_and_pay(booking, checkout, day=next_weekday(2))
    endpoint = await gateway.post(
        f"{CLINIC_API}webhook-endpoints",
        headers=key_a,
        json={"url": "http://127.0.0.1:9/hook", "events": ["booking.created"]},
    )
    assert endpoint.status == 201, await endpoint.text()
    endpoint_id = (await endpoint.json())["id"]
    async with notifications_pool.acquire() as conn:
        [delivery_id] = await webhook_store.insert_deliveries(
            conn,
            stable_id("urban-therapy"),
            "booking.created",
            uuid.uuid4(),
            {"type": "booking.created", "timestamp": datetime.now(timezone.utc).isoformat(), "data": {}},
            3600,
        )
    voucher, _code = await buy_voucher(payments, checkout, payments_pool, settings)
    api_key = await gateway.post(f"{CLINIC_API}api-keys", headers=key_a, json={"name": "A's integration"})
    assert api_key.status == 201
    staff = await gateway.post(
        f"{CLINIC_API}staff", headers=key_a, json={"email": "desk@urban.example", "name": "Desk", "role": "staff"}
    )
    assert staff.status == 201, await staff.text()
    time_off = await gateway.post(f"{CLINIC_API}therapists/{THERAPIST}/time-off", headers=key_a, json=TIME_OFF)
    assert time_off.status == 201, await time_off.text()
    waiting = await gateway.post(
        "/api/v1/waitlist",
        json={
            "clinic": "urban-therapy",
            "treatment": TREATMENT,
            "customer": {"name": "Wendy Wait", "email": "wendy@example.com"},
        },
    )
    assert waiting.status == 201, await waiting.text()
    return {
        "waitlist": (await waiting.json())["id"],
        "staff": (await staff.json())["id"],
        "treatments": TREATMENT,
        "courses": COURSE,
        "therapists": THERAPIST,
        "time_off_id": str((await time_off.json())["id"]),
        "bookings": paid["id"],
        "webhook-endpoints": endpoint_id,
        "deliveries": str(delivery_id),
        "vouchers": voucher["id"],
        "api-keys": (await api_key.json())["id"],
    }


async def test_every_clinic_route_hides_another_clinic_s_things(
    gateway, keys, booking, checkout, payments, payments_pool, notifications_pool, settings
):
    key_a, key_b = bearer(keys["urban-therapy"]), bearer(keys["spinecare"])
    ids = await _clinic_a_things(
        gateway, key_a, booking, checkout, payments, payments_pool, notifications_pool, settings
    )
    paths = {
        path: ops for path, ops in build_document(settings.public_url)["paths"].items() if path.startswith(CLINIC_API)
    }
    with_id = {path: ops for path, ops in paths.items() if "{id}" in path}
    assert {path.split("/")[4] for path in with_id} == set(KINDS), "a clinic route this test does not know"

    checked = []
    for path, ops in with_id.items():
        url = path.replace("{id}", ids[path.split("/")[4]]).replace("{time_off_id}", ids["time_off_id"])
        for method in ops:
            resp = await gateway.request(method.upper(), url, headers=key_b, json=BODIES.get((method.upper(), path)))
            assert resp.status == 404, f"{method.upper()} {path} as clinic B: {resp.status} {await resp.text()}"
            assert (await resp.json())["error"]["code"].endswith("not_found")
            checked.append(f"{method.upper()} {path}")
    assert len(checked) >= 12

    for path, ops in paths.items():
        if "{id}" not in path and "get" in ops:
            listing = await gateway.get(
                path,
                headers=key_b,
                params={"from": next_weekday(2).isoformat()} if path.endswith("/bookings") else None,
            )
            assert listing.status == 200, f"GET {path}: {await listing.text()}"
            text = await listing.text()
            uuids = [thing for kind, thing in ids.items() if kind in KINDS]  # (a time off's id is a small number)
            assert not any(thing in text for thing in uuids), f"GET {path} shows clinic A's things"

    # The ids are real: clinic A itself sees them (read-only calls, so nothing above was changed).
    for kind, path in (
        ("bookings", "bookings/{id}"),
        ("webhook-endpoints", "webhook-endpoints/{id}"),
        ("webhook-endpoints", "webhook-endpoints/{id}/deliveries"),
    ):
        resp = await gateway.get(CLINIC_API + path.replace("{id}", ids[kind]), headers=key_a)
        assert resp.status == 200, f"{path} as clinic A"
    listed = await (
        await gateway.get(f"{CLINIC_API}webhook-endpoints/{ids['webhook-endpoints']}/deliveries", headers=key_a)
    ).json()
    assert ids["deliveries"] in str(listed)
