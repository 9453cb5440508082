"""The clinic API for the clinic's own catalogue: treatments, courses and therapists (with a photo). Anyone of
the clinic reads them; only its owner changes them (403 `owner_only` for staff). Another clinic's ids are not
found (404). And the public URL of a therapist's photo."""

from __future__ import annotations

import re
import uuid

import asyncpg
from aiohttp import web

from services.booking import catalogue_service
from services.booking.catalogue_admin import (
    MAX_PHOTO_BYTES,
    CourseIn,
    CoursePatch,
    OrderIn,
    TherapistIn,
    TherapistPatch,
    TreatmentIn,
    TreatmentPatch,
    photo_path,
    photo_version,
)
from services.booking.catalogue_store import COURSES, THERAPISTS, TREATMENTS, Table
from services.booking.http import context, serialise
from shared.clinic_auth import clinic_scope, owner_scope
from shared.errors import ApiError
from shared.http_input import Model, read_json

routes = web.RouteTableDef()

TREATMENTS_PATH = "/api/v1/clinic/treatments"
COURSES_PATH = "/api/v1/clinic/courses"
THERAPISTS_PATH = "/api/v1/clinic/therapists"
PUBLIC_PHOTO_PATH = "/api/v1/clinics/{clinic}/therapists/{id}/photo"
# A photo's URL names its version: that URL always answers the same bytes, so browsers keep it for a year.
VERSIONED_CACHE = "public, max-age=31536000, immutable"
UNVERSIONED_CACHE = "public, no-cache"  # kept, but asked again each time (a 304 while unchanged)
PHOTO_CHUNK = 64 * 1024
ETAG_DIGEST = re.compile(r"[0-9a-f]{64}")


# --- JSON ----------------------------------------------------------------------------------------


def _kept(r: asyncpg.Record) -> dict:
    return {"archived_at": serialise.iso(r["archived_at"])}


def treatment_json(r: asyncpg.Record) -> dict:
    shown = serialise.treatment(r)
    return {
        **shown,
        # Its own payment policy as set (null: the clinic's), and the one its bookings are paid by, as customers see it.
        "payment_policy": r["payment_policy"],
        "effective_payment_policy": shown["payment_policy"],
        "bookable": r["bookable"],
        "position": r["position"],
        **_kept(r),
    }


def course_json(r: asyncpg.Record) -> dict:
    return {**serialise.course(r), "bookable": r["bookable"], "position": r["position"], **_kept(r)}


def therapist_json(r: asyncpg.Record) -> dict:
    return {
        "id": str(r["id"]),
        "slug": r["slug"],
        "name": r["name"],
        "bio": r["bio"],
        "credentials": list(r["credentials"]),
        "treatments": [str(t) for t in r["treatment_ids"]],
        "photo_url": photo_path(r["clinic_slug"], r["id"], r["photo_digest"]),
        **_kept(r),
    }


SHAPES = {"treatments": treatment_json, "courses": course_json, "therapists": therapist_json}
SINGULAR = catalogue_service.SINGULAR


def _id(request: web.Request, table: Table) -> uuid.UUID:
    return context.path_id(request, *catalogue_service.NOT_FOUND[table.name])


async def _list(request: web.Request, table: Table) -> web.Response:
    rows = await catalogue_service.listed(context.pool(request), table, clinic_scope(request))
    return web.json_response({table.name: [SHAPES[table.name](r) for r in rows]})


async def _one(request: web.Request, table: Table) -> web.Response:
    clinic_id = clinic_scope(request)
    row = await catalogue_service.one(context.pool(request), table, clinic_id, _id(request, table))
    return web.json_response(SHAPES[table.name](row))


async def _create(request: web.Request, table: Table, model: type[Model]) -> web.Response:
    clinic_id = owner_scope(request)
    body = await read_json(request, model)
    row = await catalogue_service.create(context.pool(request), table, clinic_id, body)
    return web.json_response(SHAPES[table.name](row), status=201)


async def _change(request: web.Request, table: Table, model: type[Model]) -> web.Response:
    clinic_id = owner_scope(request)
    one_id = _id(request, table)
    body = await read_json(request, model)
    row = await catalogue_service.change(context.pool(request), table, clinic_id, one_id, body)
    return web.json_response(SHAPES[table.name](row))


async def _order(request: web.Request, table: Table, model: type[OrderIn]) -> web.Response:
    clinic_id = owner_scope(request)
    body = await read_json(request, model)
    rows = await catalogue_service.reorder(context.pool(request), table, clinic_id, body.ids)
    return web.json_response({table.name: [SHAPES[table.name](r) for r in rows]})


async def _remove(request: web.Request, table: Table) -> web.Response:
    clinic_id = owner_scope(request)
    removed = await catalogue_service.remove(context.pool(request), table, clinic_id, _id(request, table))
    return web.json_response(
        {
            "id": str(removed.id),
            "outcome": removed.outcome,
            "reason": removed.reason,
            SINGULAR[table.name]: SHAPES[table.name](removed.row) if removed.row is not None else None,
        }
    )


# --- treatments ----------------------------------------------------------------------------------


@routes.get(TREATMENTS_PATH)
async def list_treatments(request: web.Request) -> web.Response:
    return await _list(request, TREATMENTS)


@routes.post(TREATMENTS_PATH)
async def create_treatment(request: web.Request) -> web.Response:
    return await _create(request, TREATMENTS, TreatmentIn)


@routes.post(TREATMENTS_PATH + "/order")
async def order_treatments(request: web.Request) -> web.Response:
    return await _order(request, TREATMENTS, OrderIn)


@routes.get(TREATMENTS_PATH + "/{id}")
async def get_treatment(request: web.Request) -> web.Response:
    return await _one(request, TREATMENTS)


@routes.patch(TREATMENTS_PATH + "/{id}")
async def change_treatment(request: web.Request) -> web.Response:
    return await _change(request, TREATMENTS, TreatmentPatch)


@routes.delete(TREATMENTS_PATH + "/{id}")
async def delete_treatment(request: web.Request) -> web.Response:
    return await _remove(request, TREATMENTS)


# --- courses -------------------------------------------------------------------------------------


@routes.get(COURSES_PATH)
async def list_courses(request: web.Request) -> web.Response:
    return await _list(request, COURSES)


@routes.post(COURSES_PATH)
async def create_course(request: web.Request) -> web.Response:
    return await _create(request, COURSES, CourseIn)


@routes.post(COURSES_PATH + "/order")
async def order_courses(request: web.Request) -> web.Response:
    return await _order(request, COURSES, OrderIn)


@routes.get(COURSES_PATH + "/{id}")
async def get_course(request: web.Request) -> web.Response:
    return await _one(request, COURSES)


@routes.patch(COURSES_PATH + "/{id}")
async def change_course(request: web.Request) -> web.Response:
    return await _change(request, COURSES, CoursePatch)


@routes.delete(COURSES_PATH + "/{id}")
async def delete_course(request: web.Request) -> web.Response:
    return await _remove(request, COURSES)


# --- therapists ----------------------------------------------------------------------------------


@routes.get(THERAPISTS_PATH)
async def list_therapists(request: web.Request) -> web.Response:
    return await _list(request, THERAPISTS)


@routes.post(THERAPISTS_PATH)
async def create_therapist(request: web.Request) -> web.Response:
    return await _create(request, THERAPISTS, TherapistIn)


@routes.get(THERAPISTS_PATH + "/{id}")
async def get_therapist(request: web.Request) -> web.Response:
    return await _one(request, THERAPISTS)


@routes.patch(THERAPISTS_PATH + "/{id}")
async def change_therapist(request: web.Request) -> web.Response:
    return await _change(request, THERAPISTS, TherapistPatch)


@routes.delete(THERAPISTS_PATH + "/{id}")
async def delete_therapist(request: web.Request) -> web.Response:
    return await _remove(request, THERAPISTS)


# --- a therapist's photo -------------------------------------------------------------------------


def _too_large() -> ApiError:
    return ApiError(413, "photo_too_large", f"A photo may be at most {MAX_PHOTO_BYTES // (1024 * 1024)} MB")


async def _photo_bytes(request: web.Request) -> bytes:
    """The raw body, read up to the photo limit (the service's general body limit is far smaller): refused
    as soon as it says or proves to be larger."""
    if request.content_length is not None and request.content_length > MAX_PHOTO_BYTES:
        raise _too_large()
    data = bytearray()
    async for chunk in request.content.iter_chunked(PHOTO_CHUNK):
        data += chunk
        if len(data) > MAX_PHOTO_BYTES:
            raise _too_large()
    return bytes(data)


@routes.put(THERAPISTS_PATH + "/{id}/photo")
async def put_therapist_photo(request: web.Request) -> web.Response:
    """The body is the image itself; its type is read from its bytes, whatever Content-Type says."""
    clinic_id = owner_scope(request)
    therapist_id = _id(request, THERAPISTS)
    await catalogue_service.one(context.pool(request), THERAPISTS, clinic_id, therapist_id)  # 404 before reading
    data = await _photo_bytes(request)
    row = await catalogue_service.put_photo(context.pool(request), clinic_id, therapist_id, data)
    return web.json_response(therapist_json(row))


@routes.delete(THERAPISTS_PATH + "/{id}/photo")
async def delete_therapist_photo(request: web.Request) -> web.Response:
    clinic_id = owner_scope(request)
    await catalogue_service.delete_photo(context.pool(request), clinic_id, _id(request, THERAPISTS))
    return web.Response(status=204)


@routes.get(PUBLIC_PHOTO_PATH)
async def public_therapist_photo(request: web.Request) -> web.StreamResponse:
    """Served only as the image type its bytes were sniffed as (and nosniff, as every answer): never as
    anything a browser would run. A 304 when the caller's ETag is this photo's."""
    therapist_id = context.path_id(request, "photo_not_found", "This therapist has no photo")
    known = ETAG_DIGEST.findall(request.headers.get("If-None-Match", ""))
    photo = await catalogue_service.public_photo(
        context.pool(request), request.match_info["clinic"], therapist_id, known
    )
    versioned = request.query.get("v") == photo_version(photo.digest)
    headers = {
        "ETag": f'"{photo.digest}"',
        "Cache-Control": VERSIONED_CACHE if versioned else UNVERSIONED_CACHE,
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    if photo.data is None:
        return web.Response(status=304, headers=headers)
    return web.Response(body=photo.data, content_type=photo.content_type, headers=headers)
