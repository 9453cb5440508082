"""The hold section's baselines, as transactions for tx_loop: the writes of a hold in plain SQL, and the
whole use case in-process; and a per-statement profile of the use case, one hold at a time."""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from tests.perf.bench_database import CLINIC, Catalogue, service_connection
from tests.perf.figures import summary_ms, timed_ms
from tests.perf.hold_grid import HoldGrid


def sql_hold_tx(cat: Catalogue, grid: HoldGrid, offset: int, therapists: dict[uuid.UUID, Any]):
    """The issue's baseline: the constrained INSERT of the 'held' row and the INSERT of its outbox event,
    in one transaction, with the product's own store functions."""
    from services.booking import store
    from services.booking.domain import booking_event_data, new_hold
    from shared.events import Event
    from shared.outbox import add_event

    clinic, treatment = cat.clinic, cat.treatment

    async def tx(conn, n: int) -> None:
        therapist_id, start = grid.start(offset + n)
        hold = new_hold(clinic, treatment, therapist_id, start, datetime.now(timezone.utc))
        async with conn.transaction():
            await store.insert_hold(conn, hold, None)
            await add_event(
                conn,
                Event(
                    "booking.held",
                    booking_event_data(
                        booking_id=hold.id,
                        status="held",
                        clinic=clinic,
                        treatment=treatment,
                        therapist=therapists[therapist_id],
                        start=hold.start,
                        end=hold.end,
                        customer=None,
                        price_amount=hold.price_amount,
                        currency=hold.currency,
                        expires_at=hold.expires_at.isoformat(),
                    ),
                    clinic_id=str(clinic.id),
                ),
            )

    return tx


def use_case_hold_tx(cat: Catalogue, grid: HoldGrid, offset: int):
    """What POST /api/v1/holds runs, minus HTTP, JSON and pydantic: service.hold_slot, i.e. one read of what
    the request names and the therapist's schedule, a rule check, then the hold and its event in one
    statement, with no explicit transaction, as the route does."""
    from services.booking import service
    from services.booking.unit_of_work import PostgresUnitOfWork

    async def tx(conn, n: int) -> None:
        therapist_id, start = grid.start(offset + n)
        await service.hold_slot(
            PostgresUnitOfWork.on(conn), CLINIC, cat.treatment.id, therapist_id, start, datetime.now(timezone.utc), None
        )

    return tx


# Names of the statements of the hold path, for the per-statement profile.
STATEMENT_NAMES = [
    (re.compile(p), n)
    for p, n in (
        (r"^WITH blocked AS", "context (names, schedule)"),
        (r"^WITH hold AS", "hold + event"),
        (r"^SELECT .* FROM clinics", "clinic"),
        (r"^SELECT .* FROM treatments", "treatment"),
        (r"^SELECT .* FROM therapists", "therapist"),
        (r"FROM working_hours", "hours"),
        (r"FROM breaks", "breaks"),
        (r"FROM time_off", "time off"),
        (r"^UPDATE bookings", "expire"),
        (r"^INSERT INTO bookings", "insert hold"),
        (r"^INSERT INTO outbox", "outbox"),
    )
]
PROFILE_HOLDS, PROFILE_WARMUP = 300, 50


class TimedConnection:
    """An asyncpg connection that times each statement (by name) of the code using it."""

    def __init__(self, conn, times: dict[str, list[float]]):
        self._conn = conn
        self._times = times

    def __getattr__(self, attr: str):
        target = getattr(self._conn, attr)
        if attr not in ("fetch", "fetchrow", "fetchval", "execute"):
            return target

        async def timed(query: str, *args, **kwargs):
            began = time.perf_counter()
            try:
                return await target(query, *args, **kwargs)
            finally:
                text = " ".join(query.split())
                name = next((n for pattern, n in STATEMENT_NAMES if pattern.search(text)), text[:40])
                self._times.setdefault(name, []).append((time.perf_counter() - began) * 1000.0)

        return timed


async def profile_hold_use_case(database_url: str, cat: Catalogue, grid: HoldGrid) -> dict[str, Any]:
    """The use case one hold at a time on one connection, each statement timed: where a hold's time
    goes when nothing queues (statements, and the rest: BEGIN/COMMIT and Python)."""
    conn = await service_connection(database_url)
    times: dict[str, list[float]] = {}
    totals: list[float] = []
    offset = grid.capacity - PROFILE_WARMUP - PROFILE_HOLDS  # far from the measured runs' starts
    try:
        tx = use_case_hold_tx(cat, grid, offset)
        for n in range(PROFILE_WARMUP + PROFILE_HOLDS):
            if n == PROFILE_WARMUP:  # the first ones warm the statement caches
                times.clear()
                totals.clear()
            with timed_ms(totals):
                await tx(TimedConnection(conn, times), n)
    finally:
        await conn.close()
    holds = len(totals)
    per_hold = {name: sum(v) / holds for name, v in times.items()}
    statements = sum(len(v) for v in times.values()) / holds
    return {
        "holds": holds,
        "total_ms": summary_ms(totals),
        "statements_per_hold": round(statements, 2),
        "statements_ms_per_hold": {k: round(v, 3) for k, v in per_hold.items()},
        "statements_sum_ms": round(sum(per_hold.values()), 3),
        "rest_ms": round(sum(totals) / holds - sum(per_hold.values()), 3),
    }
