"""Onboarding a clinic (issue 18): `python -m services.booking.onboard` creates the clinic and its owner's account
(no password) and emails the owner a one-time link; the owner sets a password with it (once), signs in and runs
the new clinic. Bad slugs, unknown time zones, a taken slug or owner email are refused with a message, and
nothing is created."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import pytest

from services.booking import onboard
from services.booking.accounts import NewClinic
from tests.conftest import REPO_ROOT
from tests.support.accounts import bearer, emailed_links, sign_in, token_of
from tests.support.notifications import sink, task_env  # noqa: F401  (fixtures)

OWNER = "sam@riverside.example"
PASSWORD = "riverside owner pass phrase"


def riverside(**changes) -> NewClinic:
    values = dict(
        slug="riverside-physio",
        name="Riverside Physio",
        timezone="Europe/Dublin",
        address="1 River Lane, Bristol BS1 4AA",
        email="hello@riverside.example",
        owner_email=OWNER,
        owner_name="Sam Taylor",
    )
    return NewClinic(**{**values, **changes})


def command(settings, new: NewClinic) -> list[str]:
    return [
        sys.executable,
        "-m",
        "services.booking.onboard",
        *("--slug", new.slug, "--name", new.name, "--timezone", new.timezone, "--address", new.address),
        *("--email", new.email, "--owner-email", new.owner_email, "--owner-name", new.owner_name),
    ]


async def run_command(settings, new: NewClinic) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": settings.database_url, "APP_ENV": "test", "PUBLIC_URL": settings.public_url}
    return await asyncio.to_thread(
        subprocess.run, command(settings, new), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )


async def clinic_count(pool) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM clinics")


async def test_a_new_clinic_s_owner_gets_a_link_sets_a_password_once_and_runs_the_clinic(
    settings,
    gateway,
    booking_pool,
    event_path,
    task_env,
    sink,  # noqa: F811
):
    done = await run_command(settings, riverside())
    assert done.returncode == 0, done.stderr
    clinic_id = uuid.UUID(done.stdout.split("\n")[0].rsplit(" ", 1)[1])
    assert OWNER in done.stdout and "/clinic/sign-in" in done.stdout
    assert "token" not in done.stdout + done.stderr, "the link is never printed"

    async with booking_pool.acquire() as conn:
        clinic = await conn.fetchrow("SELECT * FROM clinics WHERE id = $1", clinic_id)
        owner = await conn.fetchrow("SELECT * FROM clinic_staff WHERE clinic_id = $1", clinic_id)
    assert (clinic["slug"], clinic["name"], clinic["timezone"]) == (
        "riverside-physio",
        "Riverside Physio",
        "Europe/Dublin",
    )
    assert (clinic["address"], clinic["email"], clinic["hold_minutes"]) == (
        "1 River Lane, Bristol BS1 4AA",
        "hello@riverside.example",
        10,
    )
    assert (owner["email"], owner["name"], owner["role"], owner["password_hash"]) == (
        OWNER,
        "Sam Taylor",
        "owner",
        None,
    )
    public = await gateway.get("/api/v1/clinics/riverside-physio")
    assert public.status == 200 and (await public.json())["timezone"] == "Europe/Dublin"

    [(message, link)] = await emailed_links(event_path, sink, OWNER)
    assert message["Subject"] == "Riverside Physio is ready: set your password"
    text = message.get_body(("plain",)).get_content()
    assert "has been set up for online booking, with you as its owner" in text
    assert "(Europe/Dublin," in text, "the expiry in the clinic's own time"
    assert (await sign_in(gateway, OWNER, PASSWORD)).status == 401, "no password until the link is used"

    token = token_of(link)
    first = await gateway.post("/api/v1/staff/password", json={"token": token, "password": PASSWORD})
    assert first.status == 200, await first.text()
    assert (await first.json())["clinic"]["slug"] == "riverside-physio"
    second = await gateway.post("/api/v1/staff/password", json={"token": token, "password": PASSWORD + "!"})
    assert second.status == 410 and (await second.json())["error"]["code"] == "link_used"

    signed_in = await sign_in(gateway, OWNER, PASSWORD)
    assert signed_in.status == 201
    session = await signed_in.json()
    me = await (await gateway.get("/api/v1/clinic/me", headers=bearer(session["token"]))).json()
    assert me["role"] == "owner" and me["clinic"] == {
        "id": str(clinic_id),
        "slug": "riverside-physio",
        "name": "Riverside Physio",
        "timezone": "Europe/Dublin",
    }
    staff = await (await gateway.get("/api/v1/clinic/staff", headers=bearer(session["token"]))).json()
    assert [(s["email"], s["role"], s["status"]) for s in staff["staff"]] == [(OWNER, "owner", "active")]


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"slug": "Riverside"}, "the slug must be 3 to 40 lower-case letters, digits and hyphens"),
        ({"slug": "rp"}, "the slug must be"),
        ({"slug": "r" * 41}, "the slug must be"),
        ({"slug": "-riverside"}, "the slug must be"),
        ({"slug": "river side"}, "the slug must be"),
        ({"timezone": "Europe/Atlantis"}, "unknown time zone 'Europe/Atlantis'"),
        ({"timezone": "europe/london"}, "unknown time zone"),
        ({"timezone": "Factory"}, "unknown time zone"),  # in the zone database, but no place: the settings refuse it
        ({"slug": "riverside\n"}, "the slug must be"),
        ({"owner_email": "sam@riverside.example\n"}, "the owner's email must be an email address"),
        ({"owner_email": "sam"}, "the owner's email must be an email address"),
        ({"name": "  "}, "the clinic's name must not be empty"),
        ({"address": "1 River Lane\nBristol"}, "the address must not contain a line break"),
    ],
)
async def test_the_command_refuses_bad_input(settings, booking_pool, changes, says):
    before = await clinic_count(booking_pool)
    with pytest.raises(onboard.Refused, match=says):
        await onboard.onboard(settings, riverside(**changes))
    assert await clinic_count(booking_pool) == before


async def test_the_command_says_why_it_refused_and_creates_nothing(settings, booking_pool):
    before = await clinic_count(booking_pool)
    for changes, says in (
        ({"slug": "Bad_Slug"}, "the slug must be"),
        ({"timezone": "Mars/Olympus_Mons"}, "unknown time zone 'Mars/Olympus_Mons'"),
    ):
        done = await run_command(settings, riverside(**changes))
        assert done.returncode == 1 and done.stderr.startswith("not created: ") and says in done.stderr, done.stderr
    # A slug or an owner's email already in use: nothing is created (one transaction).
    with pytest.raises(onboard.Refused, match="'urban-therapy' is taken"):
        await onboard.onboard(settings, riverside(slug="urban-therapy"))
    await onboard.onboard(settings, riverside(slug="riverside-two", owner_email="first@riverside.example"))
    with pytest.raises(onboard.Refused, match="First@Riverside.example already has an account"):
        await onboard.onboard(settings, riverside(slug="riverside-three", owner_email="First@Riverside.example"))
    assert await clinic_count(booking_pool) == before + 1
