"""The SQL of the clinic's actions on behalf of its customers (migration 0014), and the unit of work that
adds them to the booking use cases' (clinic_actions.ClinicUnitOfWork)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.booking import store
from services.booking.availability import Interval
from services.booking.reservation import Reservation
from services.booking.unit_of_work import PostgresUnitOfWork, SlotTaken


@dataclass(frozen=True)
class Actor:
    """Who acts for the clinic: the role the gateway names, and the staff account of a signed-in session."""

    role: str  # owner | staff (an API key acts as the owner)
    staff_id: uuid.UUID | None = None  # None for an API key


async def mark_booked_by_clinic(conn: asyncpg.Connection, ids: list[uuid.UUID], payment_mode: str) -> None:
    await conn.execute(
        "UPDATE bookings SET booked_by = 'clinic', payment_mode = $2 WHERE id = ANY($1::uuid[])", ids, payment_mode
    )


async def move_booking(
    conn: asyncpg.Connection,
    booking_id: uuid.UUID,
    therapist_id: uuid.UUID,
    start: datetime,
    end: datetime,
    blocked: Interval,
) -> None:
    """store.move_booking without counting the move as the customer's own (reschedule_count)."""
    await conn.execute(
        "UPDATE bookings SET therapist_id = $2, starts_at = $3, ends_at = $4, blocked = $5 WHERE id = $1",
        booking_id,
        therapist_id,
        start,
        end,
        asyncpg.Range(blocked.start, blocked.end, lower_inc=True, upper_inc=False),
    )


async def insert_action(
    conn: asyncpg.Connection,
    booking_id: uuid.UUID,
    clinic_id: uuid.UUID,
    action: str,
    actor: Actor,
    detail: dict[str, Any],
) -> None:
    await conn.execute(
        "INSERT INTO booking_actions (booking_id, clinic_id, action, role, staff_id, detail) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        booking_id,
        clinic_id,
        action,
        actor.role,
        actor.staff_id,
        detail,
    )


@dataclass(frozen=True)
class Record:
    """What the clinic's actions left on a booking: who booked it, how it is paid, who cancelled it and why, and
    every action with who took it."""

    booked_by: str
    payment_mode: str
    cancelled_by: str | None
    cancel_reason: str | None
    actions: list[asyncpg.Record]


async def record_of(conn: asyncpg.Connection, clinic_id: uuid.UUID, booking_id: uuid.UUID) -> Record | None:
    """Scoped to the clinic: another clinic's booking has none."""
    row = await conn.fetchrow(
        "SELECT booked_by, payment_mode, cancelled_by, cancel_reason FROM bookings WHERE id = $1 AND clinic_id = $2",
        booking_id,
        clinic_id,
    )
    if row is None:
        return None
    actions = await conn.fetch(
        "SELECT action, role, staff_id, detail, at FROM booking_actions WHERE booking_id = $1 AND clinic_id = $2 "
        "ORDER BY id",
        booking_id,
        clinic_id,
    )
    return Record(row["booked_by"], row["payment_mode"], row["cancelled_by"], row["cancel_reason"], actions)


class PostgresClinicUnitOfWork(PostgresUnitOfWork):
    """The booking use cases' unit of work, with the writes of the clinic's actions (`on_behalf`)."""

    def __init__(self, pool: asyncpg.Pool | None):
        super().__init__(pool)
        self.on_behalf = _PostgresOnBehalf(self)


class _PostgresOnBehalf:
    """Each write in the unit of work's transaction, kept on its commit (as its reservations' writes are)."""

    def __init__(self, uow: PostgresUnitOfWork):
        self._uow = uow

    async def save_booked(self, reservations: list[Reservation]) -> None:
        await mark_booked_by_clinic(
            await self._uow.in_transaction(), [r.id for r in reservations], reservations[0].payment_mode
        )

    async def save_cancelled(self, reservation: Reservation, reason: str) -> None:
        await store.cancel_booking(await self._uow.in_transaction(), reservation.id, "clinic", reason)

    async def save_move(self, reservation: Reservation, blocked: Interval) -> None:
        conn = await self._uow.in_transaction()
        try:
            await move_booking(
                conn, reservation.id, reservation.therapist_id, reservation.start, reservation.end, blocked
            )
        except asyncpg.ExclusionViolationError:
            raise SlotTaken(reservation.start) from None

    async def record(self, reservation: Reservation, action: str, actor: Actor, detail: dict[str, Any]) -> None:
        await insert_action(
            await self._uow.in_transaction(), reservation.id, reservation.clinic_id, action, actor, detail
        )
