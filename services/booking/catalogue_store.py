"""The SQL of the clinic's own catalogue (the clinic API's treatments, courses and therapists): every query
scoped by the clinic, so another clinic's id is simply not found. Column names in the statements built here
come from this module and catalogue_admin, never from a client."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from services.booking.catalogue_admin import Columns
from shared.db import Connection


@dataclass(frozen=True)
class Table:
    name: str
    select: str  # the columns the clinic API shows, from the table aliased `x`
    ordered: bool  # has the clinic's own order (`position`)
    writable: frozenset[str]  # the columns a body may set


TREATMENTS = Table(
    "treatments",
    """x.id, x.slug, x.name, x.description, x.duration_minutes, x.buffer_before_minutes, x.buffer_after_minutes,
       x.price_amount, x.currency, x.requires_screening, x.bookable, x.position, x.archived_at, x.payment_policy,
       (SELECT c.payment_policy FROM clinics c WHERE c.id = x.clinic_id) AS clinic_payment_policy,
       (SELECT c.change_window_hours FROM clinics c WHERE c.id = x.clinic_id) AS clinic_change_window_hours""",
    True,
    frozenset(
        {
            "payment_policy",
            "name",
            "description",
            "duration_minutes",
            "buffer_before_minutes",
            "buffer_after_minutes",
            "price_amount",
            "currency",
            "requires_screening",
            "bookable",
        }
    ),
)
COURSES = Table(
    "courses",
    """x.id, x.slug, x.name, x.description, x.treatment_id, x.sessions, x.min_gap_days, x.max_gap_days,
       x.price_amount, x.currency, x.bookable, x.position, x.archived_at,
       (SELECT t.payment_policy FROM treatments t WHERE t.id = x.treatment_id) AS payment_policy,
       (SELECT c.payment_policy FROM clinics c WHERE c.id = x.clinic_id) AS clinic_payment_policy,
       (SELECT c.change_window_hours FROM clinics c WHERE c.id = x.clinic_id) AS clinic_change_window_hours""",
    True,
    frozenset(
        {
            "name",
            "description",
            "treatment_id",
            "sessions",
            "min_gap_days",
            "max_gap_days",
            "price_amount",
            "currency",
            "bookable",
        }
    ),
)
THERAPISTS = Table(
    "therapists",
    """x.id, x.slug, x.name, x.bio, x.credentials, x.archived_at,
       ARRAY(SELECT tt.treatment_id FROM therapist_treatments tt WHERE tt.therapist_id = x.id
             ORDER BY tt.treatment_id) AS treatment_ids,
       (SELECT p.digest FROM therapist_photos p WHERE p.therapist_id = x.id) AS photo_digest,
       (SELECT c.slug FROM clinics c WHERE c.id = x.clinic_id) AS clinic_slug""",
    False,
    frozenset({"name", "bio", "credentials"}),
)


def _order_by(table: Table) -> str:
    """The live ones in the clinic's order, the archived after them."""
    position = "x.position, " if table.ordered else ""
    return f"ORDER BY x.archived_at IS NOT NULL, {position}x.name, x.id"


def _checked(table: Table, columns: Columns) -> Columns:
    if not columns.keys() <= table.writable:
        raise ValueError(f"not columns of {table.name} a body may set: {sorted(columns.keys() - table.writable)}")
    return columns


async def list_rows(conn: Connection, table: Table, clinic_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {table.select} FROM {table.name} x WHERE x.clinic_id = $1 {_order_by(table)}", clinic_id
    )


async def get_row(
    conn: Connection, table: Table, clinic_id: uuid.UUID, row_id: uuid.UUID, *, for_update: bool = False
) -> asyncpg.Record | None:
    lock = " FOR UPDATE OF x" if for_update else ""
    return await conn.fetchrow(
        f"SELECT {table.select} FROM {table.name} x WHERE x.clinic_id = $1 AND x.id = $2{lock}", clinic_id, row_id
    )


async def slugs_like(conn: Connection, table: Table, clinic_id: uuid.UUID, base: str) -> set[str]:
    """The clinic's slugs that are `base` or `base-…` (archived rows keep theirs)."""
    rows = await conn.fetch(
        f"SELECT slug FROM {table.name} WHERE clinic_id = $1 AND (slug = $2 OR starts_with(slug, $2 || '-'))",
        clinic_id,
        base,
    )
    return {r["slug"] for r in rows}


async def insert(conn: Connection, table: Table, clinic_id: uuid.UUID, slug: str, columns: Columns) -> uuid.UUID:
    """A new row; in the clinic's order, last."""
    values = {"id": uuid.uuid4(), "clinic_id": clinic_id, "slug": slug, **_checked(table, columns)}
    names = list(values)
    placeholders = [f"${i}" for i in range(1, len(names) + 1)]
    if table.ordered:
        names.append("position")
        placeholders.append(f"(SELECT coalesce(max(position), 0) + 1 FROM {table.name} WHERE clinic_id = $2)")
    await conn.execute(
        f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(placeholders)})", *values.values()
    )
    return values["id"]  # type: ignore[return-value]


async def update(
    conn: Connection, table: Table, clinic_id: uuid.UUID, row_id: uuid.UUID, columns: Columns, slug: str | None
) -> None:
    values = {**_checked(table, columns), **({"slug": slug} if slug is not None else {})}
    if not values:
        return
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(values, start=3))
    await conn.execute(
        f"UPDATE {table.name} SET {sets} WHERE clinic_id = $1 AND id = $2", clinic_id, row_id, *values.values()
    )


async def set_archived(conn: Connection, table: Table, clinic_id: uuid.UUID, row_id: uuid.UUID, archived: bool) -> None:
    """Archive (keeping the first time it was), or bring back."""
    await conn.execute(
        f"UPDATE {table.name} SET archived_at = CASE WHEN $3 THEN coalesce(archived_at, now()) END "
        "WHERE clinic_id = $1 AND id = $2",
        clinic_id,
        row_id,
        archived,
    )


async def set_order(conn: Connection, table: Table, clinic_id: uuid.UUID, ids: list[uuid.UUID]) -> None:
    """Positions 1, 2, … in the order of `ids`."""
    await conn.execute(
        f"""UPDATE {table.name} x SET position = o.n
            FROM unnest($2::uuid[]) WITH ORDINALITY AS o(id, n)
            WHERE x.clinic_id = $1 AND x.id = o.id""",
        clinic_id,
        ids,
    )


async def clinic_ids(conn: Connection, table: Table, clinic_id: uuid.UUID) -> list[uuid.UUID]:
    """The ids of the clinic's rows, in the clinic's order."""
    rows = await conn.fetch(f"SELECT x.id FROM {table.name} x WHERE x.clinic_id = $1 {_order_by(table)}", clinic_id)
    return [r["id"] for r in rows]


# --- what refers to a row ------------------------------------------------------------------------


async def booked(conn: Connection, column: str, row_id: uuid.UUID) -> bool:
    """Has any booking or hold, whatever its status, this treatment, course or therapist (`column`)?"""
    assert column in ("treatment_id", "course_id", "therapist_id")
    return bool(await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM bookings WHERE {column} = $1)", row_id))


async def in_a_course(conn: Connection, treatment_id: uuid.UUID) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM courses WHERE treatment_id = $1)", treatment_id))


# Each in the caller's transaction; the rows that only describe the deleted one go with it. Anything else
# still referring to it (a table added later) makes PostgreSQL refuse, and the caller archives instead.
DELETE_SQL = {
    "treatments": ("DELETE FROM therapist_treatments WHERE treatment_id = $1", "DELETE FROM treatments WHERE id = $1"),
    "courses": ("DELETE FROM courses WHERE id = $1",),
    "therapists": (
        "DELETE FROM therapist_treatments WHERE therapist_id = $1",
        "DELETE FROM working_hours WHERE therapist_id = $1",
        "DELETE FROM breaks WHERE therapist_id = $1",
        "DELETE FROM time_off WHERE therapist_id = $1",
        "DELETE FROM therapist_photos WHERE therapist_id = $1",
        "DELETE FROM therapists WHERE id = $1",
    ),
}


async def delete(conn: Connection, table: Table, row_id: uuid.UUID) -> None:
    for statement in DELETE_SQL[table.name]:
        await conn.execute(statement, row_id)


# --- therapists ----------------------------------------------------------------------------------


async def clinic_treatment_ids(conn: Connection, clinic_id: uuid.UUID) -> set[uuid.UUID]:
    """Every treatment of the clinic, archived ones too (a therapist may keep one they gave)."""
    return {r["id"] for r in await conn.fetch("SELECT id FROM treatments WHERE clinic_id = $1", clinic_id)}


async def set_therapist_treatments(conn: Connection, therapist_id: uuid.UUID, treatment_ids: list[uuid.UUID]) -> None:
    await conn.execute(
        "DELETE FROM therapist_treatments WHERE therapist_id = $1 AND NOT treatment_id = ANY($2::uuid[])",
        therapist_id,
        treatment_ids,
    )
    await conn.execute(
        """INSERT INTO therapist_treatments (therapist_id, treatment_id)
           SELECT $1, t FROM unnest($2::uuid[]) AS t ON CONFLICT DO NOTHING""",
        therapist_id,
        treatment_ids,
    )


async def put_photo(conn: Connection, therapist_id: uuid.UUID, content_type: str, data: bytes, digest: str) -> None:
    await conn.execute(
        """INSERT INTO therapist_photos (therapist_id, content_type, data, digest) VALUES ($1, $2, $3, $4)
           ON CONFLICT (therapist_id) DO UPDATE SET content_type = EXCLUDED.content_type, data = EXCLUDED.data,
                                                    digest = EXCLUDED.digest, updated_at = now()""",
        therapist_id,
        content_type,
        data,
        digest,
    )


async def delete_photo(conn: Connection, therapist_id: uuid.UUID) -> None:
    await conn.execute("DELETE FROM therapist_photos WHERE therapist_id = $1", therapist_id)


@dataclass(frozen=True)
class Photo:
    content_type: str
    digest: str
    data: bytes | None  # None when the caller has this very photo already (its ETag matched)


async def public_photo(
    conn: Connection, clinic_slug: str, therapist_id: uuid.UUID, known_digests: list[str]
) -> Photo | None:
    """The photo of a therapist the clinic lists (not archived); its bytes only if it is none of `known_digests`."""
    row = await conn.fetchrow(
        """SELECT p.content_type, p.digest, CASE WHEN p.digest = ANY($3::text[]) THEN NULL ELSE p.data END AS data
           FROM therapist_photos p JOIN therapists t ON t.id = p.therapist_id
           JOIN clinics c ON c.id = t.clinic_id
           WHERE c.slug = $1 AND t.id = $2 AND t.archived_at IS NULL""",
        clinic_slug,
        therapist_id,
        known_digests,
    )
    return Photo(row["content_type"], row["digest"], row["data"]) if row else None
