"""What the notifications service keeps of clinics and bookings, from their events: the SQL of the `clinics` and
`booking_projection` tables. Emails need them after the event: a reminder is rendered from the booking as it is
at send time, a refund email names the visit, voucher emails go out in the clinic's name and zone (the email
handlers write both tables; the reminder and gift tasks read them)."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from services.notifications.emails.reminders import BookingView
from shared.contracts import ClinicRef


async def upsert_clinic(conn: asyncpg.Connection, clinic: ClinicRef) -> None:
    await conn.execute(
        """INSERT INTO clinics (id, slug, name, timezone) VALUES ($1, $2, $3, $4)
           ON CONFLICT (id) DO UPDATE SET slug = EXCLUDED.slug, name = EXCLUDED.name, timezone = EXCLUDED.timezone,
                                          updated_at = clock_timestamp()
           WHERE (clinics.slug, clinics.name, clinics.timezone) IS DISTINCT FROM
                 (EXCLUDED.slug, EXCLUDED.name, EXCLUDED.timezone)""",
        clinic.id,
        clinic.slug,
        clinic.name,
        clinic.timezone,
    )


async def get_clinic(conn: asyncpg.Connection, clinic_id: str | None) -> asyncpg.Record | None:
    if clinic_id is None:
        return None
    return await conn.fetchrow("SELECT id, slug, name, timezone FROM clinics WHERE id = $1", clinic_id)


async def apply_booking(
    conn: asyncpg.Connection, booking: BookingView, event_at: datetime, sequence: int
) -> asyncpg.Record | None:
    """Write the booking as an event describes it, unless a later event was applied already (events of one
    booking may be handled out of order by two consumers). Returns the SEQUENCE of this event's invite (at
    least `sequence`, and above the previous one) and whether the booking is new here; None if not applied."""
    return await conn.fetchrow(
        """INSERT INTO booking_projection (booking_id, clinic_id, status, starts_at, ends_at, customer_name,
                                          customer_email, clinic_name, clinic_timezone, treatment_name,
                                          therapist_name, manage_url, series_index, last_event_at, ics_sequence)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
           ON CONFLICT (booking_id) DO UPDATE SET
               status = EXCLUDED.status, starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,
               customer_name = coalesce(EXCLUDED.customer_name, booking_projection.customer_name),
               customer_email = coalesce(EXCLUDED.customer_email, booking_projection.customer_email),
               clinic_name = EXCLUDED.clinic_name, clinic_timezone = EXCLUDED.clinic_timezone,
               treatment_name = EXCLUDED.treatment_name, therapist_name = EXCLUDED.therapist_name,
               manage_url = coalesce(EXCLUDED.manage_url, booking_projection.manage_url),
               series_index = EXCLUDED.series_index, last_event_at = EXCLUDED.last_event_at,
               ics_sequence = greatest(EXCLUDED.ics_sequence, booking_projection.ics_sequence + 1),
               updated_at = clock_timestamp()
           WHERE booking_projection.last_event_at <= EXCLUDED.last_event_at
           -- xmax is 0 on a row this statement inserted, not on one it updated
           RETURNING ics_sequence, xmax = 0 AS inserted""",
        booking.booking_id,
        booking.clinic_id,
        booking.status,
        booking.start,
        booking.end,
        booking.customer_name,
        booking.customer_email,
        booking.clinic_name,
        booking.clinic_timezone,
        booking.treatment_name,
        booking.therapist_name,
        booking.manage_url,
        booking.series_index,
        event_at,
        sequence,
    )


def booking_from_row(row) -> BookingView:
    """A BookingView from a row with the projection's columns."""
    return BookingView(
        booking_id=row["booking_id"],
        clinic_id=row["clinic_id"],
        status=row["status"],
        start=row["starts_at"],
        end=row["ends_at"],
        customer_name=row["customer_name"],
        customer_email=row["customer_email"],
        clinic_name=row["clinic_name"],
        clinic_timezone=row["clinic_timezone"],
        treatment_name=row["treatment_name"],
        therapist_name=row["therapist_name"],
        manage_url=row["manage_url"],
        series_index=row["series_index"],
    )


async def projected_booking(conn: asyncpg.Connection, booking_id: uuid.UUID) -> BookingView | None:
    """The booking as the booking events told us (None if none did: e.g. a payment that found no booking)."""
    row = await conn.fetchrow(
        """SELECT booking_id, clinic_id, status, starts_at, ends_at, customer_name, customer_email, clinic_name,
                  clinic_timezone, treatment_name, therapist_name, manage_url, series_index
           FROM booking_projection WHERE booking_id = $1""",
        booking_id,
    )
    return booking_from_row(row) if row else None
