"""The waitlist (issue 20) on the real stack: a cancellation frees a time three people wait for; the first is offered
it (held for them, emailed), the offer runs out and the second gets it, books and pays from the offer's hold; the
time is booked once and the third still waits. Two matchers make one offer; leaving withdraws an offer and frees its
time; the clinic lists and removes entries (its own only); bad input and bad links are refused. The matcher runs
only when a test calls it (the booking app's background matcher is off here)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from services.booking import service, waitlist, waitlist_store
from services.booking.app import create_app as create_booking_app
from services.booking.app import sweep_holds_once
from services.booking.seed import stable_id
from services.booking.unit_of_work import PostgresUnitOfWork
from shared import contracts, db
from shared.events import Event
from tests.support.booking import CLINIC, OTHER_THERAPIST, THERAPIST, TREATMENT, booking_body, free_slots
from tests.support.booking import _demo_closed as demo_closed
from tests.support.clinic_api import bearer

OTHER_CLINIC = "spinecare"
SWEDISH = str(stable_id(CLINIC, "treatment", "swedish-60"))
PEOPLE = [("Ada Lovelace", "ada@example.com"), ("Ben Hale", "ben@example.com"), ("Cy Young", "cy@example.com")]


@pytest.fixture
async def booking_server(linked, payments_server, aiohttp_server):
    """The booking service without its background matcher: each test runs the matcher itself."""
    ports, settings = linked
    return await aiohttp_server(create_booking_app(settings, waitlist_sweep_interval=None), port=ports["booking"])


@pytest.fixture
def links(settings) -> waitlist.Links:
    return waitlist.Links(settings.public_url, settings.manage_link_key)


def now() -> datetime:
    return datetime.now(timezone.utc)


async def match(pool, links) -> int:
    return await waitlist.offer_freed_times(pool, now(), links)


def target_day() -> date:
    """A day a few days ahead (past notice, inside the change window's reach) on which the demo clinic is open."""
    day = now().date() + timedelta(days=3)
    while demo_closed(day):
        day += timedelta(days=1)
    return day


async def one_time_a_week(gateway, key: str, day: date) -> None:
    """Amara works one hour a week (10:00-11:00 on `day`'s weekday) and the clinic books `day` at the furthest:
    the deep tissue massage (60 minutes) has exactly one time with her, on `day` at 10:00."""
    horizon = (day - now().date()).days + 1
    resp = await gateway.patch("/api/v1/clinic/settings", headers=bearer(key), json={"booking_horizon_days": horizon})
    assert resp.status == 200, await resp.text()
    resp = await gateway.put(
        f"/api/v1/clinic/therapists/{THERAPIST}/hours",
        headers=bearer(key),
        json={"hours": [{"weekday": day.weekday(), "start": "10:00", "end": "11:00"}], "breaks": []},
    )
    assert resp.status == 200, await resp.text()


async def join(gateway, name: str, email: str, status: int = 201, **overrides) -> dict:
    body = {
        "clinic": CLINIC,
        "treatment": TREATMENT,
        "therapist": THERAPIST,
        "weekdays": [target_day().weekday()],
        "times_of_day": ["morning"],
        "customer": {"name": name, "email": email},
    }
    body.update(overrides)
    resp = await gateway.post("/api/v1/waitlist", json=body)
    assert resp.status == status, await resp.text()
    return await resp.json()


def token_of(url: str) -> str:
    return url.split("token=", 1)[1]


async def outbox(pool, event_type: str) -> list[Event]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT envelope FROM outbox WHERE envelope->>'type' = $1 ORDER BY seq", event_type)
    return [Event.from_dict(row["envelope"]) for row in rows]


async def entry_statuses(pool) -> dict[str, str]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT customer_email, status FROM waitlist_entries")
    return {r["customer_email"]: r["status"] for r in rows}


async def offers(pool) -> list[contracts.WaitlistOffered]:
    return [contracts.parse(contracts.WaitlistOffered, e) for e in await outbox(pool, "waitlist.offered")]


async def run_out(pool, offer: contracts.WaitlistOffered) -> None:
    """The offer's time passes: its hold's expiry (and the offer's) moved into the past."""
    async with pool.acquire() as conn:
        hold = await conn.fetchval("SELECT booking_id FROM waitlist_offers WHERE id = $1", uuid.UUID(offer.offer_id))
        await conn.execute("UPDATE bookings SET expires_at = now() - interval '1 second' WHERE id = $1", hold)
        await conn.execute(
            "UPDATE waitlist_offers SET expires_at = now() - interval '1 second' WHERE id = $1",
            uuid.UUID(offer.offer_id),
        )


async def live_at(pool, start: str) -> list[str]:
    """The statuses of the live reservations (held, awaiting payment, confirmed) of Amara's time at `start`."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT status FROM bookings WHERE therapist_id = $1 AND starts_at = $2 "
            "AND status IN ('held', 'pending_payment', 'confirmed') AND (status <> 'held' OR expires_at > now())",
            uuid.UUID(THERAPIST),
            datetime.fromisoformat(start),
        )
    return [r["status"] for r in rows]


async def the_only_time_booked(gateway, checkout, key: str) -> dict:
    """Amara's one time of the week, booked and paid by someone else."""
    day = target_day()
    await one_time_a_week(gateway, key, day)
    [slot] = await free_slots(gateway, day)
    resp = await gateway.post(
        "/api/v1/holds",
        json={"clinic": CLINIC, "treatment": TREATMENT, "therapist": THERAPIST, "start": slot["start"]},
    )
    assert resp.status == 201, await resp.text()
    held = await resp.json()
    resp = await gateway.post("/api/v1/bookings", json=booking_body(held["id"], "dora@example.com"))
    assert resp.status == 201, await resp.text()
    booked = await resp.json()
    await checkout.pay(booked)
    return booked


# --- the proof -----------------------------------------------------------------------------------------------


async def test_a_freed_time_goes_to_the_first_waiting_then_after_its_offer_runs_out_to_the_second(
    gateway, checkout, keys, booking_pool, links
):
    booked = await the_only_time_booked(gateway, checkout, keys[CLINIC])
    entries = [await join(gateway, name, email) for name, email in PEOPLE]
    assert [e["status"] for e in entries] == ["waiting"] * 3
    joined = [contracts.parse(contracts.WaitlistJoined, e) for e in await outbox(booking_pool, "waitlist.joined")]
    assert [j.customer.email for j in joined] == [email for _, email in PEOPLE]
    assert joined[0].leave_url == entries[0]["leave_url"] and joined[0].therapist.name == "Amara Okafor"
    assert joined[0].weekdays == (target_day().weekday(),) and joined[0].times_of_day == ("morning",)
    assert await match(booking_pool, links) == 0  # nothing free yet

    # The booking is cancelled: its time is free, and the first person waiting is offered it (held for them).
    resp = await gateway.post(f"/api/v1/bookings/{booked['id']}/cancel", json={"token": token_of(booked["manage_url"])})
    assert resp.status == 200, await resp.text()
    assert await match(booking_pool, links) == 1
    [first] = await offers(booking_pool)
    assert first.customer.email == "ada@example.com" and first.entry_id == entries[0]["id"]
    assert first.start == datetime.fromisoformat(booked["start"]) and first.therapist.id == THERAPIST
    assert timedelta(minutes=29) < first.expires_at - now() <= timedelta(minutes=30)  # the clinic's 30 minutes
    assert await live_at(booking_pool, booked["start"]) == ["held"]
    assert await entry_statuses(booking_pool) == {
        "ada@example.com": "offered",
        "ben@example.com": "waiting",
        "cy@example.com": "waiting",
    }
    assert await match(booking_pool, links) == 0  # offered once
    assert len(await offers(booking_pool)) == 1

    # The offer's link opens it (and only with its token); the time is not free for anybody else meanwhile.
    resp = await gateway.get(f"/api/v1/waitlist/offers/{first.offer_id}", params={"token": token_of(first.offer_url)})
    assert resp.status == 200, await resp.text()
    shown = await resp.json()
    assert shown["status"] == "open" and shown["start"] == booked["start"]
    assert (shown["treatment"]["id"], shown["therapist"]["name"], shown["clinic"]["slug"]) == (
        TREATMENT,
        "Amara Okafor",
        CLINIC,
    )
    assert await free_slots(gateway, target_day()) == []

    # Ada lets it run out: the hold lapses (the sweep), and the second person gets the time; Ada waits again.
    await run_out(booking_pool, first)
    resp = await gateway.get(f"/api/v1/waitlist/offers/{first.offer_id}", params={"token": token_of(first.offer_url)})
    assert resp.status == 410 and (await resp.json())["error"]["details"] == {"status": "lapsed"}  # before the sweep
    assert await service.expire_lapsed(PostgresUnitOfWork(booking_pool)) == 1
    assert (await entry_statuses(booking_pool))["ada@example.com"] == "waiting"
    assert await match(booking_pool, links) == 1
    second = (await offers(booking_pool))[1]
    assert second.customer.email == "ben@example.com" and second.start == first.start
    assert await entry_statuses(booking_pool) == {
        "ada@example.com": "waiting",  # never offered that time again
        "ben@example.com": "offered",
        "cy@example.com": "waiting",
    }
    resp = await gateway.get(f"/api/v1/waitlist/offers/{first.offer_id}", params={"token": token_of(first.offer_url)})
    assert resp.status == 410
    assert (await resp.json())["error"]["code"] == "offer_expired"

    # Ben books and pays from the offer's hold.
    shown = await (
        await gateway.get(f"/api/v1/waitlist/offers/{second.offer_id}", params={"token": token_of(second.offer_url)})
    ).json()
    resp = await gateway.post("/api/v1/bookings", json=booking_body(shown["hold"]["id"], "ben@example.com"))
    assert resp.status == 201, await resp.text()
    bens = await resp.json()
    assert (await entry_statuses(booking_pool))["ben@example.com"] == "booked"
    await checkout.pay(bens)
    assert await live_at(booking_pool, booked["start"]) == ["confirmed"]  # booked once
    assert await match(booking_pool, links) == 0
    assert await entry_statuses(booking_pool) == {
        "ada@example.com": "waiting",
        "ben@example.com": "booked",
        "cy@example.com": "waiting",
    }
    resp = await gateway.get(f"/api/v1/waitlist/offers/{second.offer_id}", params={"token": token_of(second.offer_url)})
    assert resp.status == 410 and (await resp.json())["error"]["details"] == {"status": "taken"}


async def test_two_matchers_at_once_make_one_offer(gateway, keys, booking_pool, settings, links):
    await one_time_a_week(gateway, keys[CLINIC], target_day())
    for name, email in PEOPLE[:2]:
        await join(gateway, name, email)
    other = await db.create_pool(settings, "booking", min_size=1, max_size=2)
    try:
        made = await asyncio.gather(match(booking_pool, links), match(other, links))
    finally:
        await other.close()
    assert sorted(made) == [0, 1]
    [offered] = await offers(booking_pool)
    assert offered.customer.email == "ada@example.com"
    assert await live_at(booking_pool, offered.start.isoformat()) == ["held"]


async def test_a_second_matcher_waits_for_the_first_then_finds_nothing_new(
    gateway, keys, booking_pool, settings, links
):
    """The pair's lock: while one matcher works on the (clinic, treatment), the other waits for it, then finds every
    time offered (it does not offer the time to the next person meanwhile)."""
    await one_time_a_week(gateway, keys[CLINIC], target_day())
    for name, email in PEOPLE[:2]:
        await join(gateway, name, email)
    clinic_id, treatment_id = stable_id(CLINIC), uuid.UUID(TREATMENT)
    other = await db.create_pool(settings, "booking", min_size=1, max_size=2)
    try:
        async with booking_pool.acquire() as first, first.transaction():
            await waitlist_store.lock_pair(first, clinic_id, treatment_id)  # the first matcher, at work
            second = asyncio.create_task(match(other, links))
            await waiting_for_a_lock(booking_pool, second)
            # The first matcher goes on (its own run of the pair, on its connection) and commits.
            assert await waitlist._offer_pair(first, clinic_id, treatment_id, now(), links, 10) == 1
        assert await second == 0
    finally:
        await other.close()
    [offered] = await offers(booking_pool)
    assert offered.customer.email == "ada@example.com"


async def waiting_for_a_lock(pool, task: asyncio.Task, tries: int = 500) -> None:
    """Until another session waits for an advisory lock (the task is blocked on it); fails if the task ends first."""
    async with pool.acquire() as conn:
        for _ in range(tries):
            assert not task.done(), "the second matcher did not wait for the first"
            if await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)"
            ):
                return
            await asyncio.sleep(0.01)
    raise AssertionError("the second matcher never waited for the pair's lock")


# --- leaving, the clinic's list, refusals --------------------------------------------------------------------


async def test_leaving_withdraws_an_open_offer_and_frees_its_time(gateway, keys, booking_pool, links):
    await one_time_a_week(gateway, keys[CLINIC], target_day())
    ada = await join(gateway, *PEOPLE[0])
    ben = await join(gateway, *PEOPLE[1])
    assert await match(booking_pool, links) == 1
    [offered] = await offers(booking_pool)
    assert offered.customer.email == "ada@example.com" and offered.leave_url == ada["leave_url"]

    shown = await (
        await gateway.get(f"/api/v1/waitlist/offers/{offered.offer_id}", params={"token": token_of(offered.offer_url)})
    ).json()
    leave = f"/api/v1/waitlist/{ada['id']}/leave"
    resp = await gateway.post(leave, json={"token": token_of(ben["leave_url"])})  # another entry's token
    assert resp.status == 404
    resp = await gateway.post(leave, json={"token": token_of(ada["leave_url"])})
    assert resp.status == 200 and await resp.json() == {"status": "left"}
    assert await live_at(booking_pool, offered.start.isoformat()) == []  # the hold released
    released = await outbox(booking_pool, "booking.released")
    assert [e.data["booking_id"] for e in released] == [shown["hold"]["id"]]
    resp = await gateway.get(
        f"/api/v1/waitlist/offers/{offered.offer_id}", params={"token": token_of(offered.offer_url)}
    )
    assert resp.status == 410 and (await resp.json())["error"]["details"] == {"status": "withdrawn"}
    resp = await gateway.post(leave, json={"token": token_of(ada["leave_url"])})  # again: the same
    assert resp.status == 200 and await resp.json() == {"status": "left"}

    # The time goes to the next person waiting.
    assert await match(booking_pool, links) == 1
    assert (await offers(booking_pool))[1].customer.email == "ben@example.com"
    assert await entry_statuses(booking_pool) == {"ada@example.com": "left", "ben@example.com": "offered"}


async def test_the_clinic_lists_its_waitlist_oldest_first_and_removes_entries(gateway, keys, booking_pool, links):
    await one_time_a_week(gateway, keys[CLINIC], target_day())
    ada = await join(gateway, *PEOPLE[0])
    ben = await join(gateway, *PEOPLE[1], weekdays=[], times_of_day=[])
    # Only Amara gives the Swedish massage, and never in the evening now: Cy waits for any therapist, in vain.
    cy = await join(gateway, *PEOPLE[2], treatment=SWEDISH, therapist=None, times_of_day=["evening"])
    assert await match(booking_pool, links) == 1
    [offered] = await offers(booking_pool)

    resp = await gateway.get("/api/v1/clinic/waitlist", headers=bearer(keys[CLINIC]))
    assert resp.status == 200, await resp.text()
    listed = (await resp.json())["entries"]
    assert [e["id"] for e in listed] == [ada["id"], ben["id"], cy["id"]]
    assert listed[0]["status"] == "offered" and listed[0]["offer"]["id"] == offered.offer_id
    assert listed[0]["offer"]["status"] == "open"
    assert listed[0]["therapist"]["name"] == "Amara Okafor" and listed[2]["therapist"] is None
    assert listed[2]["treatment"] == {"id": SWEDISH, "name": "Swedish massage (60 min)"}
    assert listed[0]["customer"] == {"name": "Ada Lovelace", "email": "ada@example.com"}
    assert listed[0]["weekdays"] == [target_day().weekday()] and listed[0]["times_of_day"] == ["morning"]
    assert listed[1]["wishes"] == "any day, any time" and listed[1]["offer"] is None
    waiting = await (await gateway.get("/api/v1/clinic/waitlist?status=waiting", headers=bearer(keys[CLINIC]))).json()
    assert [e["id"] for e in waiting["entries"]] == [ben["id"], cy["id"]]
    resp = await gateway.get("/api/v1/clinic/waitlist?status=nonsense", headers=bearer(keys[CLINIC]))
    assert resp.status == 422

    # Another clinic's key finds neither the entries nor a way to remove them.
    assert (await (await gateway.get("/api/v1/clinic/waitlist", headers=bearer(keys[OTHER_CLINIC]))).json()) == {
        "entries": []
    }
    resp = await gateway.delete(f"/api/v1/clinic/waitlist/{ada['id']}", headers=bearer(keys[OTHER_CLINIC]))
    assert resp.status == 404
    assert (await entry_statuses(booking_pool))["ada@example.com"] == "offered"

    resp = await gateway.delete(f"/api/v1/clinic/waitlist/{ada['id']}", headers=bearer(keys[CLINIC]))
    assert resp.status == 200, await resp.text()
    removed = await resp.json()
    assert removed["status"] == "removed" and removed["offer"]["status"] == "withdrawn"
    assert await live_at(booking_pool, offered.start.isoformat()) == []
    resp = await gateway.delete(f"/api/v1/clinic/waitlist/{ada['id']}", headers=bearer(keys[CLINIC]))
    assert resp.status == 200 and (await resp.json())["status"] == "removed"
    assert (await gateway.delete(f"/api/v1/clinic/waitlist/{uuid.uuid4()}", headers=bearer(keys[CLINIC]))).status == 404
    # The freed time goes to Ben (any day, any time).
    assert await match(booking_pool, links) == 1
    assert (await offers(booking_pool))[1].customer.email == "ben@example.com"


async def test_joining_again_answers_the_same_entry_and_bad_input_is_refused(gateway, booking_pool):
    ada = await join(gateway, *PEOPLE[0])
    again = await join(gateway, "Ada L.", "ADA@example.com", status=200)
    assert again["id"] == ada["id"]
    other = await join(gateway, *PEOPLE[0], times_of_day=["evening"])  # asks for something else
    assert other["id"] != ada["id"]
    assert len(await outbox(booking_pool, "waitlist.joined")) == 2

    cases = [
        ({"treatment": str(uuid.uuid4())}, "treatment_not_found"),
        ({"therapist": str(uuid.uuid4())}, "therapist_not_found"),
        ({"treatment": SWEDISH, "therapist": OTHER_THERAPIST}, "therapist_does_not_give_treatment"),
        ({"weekdays": [7]}, "validation_failed"),
        ({"weekdays": [1, 1]}, "validation_failed"),
        ({"times_of_day": ["night"]}, "validation_failed"),
        ({"times_of_day": ["morning", "morning"]}, "validation_failed"),
        ({"customer": {"name": "Ada", "email": "not an email"}}, "validation_failed"),
        ({"customer": {"name": "", "email": "ada@example.com"}}, "validation_failed"),
    ]
    for change, code in cases:
        body = {
            "clinic": CLINIC,
            "treatment": TREATMENT,
            "therapist": THERAPIST,
            "customer": {"name": "Eve", "email": "eve@example.com"},
            **change,
        }
        resp = await gateway.post("/api/v1/waitlist", json=body)
        assert resp.status == 422, (change, await resp.text())
        assert (await resp.json())["error"]["code"] == code, change
    resp = await gateway.post(
        "/api/v1/waitlist",
        json={"clinic": "nowhere", "treatment": TREATMENT, "customer": {"name": "Eve", "email": "eve@example.com"}},
    )
    assert resp.status == 404


async def test_a_person_has_at_most_twenty_live_entries_at_a_clinic(gateway, booking_pool):
    for i in range(20):
        weekdays = [i % 7]
        times = [["morning"], ["afternoon"], ["evening"]][i // 7]
        await join(gateway, *PEOPLE[0], weekdays=weekdays, times_of_day=times)
    resp = await gateway.post(
        "/api/v1/waitlist",
        json={
            "clinic": CLINIC,
            "treatment": TREATMENT,
            "customer": {"name": "Ada", "email": "ada@example.com"},
        },
    )
    assert resp.status == 422 and (await resp.json())["error"]["code"] == "too_many_waitlist_entries"
    await join(gateway, *PEOPLE[1])  # someone else may


async def test_an_offer_link_needs_its_own_token(gateway, keys, booking_pool, links):
    await one_time_a_week(gateway, keys[CLINIC], target_day())
    ada = await join(gateway, *PEOPLE[0])
    await match(booking_pool, links)
    [offered] = await offers(booking_pool)
    path = f"/api/v1/waitlist/offers/{offered.offer_id}"
    for params in (
        {},
        {"token": "x"},
        {"token": token_of(ada["leave_url"])},
        {"token": links.offer_token(uuid.uuid4())},
    ):
        resp = await gateway.get(path, params=params)
        assert resp.status == 404, params
        assert (await resp.json())["error"]["code"] == "waitlist_offer_not_found"
    assert (await gateway.get(f"/api/v1/waitlist/offers/{uuid.uuid4()}", params={"token": "x"})).status == 404
    # A leave link's token opens no offer, and an offer's token leaves no entry.
    resp = await gateway.post(f"/api/v1/waitlist/{ada['id']}/leave", json={"token": token_of(offered.offer_url)})
    assert resp.status == 404


# --- a customer's data ---------------------------------------------------------------------------------------


async def test_a_customers_waitlist_entries_are_exported_and_erased_an_open_offer_first_withdrawn(
    gateway, keys, booking_pool, links
):
    await one_time_a_week(gateway, keys[CLINIC], target_day())
    ada = await join(gateway, *PEOPLE[0])
    other = await join(gateway, "Ada", "ADA@example.com", times_of_day=["evening"])
    ben = await join(gateway, *PEOPLE[1])
    assert await match(booking_pool, links) == 1
    [offered] = await offers(booking_pool)
    assert offered.entry_id == ada["id"]

    resp = await gateway.post(
        "/api/v1/clinic/privacy/export", headers=bearer(keys[CLINIC]), json={"email": "ada@example.com"}
    )
    assert resp.status == 200, await resp.text()
    exported = (await resp.json())["waitlist"]
    assert [e["id"] for e in exported] == [ada["id"], other["id"]]
    assert exported[0]["status"] == "offered" and exported[0]["customer"]["email"] == "ada@example.com"
    assert [(o["id"], o["status"]) for o in exported[0]["offers"]] == [(offered.offer_id, "open")]
    assert exported[1]["times_of_day"] == ["evening"] and exported[1]["offers"] == []

    erase = "/api/v1/clinic/privacy/erase"
    resp = await gateway.post(erase, headers=bearer(keys[CLINIC]), json={"email": "ada@example.com", "dry_run": True})
    assert resp.status == 200 and (await resp.json())["erase"]["waitlist_entries"] == 2
    assert await entry_statuses(booking_pool) == {
        "ada@example.com": "offered",
        "ADA@example.com": "waiting",  # as typed; found in any case
        "ben@example.com": "waiting",
    }
    resp = await gateway.post(erase, headers=bearer(keys[CLINIC]), json={"email": "ada@example.com"})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["erased"]["waitlist_entries"] == 2
    assert await entry_statuses(booking_pool) == {"ben@example.com": "waiting"}  # Ada's entries are gone
    assert await live_at(booking_pool, offered.start.isoformat()) == []  # the time she was offered is free
    assert (
        await gateway.post(f"/api/v1/waitlist/{ada['id']}/leave", json={"token": token_of(ada["leave_url"])})
    ).status == 404
    # ...and goes to the next person waiting.
    assert await match(booking_pool, links) == 1
    assert (await offers(booking_pool))[1].entry_id == ben["id"]


async def test_a_booking_refused_by_payments_gives_the_offer_back(gateway, keys, booking_pool, links):
    """Booking the offer's hold makes the offer taken; if payments then refuses (a voucher code that is no
    voucher), the booking is undone to the hold and the offer is open again, still the person's."""
    await one_time_a_week(gateway, keys[CLINIC], target_day())
    await join(gateway, *PEOPLE[0])
    await match(booking_pool, links)
    [offered] = await offers(booking_pool)
    params = {"token": token_of(offered.offer_url)}
    shown = await (await gateway.get(f"/api/v1/waitlist/offers/{offered.offer_id}", params=params)).json()
    body = booking_body(shown["hold"]["id"], "ada@example.com", voucher_code="NOT-A-VOUCHER")
    resp = await gateway.post("/api/v1/bookings", json=body)
    assert 400 <= resp.status < 500, await resp.text()
    resp = await gateway.get(f"/api/v1/waitlist/offers/{offered.offer_id}", params=params)
    assert resp.status == 200 and (await resp.json())["status"] == "open"
    assert await entry_statuses(booking_pool) == {"ada@example.com": "offered"}
    resp = await gateway.post("/api/v1/bookings", json=booking_body(shown["hold"]["id"], "ada@example.com"))
    assert resp.status == 201, await resp.text()
    assert await entry_statuses(booking_pool) == {"ada@example.com": "booked"}


async def test_the_hold_sweep_runs_the_matcher_when_it_expired_something(
    gateway, keys, booking_pool, settings, aiohttp_server
):
    """In the booking app: a hold that lapses is a time for the waitlist at once, not only at the matcher's next run."""
    matching = await aiohttp_server(create_booking_app(settings, waitlist_sweep_interval=3600))
    await one_time_a_week(gateway, keys[CLINIC], target_day())
    [slot] = await free_slots(gateway, target_day())
    resp = await gateway.post(
        "/api/v1/holds", json={"clinic": CLINIC, "treatment": TREATMENT, "therapist": THERAPIST, "start": slot["start"]}
    )
    assert resp.status == 201, await resp.text()
    held = await resp.json()
    await join(gateway, *PEOPLE[0])
    assert await offers(booking_pool) == []  # the time is held by someone else
    async with booking_pool.acquire() as conn:
        await conn.execute(
            "UPDATE bookings SET expires_at = now() - interval '1 second' WHERE id = $1", uuid.UUID(held["id"])
        )
    assert await sweep_holds_once(matching.app) == 1
    [offered] = await offers(booking_pool)
    assert offered.customer.email == "ada@example.com" and offered.start == datetime.fromisoformat(slot["start"])
