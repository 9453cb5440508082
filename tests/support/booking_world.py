"""The booking use cases' world for their tests: the demo catalogue (as services.booking.seed writes it) in
an InMemoryUnitOfWork, or the seeded test database behind a PostgresUnitOfWork, with a look at the outbox."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from services.booking.availability import Interval, Schedule, WeeklyTime
from services.booking.domain import Clinic, Course, Therapist, Treatment
from services.booking.in_memory_unit_of_work import InMemoryUnitOfWork, Tables
from services.booking.seed import CHRISTMAS, DEMO_CLINICS, stable_id
from services.booking.unit_of_work import PostgresUnitOfWork, UnitOfWork


def _time(text: str):
    return datetime.strptime(text, "%H:%M").time()


def demo_tables() -> Tables:
    tables = Tables()
    off = Interval(datetime.fromisoformat(CHRISTMAS[0]), datetime.fromisoformat(CHRISTMAS[1]))
    for c in DEMO_CLINICS:
        clinic = Clinic(
            stable_id(c["slug"]),
            c["slug"],
            c["name"],
            c["timezone"],
            email=c["email"],
            phone=c["phone"],
            address=c["address"],
        )
        tables.clinics[clinic.id] = clinic
        treatment_ids = {}
        for slug, name, _, minutes, before, after, price in c["treatments"]:
            treatment = Treatment(stable_id(c["slug"], "treatment", slug), name, minutes, price, "GBP", before, after)
            tables.treatments[treatment.id] = (clinic.id, treatment)
            treatment_ids[slug] = treatment.id
        for slug, name, _, treatment, sessions, min_gap, max_gap, price in c["courses"]:
            course = Course(
                stable_id(c["slug"], "course", slug),
                name,
                treatment_ids[treatment],
                sessions,
                min_gap,
                max_gap,
                price,
                "GBP",
            )
            tables.courses[course.id] = (clinic.id, course)
        for slug, name, _, _, gives, hours, breaks in c["therapists"]:
            therapist = Therapist(
                stable_id(c["slug"], "therapist", slug), name, frozenset(treatment_ids[t] for t in gives)
            )
            tables.therapists[therapist.id] = (clinic.id, therapist)
            tables.schedules[therapist.id] = Schedule(
                therapist.id,
                tuple(WeeklyTime(d, _time(a), _time(b)) for d, a, b in hours),
                tuple(WeeklyTime(d, _time(a), _time(b)) for d, a, b in breaks),
                (off,),
            )
    return tables


@dataclass
class InMemoryWorld:
    uow: InMemoryUnitOfWork = field(default_factory=lambda: InMemoryUnitOfWork(demo_tables()))

    async def event_types(self) -> list[str]:
        return [event.type for event in self.uow.tables.outbox]

    async def events(self, event_type: str) -> list[dict]:
        return [event.data for event in self.uow.tables.outbox if event.type == event_type]


@dataclass
class PostgresWorld:
    pool: object

    @property
    def uow(self) -> UnitOfWork:
        return PostgresUnitOfWork(self.pool)

    async def event_types(self) -> list[str]:
        async with self.pool.acquire() as conn:
            return [
                row["type"] for row in await conn.fetch("SELECT envelope->>'type' AS type FROM outbox ORDER BY seq")
            ]

    async def events(self, event_type: str) -> list[dict]:
        async with self.pool.acquire() as conn:
            return [
                row["data"]
                for row in await conn.fetch(
                    "SELECT envelope->'data' AS data FROM outbox WHERE envelope->>'type' = $1 ORDER BY seq", event_type
                )
            ]


async def reservations(uow: UnitOfWork, booking_id: uuid.UUID):
    """The hold or booking (every session of a series) as it is kept."""
    async with uow:
        return await uow.reservations.lock(booking_id)
