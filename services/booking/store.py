"""All SQL of the booking service."""
from __future__ import annotations

import uuid

import asyncpg

from services.booking.domain import Booking, Clinic, Therapist, Treatment

CLINIC_COLUMNS = "id, slug, name, timezone"


async def list_clinics(conn: asyncpg.Connection) -> list[Clinic]:
    rows = await conn.fetch(f"SELECT {CLINIC_COLUMNS} FROM clinics ORDER BY name")
    return [Clinic(**r) for r in rows]


async def get_clinic(conn: asyncpg.Connection, slug: str) -> Clinic | None:
    row = await conn.fetchrow(f"SELECT {CLINIC_COLUMNS} FROM clinics WHERE slug = $1", slug)
    return Clinic(**row) if row else None


async def list_treatments(conn: asyncpg.Connection, clinic_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, slug, name, description, duration_minutes, price_amount, currency "
        "FROM treatments WHERE clinic_id = $1 ORDER BY name", clinic_id)


async def list_therapists(conn: asyncpg.Connection, clinic_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT id, slug, name, bio FROM therapists WHERE clinic_id = $1 ORDER BY name",
                            clinic_id)


async def get_treatment(conn: asyncpg.Connection, clinic_id: uuid.UUID, treatment_id: uuid.UUID) -> Treatment | None:
    row = await conn.fetchrow(
        "SELECT id, name, duration_minutes, price_amount, currency FROM treatments WHERE clinic_id = $1 AND id = $2",
        clinic_id, treatment_id)
    return Treatment(**row) if row else None


async def get_therapist(conn: asyncpg.Connection, clinic_id: uuid.UUID, therapist_id: uuid.UUID) -> Therapist | None:
    row = await conn.fetchrow("SELECT id, name FROM therapists WHERE clinic_id = $1 AND id = $2",
                              clinic_id, therapist_id)
    return Therapist(**row) if row else None


async def insert_booking(conn: asyncpg.Connection, booking: Booking, idempotency_key: str | None) -> None:
    await conn.execute(
        """INSERT INTO bookings (id, clinic_id, treatment_id, therapist_id, starts_at, ends_at, status,
                                 customer_name, customer_email, customer_phone, price_amount, currency,
                                 idempotency_key)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)""",
        booking.id, booking.clinic.id, booking.treatment.id, booking.therapist.id, booking.starts_at,
        booking.ends_at, booking.status, booking.customer.name, booking.customer.email, booking.customer.phone,
        booking.treatment.price_amount, booking.treatment.currency, idempotency_key,
    )


async def booking_id_for_key(conn: asyncpg.Connection, clinic_id: uuid.UUID, idempotency_key: str) -> uuid.UUID | None:
    return await conn.fetchval("SELECT id FROM bookings WHERE clinic_id = $1 AND idempotency_key = $2",
                               clinic_id, idempotency_key)


async def get_booking_view(conn: asyncpg.Connection, booking_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT b.id, b.status, b.starts_at, b.ends_at, b.price_amount, b.currency,
                  c.slug AS clinic, c.timezone, t.id AS treatment_id, t.name AS treatment_name,
                  th.id AS therapist_id, th.name AS therapist_name
           FROM bookings b JOIN clinics c ON c.id = b.clinic_id
           JOIN treatments t ON t.id = b.treatment_id JOIN therapists th ON th.id = b.therapist_id
           WHERE b.id = $1""", booking_id)
