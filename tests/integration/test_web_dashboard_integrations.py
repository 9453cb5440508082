"""The owner's Integrations page as a browser without JavaScript uses it, through the gateway, on the real services:
webhook endpoints (add with the signing secret shown once, edit, disable and enable, rotate the secret, send a test
event that a local receiver gets signed, the delivery log and its status filter, replay one delivery with the same
webhook-id, replay every failed one since a time), API keys (created and shown once, working as a bearer key through
the gateway, rotated, revoked after a question), the embed snippet; staff refused (403, no links); CSRF on every form;
a form that fails changes nothing."""

from __future__ import annotations

import re
import uuid

import pytest
from standardwebhooks.webhooks import Webhook

from services.booking.seed import stable_id
from services.notifications.webhooks.rules import EVENT_TYPES, TEST_EVENT
from services.web.dashboard import integrations_form
from tests.support.clinic_api import bearer
from tests.support.dashboard import (  # noqa: F401  (dashboard, owner, receptionist: fixtures)
    STAFF_EMAIL,
    add_account,
    csrf_of,
    dashboard,
    form_fields,
    make_site,
    owner,
    page,
    receptionist,
    signed_in,
)
from tests.support.notifications import run_queued_deliveries, task_env  # noqa: F401  (fixture)
from tests.support.receiver import receiver  # noqa: F401  (fixture)

AREA = "/clinic/integrations"
SECRET = re.compile(r'<code id="secret">([^<]+)</code>')
URBAN = stable_id("urban-therapy")


@pytest.fixture
async def owner_site(dashboard, owner, task_env):
    """The owner, signed in; the notifications service's Celery sends go to this test's broker (task_env)."""
    await signed_in(dashboard)
    return dashboard


async def endpoints_in_db(notifications_pool) -> list:
    async with notifications_pool.acquire() as conn:
        return await conn.fetch(
            "SELECT id, url, event_types, description, status FROM webhook_endpoints WHERE deleted_at IS NULL "
            "ORDER BY created_at"
        )


async def keys_in_db(booking_pool) -> list:
    async with booking_pool.acquire() as conn:
        return await conn.fetch(
            "SELECT id, name, revoked_at FROM api_keys WHERE clinic_id = $1 ORDER BY created_at", URBAN
        )


async def add_endpoint(site, url: str, events=("booking.created",), description: str = "Practice software"):
    """The add form, filled in and sent; (the answer, the form's fields as sent)."""
    overview = await page(await site.get(AREA))
    fields = {
        **form_fields(overview, f"{AREA}/webhooks"),
        "url": url,
        "events": list(events),
        "description": description,
    }
    data = [(k, v) for k, vs in fields.items() for v in (vs if isinstance(vs, list) else [vs])]
    return await site.post(f"{AREA}/webhooks", data=data, allow_redirects=False), data


async def added(site, receiver) -> tuple[str, str]:
    """An endpoint for the receiver, added through the page: (its id, its secret)."""
    resp, _ = await add_endpoint(site, receiver.url)
    text = await page(resp)
    [endpoint_id] = re.findall(rf'href="{AREA}/webhooks/([0-9a-f-]{{36}})"', text)
    return endpoint_id, SECRET.search(text).group(1)


def test_the_page_offers_exactly_the_events_the_notifications_service_sends():
    assert {value for value, _label, _hint in integrations_form.EVENTS} == EVENT_TYPES
    assert TEST_EVENT in integrations_form.EVENT_LABELS


async def test_staff_see_no_link_and_are_refused_every_page_and_form(
    dashboard, owner, receptionist, notifications_pool, booking_pool
):
    home = await signed_in(dashboard, STAFF_EMAIL)
    assert AREA not in home
    refused = await page(await dashboard.get(AREA), 403)
    assert "Only the clinic's owner" in refused and 'href="/clinic/integrations"' not in refused
    csrf = csrf_of(home)
    somebody = uuid.uuid4()
    for path, data in (
        (f"{AREA}/webhooks", {"url": "http://127.0.0.1:9/hook", "events": "booking.created", "once": "x" * 24}),
        (f"{AREA}/webhooks/{somebody}", {"url": "http://127.0.0.1:9/hook", "events": "booking.created"}),
        (f"{AREA}/webhooks/{somebody}/test", {}),
        (f"{AREA}/webhooks/{somebody}/rotate-secret", {"once": "x" * 24}),
        (f"{AREA}/webhooks/{somebody}/replay", {"since_date": "2026-01-01", "since_time": "00:00"}),
        (f"{AREA}/api-keys", {"key_name": "sneaky", "once": "x" * 24}),
        (f"{AREA}/api-keys/{somebody}/revoke", {"confirm": "yes"}),
    ):
        await page(await dashboard.post(path, data={"csrf": csrf, **data}), 403)
    await page(await dashboard.get(f"{AREA}/webhooks/{somebody}"), 403)
    assert await endpoints_in_db(notifications_pool) == [] and await keys_in_db(booking_pool) == []


async def test_an_endpoint_s_secret_is_shown_once_in_the_answer_and_never_again(
    owner_site, receiver, notifications_pool
):
    resp, sent = await add_endpoint(owner_site, receiver.url, events=("booking.created", "voucher.purchased"))
    text = await page(resp)  # the POST's own answer: no redirect, never cached (page() checks no-store)
    secret = SECRET.search(text).group(1)
    assert secret.startswith("whsec_") and "This is the only time it is shown" in text
    assert "Set-Cookie" not in resp.headers or secret not in resp.headers.getall("Set-Cookie")
    [row] = await endpoints_in_db(notifications_pool)
    assert row["url"] == receiver.url and sorted(row["event_types"]) == ["booking.created", "voucher.purchased"]
    assert row["description"] == "Practice software"

    overview = await page(await owner_site.get(AREA))
    endpoint_page = await page(await owner_site.get(f"{AREA}/webhooks/{row['id']}"))
    assert secret not in overview and secret not in endpoint_page
    assert receiver.url in overview and "Booking created, Gift voucher bought" in overview and "Enabled" in overview
    assert "None yet" in overview

    # The answer reloaded (the same form sent again): nothing more made, no secret shown.
    again = await owner_site.post(f"{AREA}/webhooks", data=sent, allow_redirects=False)
    assert again.status == 303 and again.headers["Location"] == f"{AREA}?done=already"
    assert "already sent" in await page(await owner_site.get(again.headers["Location"]))
    assert len(await endpoints_in_db(notifications_pool)) == 1


async def test_the_test_event_reaches_the_receiver_is_logged_and_replayed_with_the_same_webhook_id(
    owner_site, receiver, redis
):
    endpoint_id, secret = await added(owner_site, receiver)
    endpoint_path = f"{AREA}/webhooks/{endpoint_id}"
    before = await page(await owner_site.get(endpoint_path))
    assert "No deliveries yet" in before
    sent = await owner_site.post(f"{endpoint_path}/test", data={"csrf": csrf_of(before)}, allow_redirects=False)
    assert sent.status == 303 and sent.headers["Location"] == f"{endpoint_path}?done=test"
    assert await run_queued_deliveries(redis) == ["delivered"]  # the worker's task, on what the page enqueued

    [got] = receiver.received
    body = Webhook(secret).verify(got.body, got.headers)  # signed with the secret the page showed
    assert body["type"] == TEST_EVENT and body["data"]["endpoint_id"] == endpoint_id
    webhook_id = got.headers["webhook-id"]
    logged = await page(await owner_site.get(sent.headers["Location"]))
    assert "Test event sent." in logged
    row = logged[logged.index(webhook_id) - 400 : logged.index(webhook_id) + 1500]
    assert "Test event" in row and "Succeeded" in row and "HTTP 200" in row and "(UK time, " in row
    overview = await page(await owner_site.get(AREA))
    assert "Succeeded (Test event)" in overview, "the list's last delivery"

    replay = f"{endpoint_path}/deliveries/{webhook_id}/replay"
    replayed = await owner_site.post(replay, data=form_fields(logged, replay), allow_redirects=False)
    assert replayed.status == 303 and replayed.headers["Location"] == f"{endpoint_path}?done=replayed"
    assert await run_queued_deliveries(redis) == ["delivered"]
    assert [r.headers["webhook-id"] for r in receiver.received] == [webhook_id, webhook_id]
    after = await page(await owner_site.get(endpoint_path))
    tries = after[after.index(webhook_id) :]
    assert re.search(r'data-label="Tries">2<', tries), "the second attempt, in the same delivery"
    assert tries.count("HTTP 200 in") == 2, "each try listed"


async def test_a_delivery_pruned_by_the_retention_job_is_not_replayed_and_the_page_says_why(
    owner_site, receiver, redis, notifications_pool
):
    endpoint_id, _ = await added(owner_site, receiver)
    endpoint_path = f"{AREA}/webhooks/{endpoint_id}"
    before = await page(await owner_site.get(endpoint_path))
    await owner_site.post(f"{endpoint_path}/test", data={"csrf": csrf_of(before)}, allow_redirects=False)
    assert await run_queued_deliveries(redis) == ["delivered"]
    async with notifications_pool.acquire() as conn:  # what the daily job does to a delivery past its days
        await conn.execute("UPDATE webhook_deliveries SET payload = '{}'::jsonb, payload_pruned_at = now()")
    logged = await page(await owner_site.get(endpoint_path))
    webhook_id = receiver.received[0].headers["webhook-id"]
    replay = f"{endpoint_path}/deliveries/{webhook_id}/replay"
    refused = await owner_site.post(replay, data=form_fields(logged, replay), allow_redirects=False)
    assert "too old to send again" in await page(refused, 409)
    assert await run_queued_deliveries(redis) == [], "nothing sent again"


async def test_the_delivery_log_filters_by_status_and_failed_ones_are_replayed_since_a_time(
    owner_site, receiver, redis, notifications_pool
):
    endpoint_id, _ = await added(owner_site, receiver)
    endpoint_path = f"{AREA}/webhooks/{endpoint_id}"
    receiver.answers = [(500, {}, 0)]
    csrf = csrf_of(await page(await owner_site.get(endpoint_path)))
    await owner_site.post(f"{endpoint_path}/test", data={"csrf": csrf})
    assert await run_queued_deliveries(redis) == ["retry"]
    async with notifications_pool.acquire() as conn:  # its retries used up
        await conn.execute("UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL")
    await owner_site.post(f"{endpoint_path}/test", data={"csrf": csrf})
    assert await run_queued_deliveries(redis) == ["delivered"]

    failed = await page(await owner_site.get(endpoint_path, params={"status": "failed"}))
    assert failed.count('data-label="Status">Failed') == 1 and 'data-label="Status">Succeeded' not in failed
    assert 'aria-current="page">Failed</a>' in failed and "HTTP 500" in failed
    succeeded = await page(await owner_site.get(endpoint_path, params={"status": "delivered"}))
    assert succeeded.count('data-label="Status">Succeeded') == 1 and "HTTP 500" not in succeeded
    pending = await page(await owner_site.get(endpoint_path, params={"status": "pending"}))
    assert "No deliveries with the status “Pending”" in pending
    everything = await page(await owner_site.get(endpoint_path, params={"status": "nonsense"}))
    assert everything.count('data-label="Tries"') == 2

    bad = await owner_site.post(
        f"{endpoint_path}/replay", data={"csrf": csrf, "since_date": "2026-02-30", "since_time": "25:00"}
    )
    text = await page(bad, 400)
    assert 'href="#since_date"' in text and 'href="#since_time"' in text and 'value="2026-02-30"' in text
    assert receiver.received and len(receiver.received) == 2, "nothing sent"

    yesterday = (await page(await owner_site.get(endpoint_path))).split('name="since_date" type="date" value="')[1][:10]
    resp = await owner_site.post(
        f"{endpoint_path}/replay",
        data={"csrf": csrf, "since_date": yesterday, "since_time": "00:00"},
        allow_redirects=False,
    )
    assert resp.status == 303 and "done=replayed-failed" in resp.headers["Location"]
    assert "1 failed delivery queued to be sent again." in await page(await owner_site.get(resp.headers["Location"]))
    assert await run_queued_deliveries(redis) == ["delivered"]
    assert len(receiver.received) == 3


async def test_the_owner_edits_disables_and_enables_an_endpoint_and_rotates_its_secret(
    owner_site, receiver, redis, notifications_pool
):
    endpoint_id, first_secret = await added(owner_site, receiver)
    endpoint_path = f"{AREA}/webhooks/{endpoint_id}"
    text = await page(await owner_site.get(endpoint_path))
    csrf = csrf_of(text)

    wrong = await owner_site.post(endpoint_path, data={"csrf": csrf, "url": "", "description": "x"})
    errors = await page(wrong, 400)
    assert 'href="#url"' in errors and 'href="#events"' in errors and "Choose at least one event" in errors
    edited = await owner_site.post(
        endpoint_path,
        data=[
            ("csrf", csrf),
            ("url", receiver.url),
            ("events", "booking.cancelled"),
            ("events", "booking.rescheduled"),
            ("description", "Reception screen"),
        ],
        allow_redirects=False,
    )
    assert edited.status == 303 and edited.headers["Location"] == f"{endpoint_path}?done=saved"
    [row] = await endpoints_in_db(notifications_pool)
    assert sorted(row["event_types"]) == ["booking.cancelled", "booking.rescheduled"]
    assert row["description"] == "Reception screen"

    off = await owner_site.post(f"{endpoint_path}/enabled", data={"csrf": csrf, "enabled": "no"}, allow_redirects=False)
    assert off.headers["Location"] == f"{endpoint_path}?done=disabled"
    disabled = await page(await owner_site.get(off.headers["Location"]))
    assert "Disabled" in disabled and "Send test event" not in disabled and "Enable endpoint" in disabled
    refused = await owner_site.post(f"{endpoint_path}/test", data={"csrf": csrf})
    assert "enable it, then send a test event" in await page(refused, 409)
    on = await owner_site.post(f"{endpoint_path}/enabled", data={"csrf": csrf, "enabled": "yes"}, allow_redirects=False)
    assert on.headers["Location"] == f"{endpoint_path}?done=enabled"
    assert (await endpoints_in_db(notifications_pool))[0]["status"] == "enabled"

    rotate = f"{endpoint_path}/rotate-secret"
    fields = form_fields(await page(await owner_site.get(endpoint_path)), rotate)
    rotated = await page(await owner_site.post(rotate, data=fields, allow_redirects=False))
    new_secret = SECRET.search(rotated).group(1)
    assert new_secret.startswith("whsec_") and new_secret != first_secret and "both the old and the new" in rotated
    again = await owner_site.post(rotate, data=fields, allow_redirects=False)
    assert again.status == 303 and "done=already" in again.headers["Location"]
    assert new_secret not in await page(await owner_site.get(endpoint_path))
    await owner_site.post(f"{endpoint_path}/test", data={"csrf": csrf})
    assert await run_queued_deliveries(redis) == ["delivered"]
    [got] = receiver.received
    for secret in (first_secret, new_secret):
        Webhook(secret).verify(got.body, got.headers)


async def test_a_refused_endpoint_is_shown_again_with_its_message_and_nothing_is_made(owner_site, notifications_pool):
    resp, _ = await add_endpoint(owner_site, "", events=())
    text = await page(resp, 400)
    assert "Enter the URL" in text and "Choose at least one event" in text
    resp, _ = await add_endpoint(owner_site, "http://no-such-host.invalid/hook", description="Kept")
    text = await page(resp, 400)
    assert 'href="#url"' in text and "does not resolve" in text
    assert 'value="http://no-such-host.invalid/hook"' in text and 'value="Kept"' in text
    assert 'value="booking.created" checked' in text, "the events ticked stay ticked"
    assert await endpoints_in_db(notifications_pool) == []


async def test_an_api_key_is_shown_once_works_through_the_gateway_and_stops_when_revoked(owner_site, booking_pool):
    overview = await page(await owner_site.get(AREA))
    fields = {**form_fields(overview, f"{AREA}/api-keys"), "key_name": "Practice software"}
    created = await owner_site.post(f"{AREA}/api-keys", data=fields, allow_redirects=False)
    text = await page(created)
    key = SECRET.search(text).group(1)
    assert "This is the only time it is shown" in text and "Bearer" in text
    works = await owner_site.get("/api/v1/clinic/webhook-endpoints", headers=bearer(key))
    assert works.status == 200, await works.text()
    again = await owner_site.post(f"{AREA}/api-keys", data=fields, allow_redirects=False)
    assert again.status == 303 and len(await keys_in_db(booking_pool)) == 1, "sent again: no second key"

    listed = await page(await owner_site.get(AREA))
    assert key not in listed, "never shown again"
    row_text = listed[listed.index("Practice software") :]
    assert (
        f"<code>{key.split('_')[1]}</code>" in row_text
        and 'data-label="Expires">Never' in row_text
        and "Active" in row_text
    )
    assert 'data-label="Last used">Never' not in row_text, "it was used just now"
    [row] = await keys_in_db(booking_pool)
    revoke = f"{AREA}/api-keys/{row['id']}/revoke"
    question = await page(await owner_site.post(revoke, data=form_fields(listed, revoke)))
    assert "Revoke the key Practice software?" in question and "cannot be undone" in question
    assert (await keys_in_db(booking_pool))[0]["revoked_at"] is None, "the question changes nothing"
    done = await owner_site.post(revoke, data=form_fields(question, revoke), allow_redirects=False)
    assert done.status == 303 and done.headers["Location"] == f"{AREA}?done=revoked"
    assert (await owner_site.get("/api/v1/clinic/webhook-endpoints", headers=bearer(key))).status == 401
    after = await page(await owner_site.get(done.headers["Location"]))
    assert "API key revoked." in after and "Revoked " in after and f"{AREA}/api-keys/{row['id']}/revoke" not in after


async def test_rotating_a_key_asks_how_long_the_old_one_works_and_shows_the_new_one_once(owner_site, booking_pool):
    overview = await page(await owner_site.get(AREA))
    fields = {**form_fields(overview, f"{AREA}/api-keys"), "key_name": "Old"}
    old_key = SECRET.search(await page(await owner_site.post(f"{AREA}/api-keys", data=fields))).group(1)
    [row] = await keys_in_db(booking_pool)
    rotate = f"{AREA}/api-keys/{row['id']}/rotate"
    listed = await page(await owner_site.get(AREA))
    question = await page(await owner_site.post(rotate, data=form_fields(listed, rotate)))
    assert 'value="24"' in question and "How many hours should the old key keep working?" in question
    asked = form_fields(question, rotate)
    wrong = await owner_site.post(rotate, data={**asked, "grace_hours": "a week"})
    text = await page(wrong, 400)
    assert 'href="#grace_hours"' in text and 'value="a week"' in text
    assert len(await keys_in_db(booking_pool)) == 1

    answered = await owner_site.post(rotate, data={**asked, "grace_hours": "0"})
    text = await page(answered)
    new_key = SECRET.search(text).group(1)
    assert new_key != old_key and "The old key has stopped working." in text
    assert (await owner_site.get("/api/v1/clinic/webhook-endpoints", headers=bearer(new_key))).status == 200
    assert (await owner_site.get("/api/v1/clinic/webhook-endpoints", headers=bearer(old_key))).status == 401
    assert new_key not in await page(await owner_site.get(AREA))


async def test_a_form_without_the_session_s_csrf_token_is_refused_and_changes_nothing(
    owner_site, receiver, notifications_pool, booking_pool
):
    endpoint_id, _ = await added(owner_site, receiver)
    overview = await page(await owner_site.get(AREA))
    once = form_fields(overview, f"{AREA}/api-keys")["once"]
    before = await endpoints_in_db(notifications_pool)
    for path, data in (
        (f"{AREA}/webhooks", {"url": receiver.url, "events": "booking.created", "once": once}),
        (f"{AREA}/webhooks/{endpoint_id}", {"url": "http://127.0.0.1:9/x", "events": "booking.cancelled"}),
        (f"{AREA}/webhooks/{endpoint_id}/enabled", {"enabled": "no"}),
        (f"{AREA}/webhooks/{endpoint_id}/test", {}),
        (f"{AREA}/api-keys", {"key_name": "forged", "once": once}),
    ):
        for forged in ({}, {"csrf": "not-the-token"}):
            text = await page(await owner_site.post(path, data={**data, **forged}), 403)
            assert "This form cannot be sent" in text
    assert await endpoints_in_db(notifications_pool) == before and await keys_in_db(booking_pool) == []
    assert receiver.received == []


async def test_the_embed_snippet_names_the_booking_pages_and_links_to_the_allowed_websites(
    owner_site, linked, booking_pool
):
    _, settings = linked
    text = await page(await owner_site.get(AREA))
    base = settings.public_url
    assert f'<a href="{base}/c/urban-therapy/book">BOOK NOW</a>' in text
    assert f'<script src="{base}/embed.js" async></script>' in text
    assert "No website is allowed" in text and 'href="/clinic/settings#embed_origins"' in text
    async with booking_pool.acquire() as conn:
        await conn.execute("UPDATE clinics SET embed_origins = '{https://www.urban.example}' WHERE id = $1", URBAN)
    allowed = await page(await owner_site.get(AREA))
    assert "<code>https://www.urban.example</code>" in allowed and "Change the websites allowed" in allowed


async def test_another_clinic_s_owner_reaches_none_of_its_endpoints_deliveries_or_keys(
    owner_site, receiver, redis, booking_pool, linked, aiohttp_server, aiohttp_client, notifications_pool
):
    endpoint_id, _ = await added(owner_site, receiver)
    csrf = csrf_of(await page(await owner_site.get(f"{AREA}/webhooks/{endpoint_id}")))
    await owner_site.post(f"{AREA}/webhooks/{endpoint_id}/test", data={"csrf": csrf})
    [delivery_id] = [str(r["id"]) for r in await notifications_pool.fetch("SELECT id FROM webhook_deliveries")]
    overview = await page(await owner_site.get(AREA))
    fields = {**form_fields(overview, f"{AREA}/api-keys"), "key_name": "Urban's"}
    await page(await owner_site.post(f"{AREA}/api-keys", data=fields))
    [key] = await keys_in_db(booking_pool)

    _, settings = linked
    spine_email = "owner@spinecare.example"
    await add_account(booking_pool, spine_email, "Sam Spine", "owner", clinic="spinecare")
    other = await make_site(settings, aiohttp_server, aiohttp_client)  # another browser
    theirs = csrf_of(await signed_in(other, spine_email))
    assert receiver.url not in await page(await other.get(AREA)), "not in their list"
    endpoint = f"{AREA}/webhooks/{endpoint_id}"
    await page(await other.get(endpoint), 404)
    for path, data in (
        (endpoint, {"url": "http://127.0.0.1:9/x", "events": "booking.created"}),
        (f"{endpoint}/enabled", {"enabled": "no"}),
        (f"{endpoint}/test", {}),
        (f"{endpoint}/rotate-secret", {"once": "y" * 24}),
        (f"{endpoint}/deliveries/{delivery_id}/replay", {}),
        (f"{endpoint}/replay", {"since_date": "2026-01-01", "since_time": "00:00"}),
        (f"{AREA}/api-keys/{key['id']}/rotate", {"confirm": "yes", "grace_hours": "0", "once": "z" * 24}),
        (f"{AREA}/api-keys/{key['id']}/revoke", {"confirm": "yes"}),
    ):
        await page(await other.post(path, data={"csrf": theirs, **data}), 404)
    [row] = await endpoints_in_db(notifications_pool)
    assert row["url"] == receiver.url and row["status"] == "enabled"
    assert (await keys_in_db(booking_pool))[0]["revoked_at"] is None and len(await keys_in_db(booking_pool)) == 1
    async with notifications_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM webhook_deliveries") == 1


async def test_an_endpoint_past_the_clinic_s_limit_is_refused_beside_the_url_in_words(
    owner_site, receiver, notifications_pool, monkeypatch
):
    from services.notifications.webhooks import rules

    monkeypatch.setattr(rules, "MAX_ENDPOINTS", 1)  # the clinic's limit (16), reached sooner
    await page((await add_endpoint(owner_site, receiver.url))[0])
    resp, _ = await add_endpoint(owner_site, receiver.url + "/second", description="Second")
    text = await page(resp, 400)
    assert 'href="#url"' in text and "A clinic can have 1 webhook endpoints" in text
    assert 'value="Second"' in text, "what was typed stays"
    assert len(await endpoints_in_db(notifications_pool)) == 1
