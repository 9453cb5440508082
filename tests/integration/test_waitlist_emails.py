"""The waitlist's emails (issue 20), on real PostgreSQL, Redis, the outbox relay, the notifications consumer, the
Celery send task (in-process) and an SMTP sink: joining tells the customer what they asked for, in words, with the
link to leave; an offer names the time and how long it is held in the clinic's zone, with the link to book it and
the link to leave. Both go out in the clinic's name, to the customer only (no clinic webhook), are stored with
their clinic (so the clinic's data protection requests find them: export, and erasure with their personal links),
and nothing of the customer's address or links reaches our logs."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from email.utils import parseaddr

import pytest

from services.notifications.app import create_app as create_notifications_app
from services.notifications.emails.tasks import send_email
from services.notifications.webhooks import store as webhook_store
from services.notifications.webhooks.rules import CLINIC_EVENTS
from shared.clinic_auth import INTERNAL_TOKEN_HEADER
from shared.events import Event
from tests.support.events import SAMPLE_CLINIC_ID, commit_event, waitlist_joined, waitlist_offered
from tests.support.notifications import of_kind, run_task, sink, task_env  # noqa: F401  (fixtures)

BROOKLYN = {
    "id": str(uuid.uuid4()),
    "slug": "brooklyn-bodywork",
    "name": "Brooklyn Bodywork",
    "timezone": "America/New_York",
}
ADA, GRACE = "ada@example.com", "grace@example.com"
OURS = ("services", "shared", "celery")  # not the test's SMTP sink, which stands in for the customer's mailbox


async def send_all(event_path) -> list:
    """What a worker does with the email tasks the consumer started: send each (to the SMTP sink)."""
    for email_id in event_path.enqueued_emails:
        assert (await run_task(send_email, str(email_id))).result == "sent"
    event_path.enqueued_emails.clear()


async def through_the_event_path(booking_pool, event_path, *events: Event) -> None:
    """As the booking service writes them: into its outbox, relayed to the stream, handled by the consumer."""
    for event in events:
        await commit_event(booking_pool, event)
    await event_path.drain()


async def stored(notifications_pool, event: Event) -> dict:
    async with notifications_pool.acquire() as conn:
        return dict(await conn.fetchrow("SELECT kind, clinic_id, to_address FROM emails WHERE event_id = $1", event.id))


def parts(message) -> tuple[str, ...]:
    """The text and HTML parts, with the line ends they were written with."""
    return tuple(message.get_body((kind,)).get_content().replace("\r\n", "\n") for kind in ("plain", "html"))


async def test_joining_emails_what_they_asked_for_in_words_and_the_link_to_leave(
    booking_pool, notifications_pool, event_path, settings, task_env, sink
):
    picky = waitlist_joined(
        therapist={"id": "p1", "name": "Amara Okafor"}, weekdays=[4, 0, 2], times_of_day=["evening", "morning"]
    )
    any_time = waitlist_joined(GRACE, name="Grace Hopper", entry_id=str(uuid.uuid4()))
    await through_the_event_path(booking_pool, event_path, picky, any_time)
    await send_all(event_path)

    ada, grace = sorted(of_kind(sink.messages, "waitlist_joined"), key=lambda m: m["To"])
    assert ada["To"] == ADA and grace["To"] == GRACE
    # In the clinic's name, from our sending address.
    assert ada["From"].addresses[0].display_name == "Urban Therapy Clinic, London"
    assert ada["From"].addresses[0].addr_spec == parseaddr(settings.mail_from)[1]
    assert ada["Subject"] == "You're on the waitlist for Deep tissue massage (60 min) at Urban Therapy Clinic, London"
    text, html = parts(ada)
    assert text.startswith("Hello Ada Lovelace,")
    assert "Therapist:  Amara Okafor" in text
    assert "Days:       Mondays, Wednesdays or Fridays" in text, "0 = Monday, in the week's order"
    assert "Times:      Mornings (before 12:00) or evenings (from 17:00), clinic time (Europe/London)" in text
    leave_url = picky.data["leave_url"]
    assert leave_url in text and f'<a href="{leave_url}">leave the waitlist</a>' in html
    assert "<td>Mondays, Wednesdays or Fridays</td>" in html

    text, html = parts(grace)
    for line in ("Therapist:  Any therapist", "Days:       Any day", "Times:      Any time\n"):
        assert line in text, line
    assert any_time.data["leave_url"] in text

    # Stored with the clinic whose waitlist it is (its privacy requests reach it).
    assert await stored(notifications_pool, picky) == {
        "kind": "waitlist_joined",
        "clinic_id": SAMPLE_CLINIC_ID,
        "to_address": ADA,
    }


async def test_an_offer_names_the_time_and_its_hold_in_the_clinic_s_zone_with_links_to_book_and_to_leave(
    booking_pool, notifications_pool, event_path, settings, task_env, sink, caplog
):
    caplog.set_level(logging.DEBUG)
    # Clinics may subscribe to every event they can have: none of them is a waitlist event.
    async with notifications_pool.acquire() as conn:
        await webhook_store.insert_endpoint(
            conn,
            uuid.UUID(BROOKLYN["id"]),
            "http://127.0.0.1:9/hook",
            "",
            sorted(set(CLINIC_EVENTS.values())),
            None,
            "whsec_" + "A" * 32,
        )
    offered = waitlist_offered(
        clinic=BROOKLYN,
        start=datetime(2027, 7, 6, 14, 0, tzinfo=timezone.utc),
        expires_at=datetime(2027, 7, 5, 18, 45, tzinfo=timezone.utc),
    )
    joined = waitlist_joined(clinic=BROOKLYN)
    await through_the_event_path(booking_pool, event_path, joined, offered)
    await send_all(event_path)

    [offer] = of_kind(sink.messages, "waitlist_offered")
    assert offer["To"] == ADA and offer["From"].addresses[0].display_name == "Brooklyn Bodywork"
    when = "Tuesday 6 July 2027, 10:00 (America/New_York, EDT)"  # 14:00 UTC, on the clinic's clock
    assert offer["Subject"] == f"A time has come up: Deep tissue massage (60 min) with Amara Okafor, {when}"
    text, html = parts(offer)
    assert f"A time has come up: Deep tissue massage (60 min) with Amara Okafor, {when}." in text
    assert "We are holding it for you until Monday 5 July 2027, 14:45 (America/New_York, EDT)." in text
    offer_url, leave_url = offered.data["offer_url"], offered.data["leave_url"]
    assert f"Book it:\n{offer_url}\n" in text
    assert "Not wanted? Do nothing, and once the time is up it goes to the next person waiting. Or leave the " in text
    assert text.rstrip().endswith(f"{leave_url}\n\nBrooklyn Bodywork")
    assert f'<a href="{offer_url}">Book it</a>' in html and f'<a href="{leave_url}">leave the waitlist</a>' in html
    assert f"<td>{when}</td>" in html and "<strong>Monday 5 July 2027, 14:45 (America/New_York, EDT)</strong>" in html
    assert await stored(notifications_pool, offered) == {
        "kind": "waitlist_offered",
        "clinic_id": BROOKLYN["id"],
        "to_address": ADA,
    }

    # To the customer only: no clinic webhook for either event.
    async with notifications_pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM webhook_deliveries") == 0
    assert event_path.enqueued_deliveries == []
    # Their address and their links' tokens reached the sink, and none of our logs.
    for secret in (ADA, "offer-t0ken", "leave-t0ken"):
        assert all(secret not in str(vars(record)) for record in caplog.records if record.name.startswith(OURS))


# --- the clinic's data protection requests ---------------------------------------------------------------------


@pytest.fixture
async def notifications(settings, aiohttp_client):
    return await aiohttp_client(create_notifications_app(settings))


async def privacy(notifications, settings, action: str, **body) -> dict:
    resp = await notifications.post(
        f"/internal/v1/privacy/{action}", headers={INTERNAL_TOKEN_HEADER: settings.internal_token}, json=body
    )
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_a_customer_s_waitlist_emails_are_in_their_export_and_go_with_their_erasure(
    booking_pool, notifications_pool, event_path, notifications, settings
):
    ada_joined, ada_offered = waitlist_joined(), waitlist_offered()
    grace_joined = waitlist_joined(GRACE, name="Grace Hopper", entry_id=str(uuid.uuid4()))
    ada_elsewhere = waitlist_joined(clinic=BROOKLYN, entry_id=str(uuid.uuid4()))
    await through_the_event_path(booking_pool, event_path, ada_joined, ada_offered, grace_joined, ada_elsewhere)

    exported = (await privacy(notifications, settings, "export", clinic_id=SAMPLE_CLINIC_ID, email="ADA@example.com"))[
        "records"
    ]["emails"]
    assert sorted(e["kind"] for e in exported) == ["waitlist_joined", "waitlist_offered"], "this clinic's, hers only"
    offer = next(e for e in exported if e["kind"] == "waitlist_offered")
    assert offer["subject"].startswith("A time has come up:") and ada_offered.data["offer_url"] in offer["text_body"]

    review = await privacy(notifications, settings, "erase", clinic_id=SAMPLE_CLINIC_ID, email=ADA, dry_run=True)
    assert review["erase"]["emails"] == 2
    await privacy(notifications, settings, "erase", clinic_id=SAMPLE_CLINIC_ID, email=ADA, dry_run=False)

    async with notifications_pool.acquire() as conn:
        rows = {
            r["event_id"]: dict(r)
            for r in await conn.fetch("SELECT event_id, to_address, subject, text_body, html_body, status FROM emails")
        }
    for event in (ada_joined, ada_offered):
        # The row stays (a replayed event sends nothing again), with nothing of her: her personal links went
        # with the bodies, and what was still to be sent is never sent.
        assert rows[event.id] == {
            "event_id": event.id,
            "to_address": "",
            "subject": "[erased]",
            "text_body": "",
            "html_body": None,
            "status": "failed",
        }
    assert (
        rows[grace_joined.id]["to_address"] == GRACE
        and grace_joined.data["leave_url"] in rows[grace_joined.id]["text_body"]
    )
    assert rows[ada_elsewhere.id]["to_address"] == ADA, "another clinic's email is that clinic's to erase"
