"""Use cases of staff accounts: sign in and out, who is calling, the owner's staff list, invitations (with their
email, through the outbox), removal, and setting a password from a one-time link. Like the API keys' use cases
(service.py), each runs in a transaction of its own on a pool connection; an invitation's event is written in
the transaction that makes the account, so the email goes if and only if the account exists."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.booking import accounts, accounts_store, staff, store
from services.booking.domain import BookingError
from shared.errors import ApiError
from shared.outbox import add_event


def _member(row: asyncpg.Record) -> accounts.Member:
    return accounts.Member(row["id"], row["role"], row["has_password"])


def _staff_not_found() -> BookingError:
    return BookingError(404, "staff_not_found", "No such staff account in this clinic")


# --- signing in and out --------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    token: str  # the only time it is ever available
    expires_at: datetime
    account: asyncpg.Record  # the member's columns, and the clinic's slug and clinic_name


async def _take_attempt(conn: asyncpg.Connection, email: str) -> None:
    interval = accounts.SIGN_IN_WINDOW / accounts.SIGN_IN_ATTEMPTS
    allowed, tat, now = await accounts_store.take_sign_in_attempt(
        conn, accounts.account_fingerprint(email), interval, accounts.SIGN_IN_WINDOW
    )
    if not allowed:
        retry = accounts.retry_after_seconds(tat, now) if tat else int(interval.total_seconds())
        raise ApiError(
            429,
            "rate_limited",
            "Too many sign-in attempts for this account; please wait a few minutes",
            headers={"Retry-After": str(retry)},
        )


async def sign_in(pool: asyncpg.Pool, email: str, password: str) -> SignedIn:
    """A new session for the account whose email and password these are; 401 alike for a wrong password, an
    unknown email, an account not yet activated and a removed one; 429 past the per-account limit."""
    async with pool.acquire() as conn:
        await _take_attempt(conn, email)
        row = await accounts_store.account_for_sign_in(conn, email)
        stored = row["password_hash"] if row is not None else None
        # The same scrypt work whether or not the account exists (no timing hint), off the event loop.
        ok = await asyncio.to_thread(staff.verify_password, password, stored or staff.dummy_hash())
        if row is None or stored is None or not ok:
            raise BookingError(401, "invalid_credentials", "That email and password do not match an account")
        token = accounts.new_session_token()
        async with conn.transaction():
            session = await accounts_store.insert_session(
                conn, row["id"], row["clinic_id"], accounts.digest(token), accounts.SESSION_LIFETIME
            )
            await store.stamp_sign_in(conn, row["id"])
    return SignedIn(token, session["expires_at"], row)


async def session_owner(pool: asyncpg.Pool, token: str) -> asyncpg.Record:
    """Whose live session this token is (for the gateway's key check); 401 for anything else."""
    async with pool.acquire() as conn:
        row = await accounts_store.session_by_token(conn, accounts.digest(token))
    if row is None:
        raise BookingError(401, "invalid_session", "This sign-in has ended; please sign in again")
    return row


async def caller(pool: asyncpg.Pool, clinic_id: uuid.UUID, session_id: uuid.UUID | None) -> asyncpg.Record | None:
    """The account behind a request: None for an API key; 401 for a session that has ended meanwhile (the
    gateway may have its answer cached for a few seconds more)."""
    if session_id is None:
        return None
    async with pool.acquire() as conn:
        row = await accounts_store.session_member(conn, clinic_id, session_id)
    if row is None:
        raise BookingError(401, "invalid_session", "This sign-in has ended; please sign in again")
    return row


async def clinic_summary(pool: asyncpg.Pool, clinic_id: uuid.UUID) -> asyncpg.Record:
    async with pool.acquire() as conn:
        return await accounts_store.clinic_summary(conn, clinic_id)


async def sign_out(pool: asyncpg.Pool, clinic_id: uuid.UUID, session_id: uuid.UUID | None) -> None:
    if session_id is None:
        raise BookingError(
            409,
            "not_a_session",
            "This request was made with an API key, not a staff sign-in; revoke keys at /api/v1/clinic/api-keys",
        )
    async with pool.acquire() as conn:
        await accounts_store.revoke_session(conn, clinic_id, session_id)


# --- the clinic's staff --------------------------------------------------------------------------


async def members(pool: asyncpg.Pool, clinic_id: uuid.UUID) -> list[asyncpg.Record]:
    async with pool.acquire() as conn:
        return await accounts_store.members(conn, clinic_id)


async def send_invitation(
    conn: asyncpg.Connection,
    clinic_id: uuid.UUID,
    staff_id: uuid.UUID,
    *,
    name: str,
    email: str,
    role: str,
    public_url: str,
    now: datetime,
    new_clinic: bool = False,
) -> None:
    """A one-time link for the account, and the `staff.invited` event that emails it (in the caller's
    transaction). The link's token is in the event only: never returned, never logged."""
    token = accounts.new_link_token()
    expires_at = now + accounts.LINK_LIFETIME
    await accounts_store.close_links_of(conn, staff_id, now)
    await accounts_store.insert_link(conn, staff_id, accounts.digest(token), expires_at)
    event = accounts.invited_event(
        staff_id=staff_id,
        clinic=await accounts_store.clinic_ref(conn, clinic_id),
        name=name,
        email=email,
        role=role,
        url=accounts.set_password_url(public_url, token),
        expires_at=expires_at,
        new_clinic=new_clinic,
    )
    await add_event(conn, event)


def _email_taken() -> BookingError:
    return BookingError(409, "email_taken", "This email already has an account; each person signs in to one clinic")


async def invite(
    pool: asyncpg.Pool, clinic_id: uuid.UUID, email: str, name: str, role: str, public_url: str, now: datetime
) -> asyncpg.Record:
    """An account without a password, and an email with a link to set one. Inviting again someone of this
    clinic who never set a password, or who was removed, sends a new link (earlier ones stop); any other
    account with the email, of any clinic, is a 409."""
    async with pool.acquire() as conn, conn.transaction():
        owners = await accounts_store.lock_owners(conn, clinic_id)
        existing = await accounts_store.account_by_email(conn, email)
        if existing is None:
            staff_id = await accounts_store.insert_account(conn, clinic_id, email, name, role)
            if staff_id is None:  # made meanwhile by another request
                raise _email_taken()
        else:
            reusable = existing["disabled_at"] is not None or not existing["has_password"]
            if existing["clinic_id"] != clinic_id or not reusable:
                raise _email_taken()
            staff_id = existing["id"]
            if existing["disabled_at"] is None:
                others = sum(1 for o in owners if o["id"] != staff_id and o["has_password"])
                accounts.refuse_demotion(_member(existing), role, others)
            await accounts_store.invite_again(conn, staff_id, name, role)
        await send_invitation(
            conn, clinic_id, staff_id, name=name, email=email, role=role, public_url=public_url, now=now
        )
        return await accounts_store.member(conn, clinic_id, staff_id)


async def remove(
    pool: asyncpg.Pool, clinic_id: uuid.UUID, staff_id: uuid.UUID, session_id: uuid.UUID | None, now: datetime
) -> None:
    """Disables the account, ends its sessions and its links. Not one's own account, not the last owner."""
    async with pool.acquire() as conn, conn.transaction():
        owners = await accounts_store.lock_owners(conn, clinic_id)
        target = await accounts_store.member(conn, clinic_id, staff_id, for_update=True)
        if target is None:
            raise _staff_not_found()
        me = await accounts_store.session_member(conn, clinic_id, session_id) if session_id else None
        others = sum(1 for o in owners if o["id"] != staff_id and o["has_password"])
        accounts.refuse_removal(_member(target), me["id"] if me else None, others)
        await accounts_store.disable(conn, staff_id, now)
        await accounts_store.revoke_sessions_of(conn, staff_id)
        await accounts_store.close_links_of(conn, staff_id, now)


# --- setting a password --------------------------------------------------------------------------


async def set_password(
    pool: asyncpg.Pool, token: str, password: str, now: datetime
) -> tuple[asyncpg.Record, asyncpg.Record]:
    """Sets the password of the link's account, once; signs nobody in. 404 for a link nobody made, 410 for one
    used or expired. The link is checked before the (slow) hashing, and again, locked, before it is used.
    Returns the account and its clinic."""
    token_hash = accounts.digest(token)
    async with pool.acquire() as conn:
        found = await accounts_store.link(conn, token_hash)
    if found is None:
        raise accounts.link_not_found()
    accounts.check_link(found["expires_at"], found["used_at"], now)
    password_hash = await asyncio.to_thread(staff.hash_password, password)
    async with pool.acquire() as conn, conn.transaction():
        found = await accounts_store.link(conn, token_hash, for_update=True)
        if found is None:
            raise accounts.link_not_found()
        accounts.check_link(found["expires_at"], found["used_at"], now)
        await accounts_store.set_password(conn, found["id"], password_hash)
        await accounts_store.use_link(conn, found["link_id"], now)
        await accounts_store.close_links_of(conn, found["id"], now)
        await accounts_store.revoke_sessions_of(conn, found["id"])  # a new password ends any earlier sign-in
        clinic = await accounts_store.clinic_summary(conn, found["clinic_id"])
        account = await accounts_store.member(conn, found["clinic_id"], found["id"])
    return account, clinic
