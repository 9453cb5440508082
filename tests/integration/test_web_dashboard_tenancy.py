"""Tenancy and CSRF across every dashboard page, as the API's own tenancy test does for the API: clinic B's signed-in
owner, on every dashboard route that names one of clinic A's things, gets the not-found page and changes nothing;
clinic A's owner, posting any dashboard form without its CSRF token, gets 403 and changes nothing. A new dashboard
route with an id fails this test until it is covered here."""

from __future__ import annotations

import re
import secrets
import uuid

import aiohttp

from services.web.app import create_app as create_web
from tests.integration.test_clinic_tenancy import _clinic_a_things
from tests.support.booking import COURSE, THERAPIST, TREATMENT
from tests.support.clinic_api import bearer
from tests.support.dashboard import add_account, csrf_of, dashboard, owner, signed_in  # noqa: F401 (fixtures)

PARAMETER = re.compile(r"\{(\w+)\}")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def dashboard_routes(settings) -> list[tuple[str, str]]:
    """(method, path pattern) of every dashboard route naming something by id (a path parameter besides `kind`)."""
    app = create_web(settings)
    found = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if route.method in ("GET", "POST") and path.startswith("/clinic/") and set(PARAMETER.findall(path)) - {"kind"}:
            found.append((route.method, path))
    return found


async def with_a_privacy_request(booking_pool, ids: dict[str, str]) -> dict[str, str]:
    """Clinic A's erasure audit entry (its result page is /clinic/privacy/erased/{request_id})."""
    request_id = uuid.uuid4()
    async with booking_pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO privacy_requests (id, clinic_id, kind, subject_key, email_masked, role)
               SELECT $1, id, 'erase', $2, 'a***@example.com', 'owner' FROM clinics WHERE slug = 'urban-therapy'""",
            request_id,
            secrets.token_bytes(32),
        )
    return {**ids, "privacy_request": str(request_id)}


def urls_for(path: str, ids: dict[str, str]) -> list[str]:
    """The path with clinic A's ids in it (a catalogue item once as a treatment and once as a course)."""
    values = {
        "booking_id": ids["bookings"],
        "endpoint_id": ids["webhook-endpoints"],
        "delivery_id": ids["deliveries"],
        "key_id": ids["api-keys"],
        "staff_id": ids["staff"],
        "voucher_id": ids["vouchers"],
        "time_off_id": ids["time_off_id"],
        "entry_id": ids["waitlist"],
        "request_id": ids["privacy_request"],
    }
    if path.startswith("/clinic/catalogue/"):
        pairs = [{"kind": "treatments", "item_id": TREATMENT}, {"kind": "courses", "item_id": COURSE}]
    else:
        pairs = [{"item_id": THERAPIST}]
    urls = []
    for pair in pairs:
        names = {**values, **pair}
        unknown = set(PARAMETER.findall(path)) - set(names)
        assert not unknown, f"{path}: this test does not know what {unknown} names"
        urls.append(PARAMETER.sub(lambda m: names[m.group(1)], path))
    return urls


def form_data(csrf: str | None) -> aiohttp.FormData:
    """What the forms send, all at once: the CSRF token (unless None), a one-time token (the secret-making forms'),
    a reason and a confirmation, and a photo (multipart, as the photo form sends it)."""
    data = aiohttp.FormData()
    fields = {"once": secrets.token_urlsafe(18), "reason": "not yours", "confirm": "yes", "direction": "up"}
    for name, value in ({"csrf": csrf} if csrf else {}).items() | fields.items():
        data.add_field(name, value)
    data.add_field("photo", PNG, filename="me.png", content_type="image/png")
    return data


async def clinic_a_state(site, key_a: dict, ids: dict[str, str]) -> dict:
    """What the refused requests must not have changed, read through the clinic API as clinic A."""

    async def read(path: str):
        resp = await site.get(path, headers=key_a)
        assert resp.status == 200, (path, resp.status, await resp.text())
        return await resp.json()

    endpoint = await read(f"/api/v1/clinic/webhook-endpoints/{ids['webhook-endpoints']}")
    keys = {k["id"]: k for k in (await read("/api/v1/clinic/api-keys"))["api_keys"]}
    return {
        "booking": (await read(f"/api/v1/clinic/bookings/{ids['bookings']}"))["status"],
        "treatment": await read(f"/api/v1/clinic/treatments/{TREATMENT}"),
        "course": await read(f"/api/v1/clinic/courses/{COURSE}"),
        "therapist": await read(f"/api/v1/clinic/therapists/{THERAPIST}"),
        "hours": await read(f"/api/v1/clinic/therapists/{THERAPIST}/hours"),
        "time_off": await read(f"/api/v1/clinic/therapists/{THERAPIST}/time-off"),
        "feed": await read(f"/api/v1/clinic/therapists/{THERAPIST}/calendar-feed"),
        "endpoint": {k: v for k, v in endpoint.items() if k not in ("last_delivery",)},
        "api_key": keys[ids["api-keys"]],
        "staff": sorted(s["id"] for s in (await read("/api/v1/clinic/staff"))["staff"]),
        "voucher": (await read(f"/api/v1/clinic/vouchers/{ids['vouchers']}"))["status"],
        # Its entries, none removed (a matcher running beside the test may offer one a time: not a change of ours).
        "waitlist": [e["id"] for e in (await read("/api/v1/clinic/waitlist"))["entries"] if e["status"] != "removed"],
    }


async def test_no_dashboard_page_shows_or_changes_another_clinic_s_things(
    dashboard,  # noqa: F811
    keys,
    booking,
    checkout,
    payments,
    payments_pool,
    notifications_pool,
    booking_pool,
    settings,
):
    key_a = bearer(keys["urban-therapy"])
    ids = await with_a_privacy_request(
        booking_pool,
        await _clinic_a_things(
            dashboard, key_a, booking, checkout, payments, payments_pool, notifications_pool, settings
        ),
    )
    before = await clinic_a_state(dashboard, key_a, ids)
    await add_account(booking_pool, "sam@spinecare.example", "Sam Owner", "owner", clinic="spinecare")
    home = await signed_in(dashboard, "sam@spinecare.example")
    csrf = csrf_of(home)

    checked = []
    for method, path in dashboard_routes(settings):
        for url in urls_for(path, ids):
            data = form_data(csrf) if method == "POST" else None
            resp = await dashboard.request(method, url, data=data, allow_redirects=False)
            text = await resp.text()
            assert resp.status == 404, f"{method} {url} as clinic B's owner: {resp.status} {text[:500]}"
            assert "Page not found" in text
            assert ids["bookings"] not in text and "Ada" not in text
            checked.append(f"{method} {path}")
    assert len(set(checked)) >= 30, sorted(set(checked))
    assert await clinic_a_state(dashboard, key_a, ids) == before, "nothing of clinic A changed"


async def test_every_dashboard_form_refuses_a_post_without_its_csrf_token(
    dashboard,  # noqa: F811
    owner,  # noqa: F811
    keys,
    booking,
    checkout,
    payments,
    payments_pool,
    notifications_pool,
    booking_pool,
    settings,
):
    key_a = bearer(keys["urban-therapy"])
    ids = await with_a_privacy_request(
        booking_pool,
        await _clinic_a_things(
            dashboard, key_a, booking, checkout, payments, payments_pool, notifications_pool, settings
        ),
    )
    before = await clinic_a_state(dashboard, key_a, ids)
    await signed_in(dashboard)
    app = create_web(settings)
    posts = sorted(
        {
            route.resource.canonical
            for route in app.router.routes()
            if route.method == "POST" and route.resource and route.resource.canonical.startswith("/clinic/")
        }
    )
    refused = []
    for path in posts:
        if path == "/clinic/sign-in":  # before a session: its own double-submit token, proven by the sign-in tests
            continue
        urls = (
            urls_for(path, ids) if set(PARAMETER.findall(path)) - {"kind"} else [path.replace("{kind}", "treatments")]
        )
        for url in urls:
            resp = await dashboard.post(url, data=form_data(None), allow_redirects=False)
            assert resp.status == 403, f"POST {url} without a CSRF token: {resp.status} {(await resp.text())[:300]}"
            refused.append(path)
    assert len(set(refused)) >= 30, sorted(set(refused))
    assert await clinic_a_state(dashboard, key_a, ids) == before, "nothing changed"
    still = await dashboard.get("/clinic", allow_redirects=False)
    assert still.status == 200, "still signed in: sign-out needs its token too"
