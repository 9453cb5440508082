"""Use cases of the clinic's own catalogue (the clinic API): create, change, order and delete treatments,
courses and therapists, and a therapist's photo. Each runs in one transaction on a connection of the pool,
scoped by the clinic (another clinic's id is not found: 404, never 403). The rules are catalogue_admin's.

Nothing here touches a booking: a booking copies its price (and its treatment's timing is read when it is
made), so a price changed here applies from the next hold on. A treatment, course or therapist that any
booking or hold refers to is archived rather than deleted: kept for those bookings, gone from the public
catalogue and from booking."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from services.booking import catalogue_admin as rules
from services.booking import catalogue_store as store
from services.booking import payment_policy
from services.booking.catalogue_store import THERAPISTS, TREATMENTS, Table
from shared.db import Connection
from shared.errors import ApiError

NOT_FOUND = {
    "treatments": ("treatment_not_found", "This clinic has no such treatment"),
    "courses": ("course_not_found", "This clinic has no such course"),
    "therapists": ("therapist_not_found", "This clinic has no such therapist"),
}
SINGULAR = {"treatments": "treatment", "courses": "course", "therapists": "therapist"}


def _not_found(table: Table) -> ApiError:
    return ApiError(404, *NOT_FOUND[table.name])


def invalid(problems: list[tuple[str, str, str]]) -> ApiError:
    """422 with per-field details, in the shape of the body's own validation (shared.errors)."""
    return ApiError(
        422,
        "validation_failed",
        "The request body is not valid",
        [{"field": field, "message": message, "type": kind} for field, message, kind in problems],
    )


def _slug_taken(table: Table) -> ApiError:
    return invalid([("slug", f"another {SINGULAR[table.name]} of this clinic has this slug", "slug_taken")])


async def _found(
    conn: Connection, table: Table, clinic_id: uuid.UUID, row_id: uuid.UUID, *, for_update: bool = False
) -> asyncpg.Record:
    row = await store.get_row(conn, table, clinic_id, row_id, for_update=for_update)
    if row is None:
        raise _not_found(table)
    return row


async def _new_slug(conn: Connection, table: Table, clinic_id: uuid.UUID, given: str | None, name: str) -> str:
    """The slug asked for (refused if the clinic has it), or one made from the name that it has not."""
    base = given or rules.slugify(name, SINGULAR[table.name])
    taken = await store.slugs_like(conn, table, clinic_id, base)
    if given is not None:
        if given in taken:
            raise _slug_taken(table)
        return given
    return rules.first_free_slug(base, taken)


async def _changed_slug(conn: Connection, table: Table, clinic_id: uuid.UUID, row, given: str | None) -> str | None:
    if given is None or given == row["slug"]:
        return None
    if given in await store.slugs_like(conn, table, clinic_id, given):
        raise _slug_taken(table)
    return given


def _is_slug_clash(exc: asyncpg.UniqueViolationError) -> bool:
    return (exc.constraint_name or "").endswith("_clinic_id_slug_key")


# --- reads ---------------------------------------------------------------------------------------


async def listed(pool: asyncpg.Pool, table: Table, clinic_id: uuid.UUID) -> list[asyncpg.Record]:
    """Every row of the clinic, archived ones last (the clinic sees what it keeps)."""
    async with pool.acquire() as conn:
        return await store.list_rows(conn, table, clinic_id)


async def one(pool: asyncpg.Pool, table: Table, clinic_id: uuid.UUID, row_id: uuid.UUID) -> asyncpg.Record:
    async with pool.acquire() as conn:
        return await _found(conn, table, clinic_id, row_id)


# --- create and change ---------------------------------------------------------------------------


async def _course_treatment(conn: Connection, clinic_id: uuid.UUID, treatment_id: uuid.UUID) -> None:
    treatment = await store.get_row(conn, TREATMENTS, clinic_id, treatment_id)
    if treatment is None:  # another clinic's reads as none at all
        raise invalid([("treatment", "is not one of this clinic's treatments", "treatment_not_found")])
    if treatment["archived_at"] is not None:
        raise invalid([("treatment", "is archived; bring it back first, or choose another", "treatment_archived")])


async def _given_treatments(conn: Connection, clinic_id: uuid.UUID, ids: list[uuid.UUID]) -> None:
    known = await store.clinic_treatment_ids(conn, clinic_id)
    problems = [
        (f"treatments.{i}", "is not one of this clinic's treatments", "treatment_not_found")
        for i in rules.unknown_ids(ids, known)
    ]
    if problems:
        raise invalid(problems)


def _policy_columns(body: rules.TreatmentIn | rules.TreatmentPatch) -> rules.Columns:
    """The treatment's own payment policy a body sets (issue 20); 422 invalid_payment_policy, in a sentence."""
    try:
        return rules.treatment_policy_columns(body, rules.CLINIC_CURRENCY)
    except payment_policy.PolicyInvalid as invalid_policy:
        raise ApiError(422, payment_policy.ERROR_TYPE, invalid_policy.message) from None


async def create(
    pool: asyncpg.Pool,
    table: Table,
    clinic_id: uuid.UUID,
    body: rules.TreatmentIn | rules.CourseIn | rules.TherapistIn,
) -> asyncpg.Record:
    async with pool.acquire() as conn, conn.transaction():
        if isinstance(body, rules.TreatmentIn):
            columns = rules.treatment_columns(body) | _policy_columns(body)
        elif isinstance(body, rules.CourseIn):
            await _course_treatment(conn, clinic_id, body.treatment)
            columns = rules.course_columns(body)
        else:
            await _given_treatments(conn, clinic_id, body.treatments)
            columns = rules.therapist_columns(body)
        slug = await _new_slug(conn, table, clinic_id, body.slug, body.name)
        try:
            row_id = await store.insert(conn, table, clinic_id, slug, columns)
        except asyncpg.UniqueViolationError as exc:  # the same slug made at the same moment
            if _is_slug_clash(exc):
                raise _slug_taken(table) from None
            raise
        if isinstance(body, rules.TherapistIn):
            await store.set_therapist_treatments(conn, row_id, body.treatments)
        return await _found(conn, table, clinic_id, row_id)


async def change(
    pool: asyncpg.Pool,
    table: Table,
    clinic_id: uuid.UUID,
    row_id: uuid.UUID,
    body: rules.TreatmentPatch | rules.CoursePatch | rules.TherapistPatch,
) -> asyncpg.Record:
    async with pool.acquire() as conn, conn.transaction():
        row = await _found(conn, table, clinic_id, row_id, for_update=True)
        if isinstance(body, rules.TreatmentPatch):
            columns = rules.treatment_columns(body) | _policy_columns(body)
        elif isinstance(body, rules.CoursePatch):
            columns = rules.course_columns(body)
        else:
            if body.treatments is not None:
                await _given_treatments(conn, clinic_id, body.treatments)
            columns = rules.therapist_columns(body)
        slug = await _changed_slug(conn, table, clinic_id, row, body.slug)
        try:
            await store.update(conn, table, clinic_id, row_id, columns, slug)
        except asyncpg.UniqueViolationError as exc:
            if _is_slug_clash(exc):
                raise _slug_taken(table) from None
            raise
        if isinstance(body, rules.TherapistPatch) and body.treatments is not None:
            await store.set_therapist_treatments(conn, row_id, body.treatments)
        if body.archived is not None:
            await store.set_archived(conn, table, clinic_id, row_id, body.archived)
        return await _found(conn, table, clinic_id, row_id)


async def reorder(pool: asyncpg.Pool, table: Table, clinic_id: uuid.UUID, wanted: list[uuid.UUID]) -> list:
    """The clinic's list in a new order: `wanted` first, the rest after them as they were."""
    async with pool.acquire() as conn, conn.transaction():
        current = await store.clinic_ids(conn, table, clinic_id)
        problems = [
            (f"ids.{i}", f"is not one of this clinic's {table.name}", f"{SINGULAR[table.name]}_not_found")
            for i in rules.unknown_ids(wanted, set(current))
        ]
        if problems:
            raise invalid(problems)
        await store.set_order(conn, table, clinic_id, rules.new_order(current, wanted))
        return await store.list_rows(conn, table, clinic_id)


# --- delete, or archive --------------------------------------------------------------------------

BOOKED_BY = {"treatments": "treatment_id", "courses": "course_id", "therapists": "therapist_id"}


@dataclass(frozen=True)
class Removed:
    """What a DELETE did: `deleted`, or `archived` for a reason (then `row` is the archived row)."""

    id: uuid.UUID
    outcome: str
    reason: str | None = None
    row: asyncpg.Record | None = None


async def _in_use(conn: Connection, table: Table, row_id: uuid.UUID) -> str | None:
    """Why this row must be kept: `booked` (a booking or hold has it), `in_course` (a treatment a course is of)."""
    if await store.booked(conn, BOOKED_BY[table.name], row_id):
        return "booked"
    if table is TREATMENTS and await store.in_a_course(conn, row_id):
        return "in_course"
    return None


async def remove(pool: asyncpg.Pool, table: Table, clinic_id: uuid.UUID, row_id: uuid.UUID) -> Removed:
    """Delete what nothing refers to (archived or not); archive the rest (archived already: kept as it was)."""
    async with pool.acquire() as conn, conn.transaction():
        await _found(conn, table, clinic_id, row_id, for_update=True)
        reason = await _in_use(conn, table, row_id)
        if reason is None:
            try:
                async with conn.transaction():  # a savepoint: undone alone if something else refers to it
                    await store.delete(conn, table, row_id)
                return Removed(row_id, "deleted")
            except asyncpg.ForeignKeyViolationError:
                reason = "referenced"
        await store.set_archived(conn, table, clinic_id, row_id, True)
        return Removed(row_id, "archived", reason, await _found(conn, table, clinic_id, row_id))


# --- a therapist's photo -------------------------------------------------------------------------


async def put_photo(pool: asyncpg.Pool, clinic_id: uuid.UUID, therapist_id: uuid.UUID, data: bytes) -> asyncpg.Record:
    """Keep the photo if its bytes are one of the image types (whatever the request said it was)."""
    content_type = rules.sniff_image(data)
    if content_type is None:
        raise ApiError(415, "unsupported_image", "Send a JPEG, PNG or WebP image")
    async with pool.acquire() as conn, conn.transaction():
        await _found(conn, THERAPISTS, clinic_id, therapist_id, for_update=True)
        await store.put_photo(conn, therapist_id, content_type, data, rules.photo_digest(data))
        return await _found(conn, THERAPISTS, clinic_id, therapist_id)


async def delete_photo(pool: asyncpg.Pool, clinic_id: uuid.UUID, therapist_id: uuid.UUID) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await _found(conn, THERAPISTS, clinic_id, therapist_id, for_update=True)
        await store.delete_photo(conn, therapist_id)


async def public_photo(
    pool: asyncpg.Pool, clinic_slug: str, therapist_id: uuid.UUID, known_digests: list[str]
) -> store.Photo:
    """The photo of a therapist the clinic lists; without its bytes if the caller has them (`known_digests`)."""
    async with pool.acquire() as conn:
        photo = await store.public_photo(conn, clinic_slug, therapist_id, known_digests)
    if photo is None:
        raise ApiError(404, "photo_not_found", "This therapist has no photo")
    return photo
