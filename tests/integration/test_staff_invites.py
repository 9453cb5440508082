"""Owners invite and remove staff (issue 18): an invitation is an account without a password and an email, sent
through the outbox, the notifications consumer and a Celery task to SMTP, with a one-time link (72 hours) to set
one; setting it signs nobody in. An email belongs to one account; an owner cannot remove themselves or the last
owner; a staff account cannot manage staff. The link's token is never logged."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from services.booking import accounts, accounts_service
from services.booking.domain import BookingError
from services.booking.seed import stable_id
from tests.support.accounts import PASSWORD, bearer, emailed_links, make_account, sign_in, token_for, token_of
from tests.support.notifications import sink, task_env  # noqa: F401  (fixtures)

OWNER_EMAIL = "olivia@urban-therapy.example"
NEW_EMAIL = "nina@urban-therapy.example"
NEW_PASSWORD = "a long new pass phrase"
STAFF = "/api/v1/clinic/staff"
PASSWORD_PATH = "/api/v1/staff/password"


@pytest.fixture
async def owner(gateway, booking_pool) -> str:
    await make_account(booking_pool, OWNER_EMAIL)
    return await token_for(gateway, OWNER_EMAIL)


async def invite(gateway, token: str, email: str = NEW_EMAIL, role: str = "staff", name: str = "Nina Patel"):
    return await gateway.post(STAFF, headers=bearer(token), json={"email": email, "name": name, "role": role})


async def outbox_links(booking_pool, email: str) -> list[str]:
    """The links of the invitations written for `email`, oldest first (the event's data, before relaying)."""
    async with booking_pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT envelope FROM outbox WHERE topic = 'staff' AND envelope->'data'->>'email' = $1 ORDER BY seq", email
        )
    return [row["envelope"]["data"]["set_password_url"] for row in rows]


async def test_an_invited_person_gets_an_email_whose_link_sets_their_password_once(
    gateway,
    owner,
    event_path,
    task_env,
    sink,
    caplog,  # noqa: F811
):
    caplog.set_level(logging.DEBUG)
    resp = await invite(gateway, owner, NEW_EMAIL.upper().replace("NINA", "Nina"), name="  Nina Patel ")
    assert resp.status == 201, await resp.text()
    invited = await resp.json()
    assert invited["role"] == "staff" and invited["status"] == "invited" and invited["name"] == "Nina Patel"
    assert invited["last_sign_in_at"] is None and "token" not in invited
    listing = await (await gateway.get(STAFF, headers=bearer(owner))).json()
    assert [(s["email"].lower(), s["status"]) for s in listing["staff"]] == [
        (OWNER_EMAIL, "active"),
        (NEW_EMAIL, "invited"),
    ]

    [(message, link)] = await emailed_links(event_path, sink, invited["email"])
    assert message["From"].addresses[0].display_name == "Urban Therapy Clinic, London"
    assert message["Subject"] == "You are invited to Urban Therapy Clinic, London: set your password"
    text = message.get_body(("plain",)).get_content()
    assert "as reception staff" in text and "/clinic/sign-in" in text
    assert link.startswith("http://127.0.0.1:8080/clinic/set-password?token=")
    token = token_of(link)

    weak = await gateway.post(PASSWORD_PATH, json={"token": token, "password": "short"})
    assert weak.status == 422
    [detail] = (await weak.json())["error"]["details"]
    assert detail["field"] == "password"
    assert (await sign_in(gateway, NEW_EMAIL, NEW_PASSWORD)).status == 401, "no password yet"

    done = await gateway.post(PASSWORD_PATH, json={"token": token, "password": NEW_PASSWORD})
    assert done.status == 200, await done.text()
    body = await done.json()
    assert body == {
        "staff": {"id": invited["id"], "name": "Nina Patel", "email": invited["email"], "role": "staff"},
        "clinic": {
            "id": str(stable_id("urban-therapy")),
            "slug": "urban-therapy",
            "name": "Urban Therapy Clinic, London",
        },
    }
    assert "token" not in body and "Set-Cookie" not in done.headers, "nobody is signed in"

    again = await gateway.post(PASSWORD_PATH, json={"token": token, "password": "another long pass phrase"})
    assert again.status == 410 and (await again.json())["error"]["code"] == "link_used"
    assert (await sign_in(gateway, NEW_EMAIL, "another long pass phrase")).status == 401, "the first one stands"

    signed_in = await sign_in(gateway, NEW_EMAIL, NEW_PASSWORD)
    assert signed_in.status == 201 and (await signed_in.json())["staff"]["role"] == "staff"
    listing = await (await gateway.get(STAFF, headers=bearer(owner))).json()
    assert [s["status"] for s in listing["staff"]] == ["active", "active"]
    assert listing["staff"][1]["last_sign_in_at"] is not None

    # The link's token went by email only: not in a log line of ours (or of the libraries we run: Celery, aiohttp),
    # nor in any field a log record carries. (The SMTP sink, the mail server's stand-in, logs what it receives.)
    ours = [record for record in caplog.records if record.name != "mail.log"]
    assert {"shared.web", "services.notifications.emails.tasks"} <= {record.name for record in ours}
    for record in ours:
        assert token not in str(record.__dict__), record.getMessage()


async def test_a_link_expires_after_72_hours(gateway, owner, booking_pool):
    assert (await invite(gateway, owner)).status == 201
    [link] = await outbox_links(booking_pool, NEW_EMAIL)
    token = token_of(link)
    async with booking_pool.acquire() as conn:
        made = await conn.fetchrow("SELECT created_at, expires_at FROM staff_password_links")
    assert made["expires_at"] - made["created_at"] == pytest.approx(timedelta(hours=72), abs=timedelta(seconds=5))

    # The use case on a clock past the expiry…
    later = made["expires_at"] + timedelta(seconds=1)
    with pytest.raises(BookingError) as expired:
        await accounts_service.set_password(booking_pool, token, NEW_PASSWORD, later)
    assert (expired.value.status, expired.value.code) == (410, "link_expired")
    await accounts_service.set_password(booking_pool, token, NEW_PASSWORD, made["expires_at"] - timedelta(seconds=1))

    # …and through the API, for a link whose time has run out.
    assert (await invite(gateway, owner, "ola@urban-therapy.example")).status == 201
    [other] = await outbox_links(booking_pool, "ola@urban-therapy.example")
    async with booking_pool.acquire() as conn:
        await conn.execute(
            "UPDATE staff_password_links SET expires_at = now() - interval '1 second' WHERE token_hash = $1",
            accounts.digest(token_of(other)),
        )
    resp = await gateway.post(PASSWORD_PATH, json={"token": token_of(other), "password": NEW_PASSWORD})
    assert resp.status == 410 and (await resp.json())["error"]["code"] == "link_expired"
    unknown = await gateway.post(PASSWORD_PATH, json={"token": "not-a-link-anyone-made", "password": NEW_PASSWORD})
    assert unknown.status == 404 and (await unknown.json())["error"]["code"] == "link_not_found"
    async with booking_pool.acquire() as conn:
        stored = await conn.fetch("SELECT token_hash FROM staff_password_links")
    assert all(token_of(link).encode() not in row["token_hash"] for row in stored), "digests only"


async def test_an_email_belongs_to_one_account(gateway, owner, booking_pool):
    await make_account(booking_pool, "bo@spinecare.example", clinic="spinecare", role="staff")
    for email in ("bo@spinecare.example", OWNER_EMAIL.upper()):
        taken = await invite(gateway, owner, email)
        assert taken.status == 409 and (await taken.json())["error"]["code"] == "email_taken", email
    for body in (
        {"email": "not-an-email", "name": "X", "role": "staff"},
        {"email": "x@y.example", "name": "X", "role": "admin"},
        {"email": "x@y.example", "name": "   ", "role": "staff"},
        {"email": "x@y.example", "name": "X"},
    ):
        bad = await gateway.post(STAFF, headers=bearer(owner), json=body)
        assert bad.status == 422, body


async def test_inviting_again_sends_a_new_link_and_the_old_one_stops(gateway, owner, booking_pool):
    assert (await invite(gateway, owner)).status == 201
    again = await invite(gateway, owner, role="owner", name="Nina P.")
    assert again.status == 201, await again.text()
    assert (await again.json())["role"] == "owner"
    first, second = await outbox_links(booking_pool, NEW_EMAIL)
    old = await gateway.post(PASSWORD_PATH, json={"token": token_of(first), "password": NEW_PASSWORD})
    assert old.status == 410 and (await old.json())["error"]["code"] == "link_expired"
    assert (await gateway.post(PASSWORD_PATH, json={"token": token_of(second), "password": NEW_PASSWORD})).status == 200
    assert (await invite(gateway, owner)).status == 409, "active now: no more invitations"


async def test_removal_ends_the_account_and_its_sessions_and_keeps_an_owner(gateway, owner, booking_pool, keys):
    staff_id = await make_account(booking_pool, "sam@urban-therapy.example", role="staff")
    staff_token = await token_for(gateway, "sam@urban-therapy.example")
    me = await (await gateway.get("/api/v1/clinic/me", headers=bearer(owner))).json()
    owner_id = me["staff"]["id"]

    myself = await gateway.delete(f"{STAFF}/{owner_id}", headers=bearer(owner))
    assert myself.status == 409 and (await myself.json())["error"]["code"] == "cannot_remove_self"
    by_key = await gateway.delete(f"{STAFF}/{owner_id}", headers=bearer(keys["urban-therapy"]))
    assert by_key.status == 409 and (await by_key.json())["error"]["code"] == "last_owner"
    refused = await gateway.delete(f"{STAFF}/{owner_id}", headers=bearer(staff_token))
    assert refused.status == 403, "staff cannot remove anyone"

    assert (await gateway.delete(f"{STAFF}/{staff_id}", headers=bearer(owner))).status == 204
    assert (await gateway.get("/api/v1/clinic/me", headers=bearer(staff_token))).status == 401
    assert (await gateway.delete(f"{STAFF}/{staff_id}", headers=bearer(owner))).status == 404, "already gone"
    listing = await (await gateway.get(STAFF, headers=bearer(owner))).json()
    assert [s["id"] for s in listing["staff"]] == [owner_id]

    # With a second owner who can sign in, the first may be removed (by the second, or by an API key).
    second = await make_account(booking_pool, "otto@urban-therapy.example", role="owner")
    assert (await gateway.delete(f"{STAFF}/{owner_id}", headers=bearer(keys["urban-therapy"]))).status == 204
    assert (await gateway.get("/api/v1/clinic/me", headers=bearer(owner))).status == 401
    last = await gateway.delete(f"{STAFF}/{second}", headers=bearer(keys["urban-therapy"]))
    assert last.status == 409

    # A removed person invited again gets a new account life: a new link, no old password.
    back = await invite(gateway, keys["urban-therapy"], "sam@urban-therapy.example")
    assert back.status == 201 and (await back.json())["status"] == "invited"
    assert (await sign_in(gateway, "sam@urban-therapy.example")).status == 401


async def test_inviting_the_last_owner_again_as_staff_is_refused(gateway, booking_pool, keys):
    """A clinic made by the operators' command has one owner, invited: they stay its owner."""
    await make_account(booking_pool, NEW_EMAIL, role="owner", password=None)
    demoted = await invite(gateway, keys["urban-therapy"], NEW_EMAIL, role="staff")
    assert demoted.status == 409 and (await demoted.json())["error"]["code"] == "last_owner"
    assert (await invite(gateway, keys["urban-therapy"], NEW_EMAIL, role="owner")).status == 201


async def test_two_owners_removing_each_other_at_once_leave_one(gateway, booking_pool):
    import asyncio

    first = await make_account(booking_pool, "a@urban-therapy.example", role="owner")
    second = await make_account(booking_pool, "b@urban-therapy.example", role="owner")
    a, b = await token_for(gateway, "a@urban-therapy.example"), await token_for(gateway, "b@urban-therapy.example")
    answers = await asyncio.gather(
        gateway.delete(f"{STAFF}/{second}", headers=bearer(a)), gateway.delete(f"{STAFF}/{first}", headers=bearer(b))
    )
    assert sorted(r.status for r in answers) in ([204, 401], [204, 409])
    async with booking_pool.acquire() as conn:
        left = await conn.fetchval(
            "SELECT count(*) FROM clinic_staff WHERE clinic_id = $1 AND role = 'owner' AND disabled_at IS NULL",
            stable_id("urban-therapy"),
        )
    assert left == 1


def test_the_pure_rules():
    me, other = uuid.uuid4(), uuid.uuid4()
    with pytest.raises(BookingError, match="your own"):
        accounts.refuse_removal(accounts.Member(me, "staff", True), me, 3)
    with pytest.raises(BookingError, match="last owner"):
        accounts.refuse_removal(accounts.Member(other, "owner", True), me, 0)
    accounts.refuse_removal(accounts.Member(other, "staff", True), me, 0)
    now = datetime.now(timezone.utc)
    accounts.check_link(now + timedelta(seconds=1), None, now)
    with pytest.raises(BookingError, match="expired"):
        accounts.check_link(now, None, now)
    with pytest.raises(BookingError, match="used"):
        accounts.check_link(now + timedelta(hours=1), now, now)
    assert accounts.retry_after_seconds(now + accounts.SIGN_IN_WINDOW, now) == 90
    assert PASSWORD and accounts.status_of(False) == "invited"
