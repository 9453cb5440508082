"""Storm: 200 customers, each from an address of their own, press "hold" on the same time at once,
through the gateway. Every connection is open before any request is written, so the requests really
arrive together, and each time a hold that lapsed a moment ago is still in the way. Exactly one wins;
every other customer gets a 409 in the error shape (never a 5xx or a timeout) — five runs in a row, for
one slot, for overlapping slots and for a course's series."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import pytest

from services.booking.seed import stable_id
from tests.support.booking import CLINIC, THERAPIST, TREATMENT, BaseUrlClient, free_slots, hold_body, next_weekday
from tests.support.infra import database_url

pytestmark = pytest.mark.e2e
STORM = 200
RUNS = 5
# The 60-minute treatment with its 15-minute buffer: starts this far apart never overlap.
BLOCKED = timedelta(minutes=75)


def client_address(i: int) -> str:
    """Customer i's own loopback address (127.0.1.1, 127.0.1.2, …), so no per-client limit answers first."""
    return f"127.0.{1 + i // 250}.{1 + i % 250}"


def _request(url: str, body: dict) -> bytes:
    payload = json.dumps(body).encode()
    target = urlsplit(url)
    head = (
        f"POST {target.path} HTTP/1.1\r\nHost: {target.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + payload


def _answer(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if body else {}


async def storm(stack, bodies: list[dict]) -> tuple[Counter, Counter]:
    """Statuses, and the error codes of the refusals, of `bodies` sent together from many addresses."""
    url = urlsplit(stack.url())
    connections = await asyncio.gather(
        *(
            asyncio.open_connection(url.hostname, url.port, local_addr=(client_address(i), 0))
            for i in range(len(bodies))
        )
    )
    # Every customer is connected: now all of them press the button.
    for (_, writer), body in zip(connections, bodies):
        writer.write(_request(f"{stack.url()}/api/v1/holds", body))
    await asyncio.gather(*(writer.drain() for _, writer in connections))
    answers = await asyncio.wait_for(asyncio.gather(*(reader.read() for reader, _ in connections)), 60)
    for _, writer in connections:
        writer.close()
    parsed = [_answer(raw) for raw in answers]
    return (
        Counter(status for status, _ in parsed),
        Counter(body["error"]["code"] for status, body in parsed if status != 201),
    )


async def open_days(stack, first: date, days: int, **slot_filter) -> list[list[dict]]:
    """The free slots of each of `days` days from `first` that has any (for `free_slots`' filter)."""
    async with aiohttp.ClientSession() as http:
        client = BaseUrlClient(http, stack.url())
        found = [await free_slots(client, first + timedelta(days=i), **slot_filter) for i in range(days)]
    return [slots for slots in found if slots]


def overlapping_starts(slots: list[dict]) -> list[str] | None:
    """Four free starts 15 minutes apart (09:00, 09:15, 09:30, 09:45): for a 60-minute treatment every
    pair of them overlaps, and each alone could be held."""
    free = {datetime.fromisoformat(s["start"]) for s in slots}
    for start in sorted(free):
        group = [start + timedelta(minutes=15 * i) for i in range(4)]
        if all(s in free for s in group):
            return [s.isoformat() for s in group]
    return None


def apart(slots: list[dict], count: int) -> list[str]:
    """`count` slot starts of one day, no two of them overlapping."""
    starts: list[datetime] = []
    for slot in slots:
        start = datetime.fromisoformat(slot["start"])
        if not starts or start >= starts[-1] + BLOCKED:
            starts.append(start)
    assert len(starts) >= count, starts
    return [s.isoformat() for s in starts[:count]]


async def lapsed_hold(stack_db: str, clinic: str, therapist: str, treatment: str, start: str) -> None:
    """A hold on `start` that lapsed a moment ago and that the sweeper has not marked yet (it runs every half
    minute): still live to the exclusion constraint, so every hold in the storm must first mark it expired."""
    begins = datetime.fromisoformat(start)
    conn = await asyncpg.connect(database_url(stack_db))
    try:
        await conn.execute(
            """INSERT INTO booking.bookings (id, clinic_id, treatment_id, therapist_id, starts_at, ends_at, blocked,
                                             status, expires_at, price_amount, currency)
               VALUES ($1, $2, $3, $4, $5, $6, tstzrange($5, $7), 'held', now() - interval '1 second', 100, 'GBP')""",
            uuid.uuid4(),
            stable_id(clinic),
            uuid.UUID(treatment),
            uuid.UUID(therapist),
            begins,
            begins + timedelta(minutes=60),
            begins + BLOCKED,
        )
    finally:
        await conn.close()


def one_won(outcome: tuple[Counter, Counter], *refusals: str) -> None:
    statuses, codes = outcome
    assert statuses == Counter({201: 1, 409: STORM - 1}), outcome
    assert set(codes) <= set(refusals), codes


def no_unhandled_errors(stack) -> None:
    for service in ("gateway", "booking"):
        log = stack.log(service)
        assert '"unhandled error"' not in log and "deadlock detected" not in log, log[-3000:]


# The crash-recovery test fills the weeks from the fourth on; these storms take days before them.
WINDOW = (next_weekday(0, weeks_ahead=1), 20)


async def test_200_holds_for_the_same_slot_one_wins_five_times(stack, stack_db):
    days = await open_days(stack, *WINDOW)
    assert len(days) >= RUNS, days
    for slots in days[:RUNS]:
        body = hold_body(slots[0]["start"])
        await lapsed_hold(stack_db, CLINIC, THERAPIST, TREATMENT, body["start"])
        one_won(await storm(stack, [body] * STORM), "slot_taken")
    no_unhandled_errors(stack)


async def test_200_holds_for_overlapping_different_slots_one_wins_five_times(stack, stack_db):
    runs = 0
    for slots in await open_days(stack, *WINDOW):
        if runs == RUNS or (group := overlapping_starts(slots)) is None:
            continue
        await lapsed_hold(stack_db, CLINIC, THERAPIST, TREATMENT, group[1])
        one_won(await storm(stack, [hold_body(group[i % 4]) for i in range(STORM)]), "slot_taken")
        runs += 1
    assert runs == RUNS
    no_unhandled_errors(stack)


SPINECARE = "spinecare"
ACUTE_COURSE = str(stable_id(SPINECARE, "course", "sciatica-acute-course"))
PRIYA = str(stable_id(SPINECARE, "therapist", "priya-shah"))
SCIATICA_60 = str(stable_id(SPINECARE, "treatment", "sciatica-treatment-60"))


async def test_200_holds_for_the_same_course_series_one_wins_five_times(stack, stack_db):
    # A clinic no other e2e test books: each run's six sessions, 3 to 7 days apart, at a wall time of their own.
    slots = (await open_days(stack, *WINDOW, clinic=SPINECARE, therapist=PRIYA, treatment=SCIATICA_60))[0]
    for start in apart(slots, RUNS):
        await lapsed_hold(stack_db, SPINECARE, PRIYA, SCIATICA_60, start)
        body = {"clinic": SPINECARE, "course": ACUTE_COURSE, "therapist": PRIYA, "start": start}
        one_won(await storm(stack, [body] * STORM), "slot_taken", "series_unavailable")
    no_unhandled_errors(stack)
