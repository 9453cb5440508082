"""Staff accounts in tests: accounts made straight in the database, signing in through a client, and the
invitation email followed from the outbox to the SMTP sink (relay, notifications consumer, the Celery task)."""

from __future__ import annotations

import re
import uuid
from urllib.parse import parse_qs, urlparse

import asyncpg

from services.booking import accounts_store, staff
from services.booking.seed import stable_id
from services.notifications.emails.tasks import send_email
from tests.support.notifications import of_kind, run_task

PASSWORD = "correct horse battery"
LINK = re.compile(r"https?://\S+/clinic/set-password\?token=[A-Za-z0-9_%-]+")


async def make_account(
    pool: asyncpg.Pool,
    email: str,
    *,
    clinic: str = "urban-therapy",
    role: str = "owner",
    password: str | None = PASSWORD,
) -> uuid.UUID:
    """An account of the seeded clinic `clinic`, with `password` set (None: invited, no password yet)."""
    async with pool.acquire() as conn:
        staff_id = await accounts_store.insert_account(conn, stable_id(clinic), email, email.split("@")[0], role)
        assert staff_id is not None, f"{email} exists already"
        if password is not None:
            await accounts_store.set_password(conn, staff_id, staff.hash_password(password))
    return staff_id


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def sign_in(client, email: str, password: str = PASSWORD):
    return await client.post("/api/v1/staff/sessions", json={"email": email, "password": password})


async def token_for(client, email: str, password: str = PASSWORD) -> str:
    resp = await sign_in(client, email, password)
    assert resp.status == 201, await resp.text()
    return (await resp.json())["token"]


def token_of(link: str) -> str:
    return parse_qs(urlparse(link).query)["token"][0]


async def emailed_links(event_path, sink, address: str, sent: set | None = None) -> list[tuple[object, str]]:
    """Relay and handle the events written so far, send the emails they made (as a worker would), and return
    (message, set-password link) of each invitation email `address` received, oldest first."""
    sent = set() if sent is None else sent
    await event_path.drain()
    for email_id in event_path.enqueued_emails:
        if email_id not in sent:
            sent.add(email_id)
            assert (await run_task(send_email, str(email_id))).result == "sent"
    found = []
    for message in of_kind(sink.messages, "staff_invited"):
        if message["To"] == address:
            text = message.get_body(("plain",)).get_content()
            [link] = LINK.findall(text)
            html = message.get_body(("html",)).get_content()
            assert link.replace("&", "&amp;") in html or link in html
            found.append((message, link))
    return found
