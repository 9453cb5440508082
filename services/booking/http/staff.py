"""Staff accounts over HTTP: signing in (public) for a `cst_…` token that opens the clinic API, setting a password
from an emailed link (public), who is calling and signing out (any role), and the owner's staff list, invitations
and removals. Handlers parse, call accounts_service, and serialise."""

from __future__ import annotations

import uuid

import asyncpg
from aiohttp import web

from services.booking import accounts, accounts_service
from services.booking.accounts_schemas import SetPasswordIn, StaffInviteIn, StaffSignInIn
from services.booking.http import context, serialise
from shared.clinic_auth import CLINIC_SESSION_HEADER, clinic_role, clinic_scope, owner_scope
from shared.errors import ApiError
from shared.http_input import read_json
from shared.keys import SETTINGS

routes = web.RouteTableDef()

# Answers with a token or about an account: for this client only, never kept on the way.
NO_STORE = {"Cache-Control": "no-store"}


def _session_id(request: web.Request) -> uuid.UUID | None:
    raw = request.headers.get(CLINIC_SESSION_HEADER)  # read only after clinic_scope accepted the request
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ApiError(401, "unauthorized", "Send your clinic API key as `Authorization: Bearer <key>`") from None


def _staff_json(row: asyncpg.Record) -> dict:
    return {"id": str(row["id"]), "name": row["name"], "email": row["email"], "role": row["role"]}


def _member_json(row: asyncpg.Record) -> dict:
    return {
        **_staff_json(row),
        "status": accounts.status_of(row["has_password"]),
        "created_at": row["created_at"].isoformat(),
        "last_sign_in_at": serialise.iso(row["last_sign_in_at"]),
    }


def _clinic_json(row: asyncpg.Record, *, with_timezone: bool = False) -> dict:
    body = {"id": str(row["id"]), "slug": row["slug"], "name": row["name"]}
    if with_timezone:
        body["timezone"] = row["timezone"]
    return body


# --- public: sign in, set a password -------------------------------------------------------------


@routes.post("/api/v1/staff/sessions")
async def sign_in(request: web.Request) -> web.Response:
    body = await read_json(request, StaffSignInIn)
    signed_in = await accounts_service.sign_in(context.pool(request), body.email.strip(), body.password)
    account = signed_in.account
    return web.json_response(
        {
            "token": signed_in.token,
            "expires_at": signed_in.expires_at.isoformat(),
            "staff": _staff_json(account),
            "clinic": {"id": str(account["clinic_id"]), "slug": account["slug"], "name": account["clinic_name"]},
        },
        status=201,
        headers=NO_STORE,
    )


@routes.post("/api/v1/staff/password")
async def set_password(request: web.Request) -> web.Response:
    body = await read_json(request, SetPasswordIn)
    account, clinic = await accounts_service.set_password(
        context.pool(request), body.token, body.password, context.now()
    )
    return web.json_response({"staff": _staff_json(account), "clinic": _clinic_json(clinic)}, headers=NO_STORE)


# --- any role: who am I, sign out ----------------------------------------------------------------


@routes.get("/api/v1/clinic/me")
async def me(request: web.Request) -> web.Response:
    clinic_id = clinic_scope(request)
    pool = context.pool(request)
    account = await accounts_service.caller(pool, clinic_id, _session_id(request))
    clinic = await accounts_service.clinic_summary(pool, clinic_id)
    return web.json_response(
        {
            "staff": _staff_json(account) if account else None,
            "role": account["role"] if account else clinic_role(request),
            "clinic": _clinic_json(clinic, with_timezone=True),
        },
        headers=NO_STORE,
    )


@routes.delete("/api/v1/clinic/session")
async def sign_out(request: web.Request) -> web.Response:
    clinic_id = clinic_scope(request)
    await accounts_service.sign_out(context.pool(request), clinic_id, _session_id(request))
    return web.Response(status=204)


# --- the owner's: staff --------------------------------------------------------------------------


def _staff_id(request: web.Request) -> uuid.UUID:
    return context.path_id(request, "staff_not_found", "No such staff account in this clinic")


@routes.get("/api/v1/clinic/staff")
async def list_staff(request: web.Request) -> web.Response:
    rows = await accounts_service.members(context.pool(request), owner_scope(request))
    return web.json_response({"staff": [_member_json(r) for r in rows]}, headers=NO_STORE)


@routes.post("/api/v1/clinic/staff")
async def invite_staff(request: web.Request) -> web.Response:
    clinic_id = owner_scope(request)
    body = await read_json(request, StaffInviteIn)
    row = await accounts_service.invite(
        context.pool(request),
        clinic_id,
        body.email.strip(),
        body.name.strip(),
        body.role,
        request.app[SETTINGS].public_url,
        context.now(),
    )
    return web.json_response(_member_json(row), status=201, headers=NO_STORE)


@routes.delete("/api/v1/clinic/staff/{id}")
async def remove_staff(request: web.Request) -> web.Response:
    clinic_id = owner_scope(request)
    staff_id = _staff_id(request)
    await accounts_service.remove(context.pool(request), clinic_id, staff_id, _session_id(request), context.now())
    return web.Response(status=204)


# --- the gateway's key check, for a session token --------------------------------------------------


async def session_check(pool: asyncpg.Pool, token: str) -> dict:
    """What /internal/v1/api-keys/verify answers for a `cst_…` token: the clinic, the role, the session (as
    `key_id`, so the gateway forgets it like a key) and its account; 401 if it no longer works."""
    row = await accounts_service.session_owner(pool, token)
    return {
        "clinic_id": str(row["clinic_id"]),
        "clinic": row["slug"],
        "key_id": str(row["session_id"]),
        "expires_at": row["expires_at"].isoformat(),
        "role": row["role"],
        "staff_id": str(row["staff_id"]),
    }
