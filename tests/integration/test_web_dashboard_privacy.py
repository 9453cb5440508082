"""The owner's Privacy page as a browser without JavaScript uses it, through the gateway, on the real services: a
customer's data downloaded as the export API's JSON file; an erasure reviewed first (what is erased, what is kept and
why, or what stops it, nothing changed), then confirmed with a box ticked, its counts shown and the request listed;
staff refused (403, no link); CSRF on every form; a wrong email named in the error summary, what was typed kept. The
customer's email travels only in POST bodies: never in an address, and never in a log line."""

from __future__ import annotations

import json
import logging
import re
import uuid

import pytest

from services.gateway.app import create_app as create_gateway
from services.notifications.app import create_app as create_notifications
from services.web.app import create_app as create_web
from tests.support.booking import book
from tests.support.clinic_api import bearer
from tests.support.dashboard import (  # noqa: F401  (owner, receptionist: fixtures)
    STAFF_EMAIL,
    csrf_of,
    form_fields,
    owner,
    page,
    receptionist,
    signed_in,
)
from tests.support.infra import free_port

AREA = "/clinic/privacy"
ADA = "ada.privacy@example.com"
TYPED = "  Ada.Privacy@Example.com "  # as an owner may type it: matched without regard to case or spaces
MASKED = "a***@example.com"


@pytest.fixture
async def site(linked, booking_server, payments_server, aiohttp_server, aiohttp_client):
    """The gateway with the web pages behind it (tests/support/dashboard.make_site's shape), and the notifications
    service on the port the booking service was given: an export or an erasure asks it for its part."""
    ports, settings = linked
    await aiohttp_server(create_notifications(settings), port=ports["notifications"])
    web_port, gateway_port = free_port(), free_port()
    upstreams = {
        **settings.upstreams,
        "web": f"http://127.0.0.1:{web_port}",
        "gateway": f"http://127.0.0.1:{gateway_port}",
    }
    both = settings.with_overrides(upstreams=upstreams)
    await aiohttp_server(create_web(both), port=web_port)
    return await aiohttp_client(await aiohttp_server(create_gateway(both), port=gateway_port))


@pytest.fixture
async def owner_site(site, owner):  # noqa: F811
    await signed_in(site)
    return site


async def send(site, action: str, **fields: str):
    """The Privacy page's form, as a browser sends it to `action` (the button pressed); redirects not followed."""
    form = await page(await site.get(AREA))
    return await site.post(action, data={"csrf": csrf_of(form), **fields}, allow_redirects=False)


async def held_about_ada(booking_pool) -> list[tuple]:
    async with booking_pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, status, customer_name, customer_email, erased_at IS NOT NULL AS erased FROM bookings "
            "WHERE lower(customer_email) = $1 OR erased_at IS NOT NULL ORDER BY created_at",
            ADA,
        )
    return [tuple(r) for r in rows]


async def audited(booking_pool) -> list[tuple]:
    async with booking_pool.acquire() as conn:
        rows = await conn.fetch("SELECT kind, email_masked, role FROM privacy_requests ORDER BY at")
    return [tuple(r) for r in rows]


async def cancelled_by_the_clinic(site, keys, booking_id: str) -> None:
    resp = await site.post(
        f"/api/v1/clinic/bookings/{booking_id}/cancel",
        json={"reason": "Customer phoned to cancel"},
        headers=bearer(keys["urban-therapy"]),
    )
    assert resp.status == 200 and (await resp.json())["status"] == "cancelled", await resp.text()


def requests_table(text: str) -> str:
    match = re.search(r"<h2>Recent requests</h2>(.*?)</table>", text, re.S)
    assert match, "the recent requests' table"
    return match.group(1)


async def test_staff_see_no_link_and_are_refused_the_page_and_its_forms(
    site,
    owner,
    receptionist,
    booking_pool,  # noqa: F811
):
    await book(site, email=ADA)
    home = await signed_in(site, STAFF_EMAIL)
    assert f'href="{AREA}"' not in home
    refused = await page(await site.get(AREA), 403)
    assert "Only the clinic's owner" in refused and f'href="{AREA}"' not in refused
    csrf = csrf_of(home)
    for path in (f"{AREA}/export", f"{AREA}/erase", f"{AREA}/erase/confirm"):
        resp = await site.post(path, data={"csrf": csrf, "email": ADA, "understood": "yes"})
        text = await page(resp, 403)
        assert ADA not in text and "customer-data" not in resp.headers.get("Content-Disposition", "")
    assert await audited(booking_pool) == [], "no export, no erasure"
    assert [row[3] for row in await held_about_ada(booking_pool)] == [ADA]


async def test_the_download_is_the_export_api_s_json_file_with_the_customer_s_booking(owner_site, booking_pool, caplog):
    booked = await book(owner_site, email=ADA)
    caplog.set_level(logging.DEBUG)
    caplog.clear()
    resp = await send(owner_site, f"{AREA}/export", email=TYPED)
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "application/json" and resp.headers["Cache-Control"] == "no-store"
    exported = json.loads(await resp.read())
    filename = f"customer-data-{exported['exported_at'][:10]}.json"
    assert resp.headers["Content-Disposition"] == f'attachment; filename="{filename}"', "the API's, as sent"
    assert exported["format"] == "customer-data/1" and exported["email"] == ADA
    assert [b["id"] for b in exported["bookings"]] == [booked["id"]]
    assert exported["bookings"][0]["customer"]["email"] == ADA and exported["bookings"][0]["screening"] is not None

    listed = requests_table(await page(await owner_site.get(AREA)))
    assert "Data downloaded" in listed and MASKED in listed and "Alice Jones (owner)" in listed
    assert ADA not in listed and "(UK time, " in listed
    assert await audited(booking_pool) == [("export", MASKED, "owner")]
    # The email went in POST bodies only: no address, no log line of any service carries it.
    for record in caplog.records:
        assert ADA not in str(record.__dict__).lower(), record.getMessage()


async def test_erasing_a_customer_with_a_booking_to_come_says_what_to_do_first_and_changes_nothing(
    owner_site, booking_pool
):
    await book(owner_site, email=ADA)
    before = await held_about_ada(booking_pool)
    review = await page(await send(owner_site, f"{AREA}/erase", email=TYPED))
    assert "Their data cannot be erased yet" in review and "Nothing has been changed" in review
    assert "This customer has 1 booking still to come. Cancel it" in review and "find it in the diary" in review
    assert 'action="/clinic/privacy/erase/confirm"' not in review, "no way to confirm while something is in the way"

    # The confirmation sent anyway (a review page kept open while a booking was made): refused, said the same way.
    refused = await page(await send(owner_site, f"{AREA}/erase/confirm", email=ADA, understood="yes"), 409)
    assert "Their data cannot be erased yet" in refused and "1 booking still to come" in refused
    assert await held_about_ada(booking_pool) == before and before[0][3] == ADA
    assert await audited(booking_pool) == [], "a review is not a request; a refused erasure did nothing"


async def test_erasing_a_customer_with_only_cancelled_bookings_shows_the_counts_and_lists_the_request(
    owner_site, booking_pool, keys
):
    booked = await book(owner_site, email=ADA)
    await cancelled_by_the_clinic(owner_site, keys, booked["id"])
    review = await page(await send(owner_site, f"{AREA}/erase", email=TYPED))
    assert f'<h1>Erase the data of <span class="email">{TYPED.strip()}</span>?</h1>' in review
    assert "What will be erased" in review and "1 booking" in review
    assert "What will be kept, and why" in review and "1 health screening" in review and "turn 25" in review
    confirm = form_fields(review, f"{AREA}/erase/confirm")
    assert confirm["email"] == TYPED.strip()

    # Not ticked: asked again, nothing changed.
    unticked = await page(await owner_site.post(f"{AREA}/erase/confirm", data=confirm), 400)
    assert 'href="#understood"' in unticked and "cannot be undone" in unticked
    assert [row[3] for row in await held_about_ada(booking_pool)] == [ADA] and await audited(booking_pool) == []

    sent = await owner_site.post(f"{AREA}/erase/confirm", data={**confirm, "understood": "yes"}, allow_redirects=False)
    assert sent.status == 303 and sent.headers["Location"].startswith(f"{AREA}/erased/")
    done = await page(await owner_site.get(sent.headers["Location"]))
    # Reloaded: shown again, nothing erased or audited again (the one audit entry is checked below).
    assert "Their data has been erased" in await page(await owner_site.get(sent.headers["Location"]))
    assert "Page not found" in await page(await owner_site.get(f"{AREA}/erased/{uuid.uuid4()}"), 404)
    assert "Their data has been erased" in done and MASKED in done and ADA not in done
    assert re.search(r"<h2>Erased</h2>\s*<ul>.*1 booking.*</ul>", done, re.S)
    assert "1 health screening" in done and "until they turn 25" in done
    [(booking_id, status, name, email, erased)] = await held_about_ada(booking_pool)
    assert (str(booking_id), status, name, email, erased) == (booked["id"], "cancelled", None, None, True)

    listed = requests_table(await page(await owner_site.get(AREA)))
    assert "Data erased" in listed and MASKED in listed and "Erased 1 booking" in listed
    assert await audited(booking_pool) == [("erase", MASKED, "owner")]


async def test_a_form_without_its_csrf_token_changes_nothing_and_downloads_nothing(owner_site, booking_pool, keys):
    booked = await book(owner_site, email=ADA)
    await cancelled_by_the_clinic(owner_site, keys, booked["id"])
    for path in (f"{AREA}/export", f"{AREA}/erase", f"{AREA}/erase/confirm"):
        for csrf in ({}, {"csrf": "not-the-session-s-token"}):
            resp = await owner_site.post(path, data={**csrf, "email": ADA, "understood": "yes"})
            text = await page(resp, 403)
            assert "This form cannot be sent" in text and "Content-Disposition" not in resp.headers
    assert [row[3] for row in await held_about_ada(booking_pool)] == [ADA]
    assert await audited(booking_pool) == []


@pytest.mark.parametrize("action", ["export", "erase"])
async def test_a_wrong_email_is_named_in_the_error_summary_and_what_was_typed_kept(owner_site, booking_pool, action):
    for typed, message in (
        ("ada.privacy@", "Enter an email address in the correct format, like name@example.com"),
        ("   ", "Enter the customer's email address"),
    ):
        text = await page(await send(owner_site, f"{AREA}/{action}", email=typed), 400)
        assert '<h2 class="error-summary-title">There is a problem</h2>' in text
        assert f'<a href="#email">{message}</a>' in text and 'id="email-error"' in text
        assert f'name="email" type="email" value="{typed.strip()}"' in text
        assert text.startswith("<!doctype html>") and "<title>Error: Privacy" in text
    assert await audited(booking_pool) == []


async def test_the_owner_s_navigation_leads_to_the_page_which_explains_the_duties(site, owner):  # noqa: F811
    home = await signed_in(site)
    assert f'href="{AREA}">Privacy</a>' in home
    text = await page(await site.get(AREA))
    assert "What the law asks of your clinic" in text and "within one month" in text and "six years" in text
    assert "No requests yet" in text
    form = re.search(r'<form method="post" action="/clinic/privacy/export"[^>]*>(.*?)</form>', text, re.S).group(1)
    assert ">Download their data</button>" in form
    assert 'formaction="/clinic/privacy/erase">Erase their data…</button>' in form
    assert 'aria-current="page">Privacy</a>' in text
