"""The read side of the booking service (cosmicpython's "views"): what the routes show, each read on a pool
connection of its own, outside any unit of work (no lock, no transaction, no events). What is not there is a
BookingError, as in the use cases. The SQL stays in store.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import asyncpg

from services.booking import api_keys, service, store
from services.booking.domain import DEFAULT_AVAILABILITY_DAYS, MAX_AVAILABILITY_DAYS, BookingError, Clinic
from services.booking.reservation import Reservation
from shared.db import Connection

# --- the public catalogue ------------------------------------------------------------------------


async def clinics(pool: asyncpg.Pool) -> list[Clinic]:
    async with pool.acquire() as conn:
        return await store.list_clinics(conn)


async def clinic_payment_policies(pool: asyncpg.Pool) -> dict[uuid.UUID, dict]:
    async with pool.acquire() as conn:
        return await store.clinic_payment_policies(conn)


async def clinic_payment_policy(pool: asyncpg.Pool, clinic_id: uuid.UUID) -> dict:
    async with pool.acquire() as conn:
        return await store.clinic_payment_policy(conn, clinic_id)


async def clinic(pool: asyncpg.Pool, slug: str) -> Clinic:
    async with pool.acquire() as conn:
        return await _clinic(conn, slug)


async def _clinic(conn: Connection, slug: str) -> Clinic:
    return service.found_clinic(await store.get_clinic(conn, slug), slug)


async def treatments(pool: asyncpg.Pool, slug: str) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return await store.list_treatments(conn, (await _clinic(conn, slug)).id)


async def courses(pool: asyncpg.Pool, slug: str) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return await store.list_courses(conn, (await _clinic(conn, slug)).id)


async def therapists(pool: asyncpg.Pool, slug: str) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return await store.list_therapists(conn, (await _clinic(conn, slug)).id)


# --- a booking, through its manage link ----------------------------------------------------------


@dataclass(frozen=True)
class Booking:
    clinic: Clinic
    reservation: Reservation


async def booking(pool: asyncpg.Pool, booking_id: uuid.UUID) -> Booking:
    async with pool.acquire() as conn:
        found = await store.get_booking(conn, booking_id)
        if found is None:
            raise _booking_not_found()
        return Booking(await store.get_clinic_by_id(conn, found.clinic_id), found)


def _booking_not_found() -> BookingError:
    return BookingError(404, "booking_not_found", "No such booking")


# --- the clinic API (scoped to the clinic whose key the gateway checked) ------------------------


@dataclass(frozen=True)
class ClinicBookings:
    """The clinic's bookings over days in its zone (`first` to `last`, both included)."""

    clinic: Clinic
    first: date
    last: date
    bookings: list[store.ClinicBooking]


async def clinic_bookings(
    pool: asyncpg.Pool, clinic_id: uuid.UUID, first: date | None, last: date | None, now: datetime
) -> ClinicBookings:
    """By default from the clinic's today, for as many days as availability shows by default."""
    async with pool.acquire() as conn:
        clinic = await store.get_clinic_by_id(conn, clinic_id)
        if first is None:
            first = now.astimezone(clinic.rules.zone).date()
        if last is None:
            last = first + timedelta(days=DEFAULT_AVAILABILITY_DAYS - 1)
        if last < first or (last - first).days >= MAX_AVAILABILITY_DAYS:
            raise BookingError(
                422,
                "range_too_large" if last >= first else "invalid_range",
                f"Ask for 1 to {MAX_AVAILABILITY_DAYS} days at a time",
            )
        seen = await store.clinic_bookings(conn, clinic_id, service.local_days(clinic, first, last))
    return ClinicBookings(clinic, first, last, seen)


@dataclass(frozen=True)
class ClinicBooking:
    clinic: Clinic
    seen: store.ClinicBooking


async def clinic_booking(pool: asyncpg.Pool, clinic_id: uuid.UUID, booking_id: uuid.UUID) -> ClinicBooking:
    """One of the clinic's bookings; another clinic's is not found."""
    async with pool.acquire() as conn:
        seen = await store.clinic_booking(conn, clinic_id, booking_id)
        if seen is None:
            raise _booking_not_found()
        return ClinicBooking(await store.get_clinic_by_id(conn, clinic_id), seen)


async def api_keys_of(pool: asyncpg.Pool, clinic_id: uuid.UUID) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return await store.list_api_keys(conn, clinic_id)


# --- for the gateway -----------------------------------------------------------------------------


async def key_owner(pool: asyncpg.Pool, key: str) -> asyncpg.Record:
    """The clinic (and key id, and expiry) of a working API key; 401 for anything else."""
    if api_keys.prefix_of(key) is None:
        raise BookingError(401, "invalid_api_key", "This API key is not valid")
    async with pool.acquire() as conn:
        row = await store.clinic_for_key(conn, api_keys.digest(key))
    if row is None:
        raise BookingError(401, "invalid_api_key", "This API key is not valid or has been revoked")
    return row
