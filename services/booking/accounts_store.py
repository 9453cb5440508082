"""The SQL of staff accounts (migration 0009): accounts, sign-in sessions, set-password links, the per-account
sign-in limit, and a new clinic's row. Every query of a clinic's staff names the clinic."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import asyncpg

from shared import contracts

MEMBER_COLUMNS = "s.id, s.clinic_id, s.name, s.email, s.role, s.password_hash IS NOT NULL AS has_password, " + (
    "s.created_at, s.last_sign_in_at"
)


# --- the per-account sign-in limit ----------------------------------------------------------------

# A token bucket as shared/ratelimit.py's (GCRA): each attempt moves the subject's theoretical arrival time
# (tat) on by window/limit, and is allowed while that stays within the window of now. A refused attempt changes
# nothing (the update's WHERE fails); the main query reads the tat as it was before the statement.
TAKE_ATTEMPT = """
WITH taken AS (
    INSERT INTO staff_sign_in_limits AS l (subject, tat) VALUES ($1, clock_timestamp() + $2::interval)
    ON CONFLICT (subject) DO UPDATE SET tat = greatest(l.tat, clock_timestamp()) + $2::interval
        WHERE greatest(l.tat, clock_timestamp()) + $2::interval - $3::interval <= clock_timestamp()
    RETURNING tat
)
SELECT EXISTS (SELECT 1 FROM taken) AS allowed,
       (SELECT tat FROM staff_sign_in_limits WHERE subject = $1) AS tat,
       clock_timestamp() AS now
"""
# Rows whose tat has passed mean "no recent attempts", as no row does: a few go with every attempt.
PRUNE_ATTEMPTS = """
DELETE FROM staff_sign_in_limits WHERE subject IN (
    SELECT subject FROM staff_sign_in_limits WHERE tat < clock_timestamp() AND subject <> $1 LIMIT 20)
"""


async def take_sign_in_attempt(
    conn: asyncpg.Connection, subject: bytes, interval: timedelta, window: timedelta
) -> tuple[bool, datetime, datetime]:
    """(allowed, the bucket's tat, the database's now)."""
    await conn.execute(PRUNE_ATTEMPTS, subject)
    row = await conn.fetchrow(TAKE_ATTEMPT, subject, interval, window)
    return row["allowed"], row["tat"], row["now"]


# --- accounts ------------------------------------------------------------------------------------


async def account_for_sign_in(conn: asyncpg.Connection, email: str) -> asyncpg.Record | None:
    """A working account (invited or active) with its clinic."""
    return await conn.fetchrow(
        f"""SELECT {MEMBER_COLUMNS}, s.password_hash, c.slug, c.name AS clinic_name
            FROM clinic_staff s JOIN clinics c ON c.id = s.clinic_id
            WHERE lower(s.email) = lower($1) AND s.disabled_at IS NULL""",
        email,
    )


async def account_by_email(conn: asyncpg.Connection, email: str) -> asyncpg.Record | None:
    """Any account with this email, of any clinic, removed ones too (an email signs in to one clinic), locked."""
    return await conn.fetchrow(
        f"SELECT {MEMBER_COLUMNS}, s.disabled_at FROM clinic_staff s WHERE lower(s.email) = lower($1) FOR UPDATE",
        email,
    )


async def lock_owners(conn: asyncpg.Connection, clinic_id: uuid.UUID) -> list[asyncpg.Record]:
    """The clinic's owners, locked in a fixed order: removals and invitations of one clinic take turns here, so
    two owners removing each other at once cannot leave the clinic with none."""
    return await conn.fetch(
        f"""SELECT {MEMBER_COLUMNS} FROM clinic_staff s
            WHERE s.clinic_id = $1 AND s.role = 'owner' AND s.disabled_at IS NULL ORDER BY s.id FOR UPDATE""",
        clinic_id,
    )


async def member(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, staff_id: uuid.UUID, *, for_update: bool = False
) -> asyncpg.Record | None:
    """A working account of this clinic (None for another clinic's, or a removed one)."""
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(
        f"""SELECT {MEMBER_COLUMNS} FROM clinic_staff s
            WHERE s.clinic_id = $1 AND s.id = $2 AND s.disabled_at IS NULL{lock}""",
        clinic_id,
        staff_id,
    )


async def members(conn: asyncpg.Connection, clinic_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {MEMBER_COLUMNS} FROM clinic_staff s
            WHERE s.clinic_id = $1 AND s.disabled_at IS NULL ORDER BY s.created_at, s.id""",
        clinic_id,
    )


async def insert_account(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, email: str, name: str, role: str
) -> uuid.UUID | None:
    """An account without a password; None if the email already has one (of any clinic)."""
    return await conn.fetchval(
        """INSERT INTO clinic_staff (id, clinic_id, email, name, role, password_hash) VALUES ($1, $2, $3, $4, $5, NULL)
           ON CONFLICT (lower(email)) DO NOTHING RETURNING id""",
        uuid.uuid4(),
        clinic_id,
        email,
        name,
        role,
    )


async def invite_again(conn: asyncpg.Connection, staff_id: uuid.UUID, name: str, role: str) -> None:
    """A removed or never-activated account of the clinic, as a new invitation: no password, working again."""
    await conn.execute(
        "UPDATE clinic_staff SET name = $2, role = $3, password_hash = NULL, disabled_at = NULL WHERE id = $1",
        staff_id,
        name,
        role,
    )


async def disable(conn: asyncpg.Connection, staff_id: uuid.UUID, now: datetime) -> None:
    await conn.execute("UPDATE clinic_staff SET disabled_at = $2 WHERE id = $1", staff_id, now)


async def set_password(conn: asyncpg.Connection, staff_id: uuid.UUID, password_hash: str) -> None:
    await conn.execute("UPDATE clinic_staff SET password_hash = $2 WHERE id = $1", staff_id, password_hash)


# --- sessions ------------------------------------------------------------------------------------

# A session works until it expires or is revoked, and while its account does.
LIVE_SESSION = "ss.revoked_at IS NULL AND ss.expires_at > now() AND s.disabled_at IS NULL"


async def insert_session(
    conn: asyncpg.Connection, staff_id: uuid.UUID, clinic_id: uuid.UUID, token_hash: bytes, lifetime: timedelta
) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO staff_sessions (id, token_hash, staff_id, clinic_id, expires_at)
           VALUES ($1, $2, $3, $4, now() + $5::interval) RETURNING id, expires_at""",
        uuid.uuid4(),
        token_hash,
        staff_id,
        clinic_id,
        lifetime,
    )


async def session_by_token(conn: asyncpg.Connection, token_hash: bytes) -> asyncpg.Record | None:
    """A live session's id, expiry, account and clinic (what the gateway's key check answers)."""
    return await conn.fetchrow(
        f"""SELECT ss.id AS session_id, ss.expires_at, s.id AS staff_id, s.role, c.id AS clinic_id, c.slug
            FROM staff_sessions ss JOIN clinic_staff s ON s.id = ss.staff_id JOIN clinics c ON c.id = ss.clinic_id
            WHERE ss.token_hash = $1 AND {LIVE_SESSION}""",
        token_hash,
    )


async def session_member(
    conn: asyncpg.Connection, clinic_id: uuid.UUID, session_id: uuid.UUID
) -> asyncpg.Record | None:
    """The account of a live session of this clinic."""
    return await conn.fetchrow(
        f"""SELECT {MEMBER_COLUMNS} FROM staff_sessions ss JOIN clinic_staff s ON s.id = ss.staff_id
            WHERE ss.id = $2 AND ss.clinic_id = $1 AND {LIVE_SESSION}""",
        clinic_id,
        session_id,
    )


async def revoke_session(conn: asyncpg.Connection, clinic_id: uuid.UUID, session_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE staff_sessions SET revoked_at = coalesce(revoked_at, now()) WHERE clinic_id = $1 AND id = $2",
        clinic_id,
        session_id,
    )


async def revoke_sessions_of(conn: asyncpg.Connection, staff_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE staff_sessions SET revoked_at = now() WHERE staff_id = $1 AND revoked_at IS NULL", staff_id
    )


# --- set-password links --------------------------------------------------------------------------


async def insert_link(conn: asyncpg.Connection, staff_id: uuid.UUID, token_hash: bytes, expires_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO staff_password_links (id, token_hash, staff_id, expires_at) VALUES ($1, $2, $3, $4)",
        uuid.uuid4(),
        token_hash,
        staff_id,
        expires_at,
    )


async def link(conn: asyncpg.Connection, token_hash: bytes, *, for_update: bool = False) -> asyncpg.Record | None:
    """A link of a working account, with the account."""
    lock = " FOR UPDATE OF l, s" if for_update else ""
    return await conn.fetchrow(
        f"""SELECT l.id AS link_id, l.expires_at, l.used_at, {MEMBER_COLUMNS}
            FROM staff_password_links l JOIN clinic_staff s ON s.id = l.staff_id
            WHERE l.token_hash = $1 AND s.disabled_at IS NULL{lock}""",
        token_hash,
    )


async def use_link(conn: asyncpg.Connection, link_id: uuid.UUID, now: datetime) -> None:
    await conn.execute("UPDATE staff_password_links SET used_at = $2 WHERE id = $1", link_id, now)


async def close_links_of(conn: asyncpg.Connection, staff_id: uuid.UUID, now: datetime) -> None:
    """The account's unused links stop (a newer one replaces them, or the account is gone): they then answer
    `link_expired`, as an old link would."""
    await conn.execute(
        """UPDATE staff_password_links SET expires_at = least(expires_at, $2)
           WHERE staff_id = $1 AND used_at IS NULL""",
        staff_id,
        now,
    )


# --- clinics -------------------------------------------------------------------------------------


async def clinic_ref(conn: asyncpg.Connection, clinic_id: uuid.UUID) -> contracts.ClinicRef:
    row = await conn.fetchrow("SELECT id, slug, name, timezone FROM clinics WHERE id = $1", clinic_id)
    return contracts.ClinicRef(id=str(row["id"]), slug=row["slug"], name=row["name"], timezone=row["timezone"])


async def clinic_summary(conn: asyncpg.Connection, clinic_id: uuid.UUID) -> asyncpg.Record:
    return await conn.fetchrow("SELECT id, slug, name, timezone FROM clinics WHERE id = $1", clinic_id)


async def insert_clinic(
    conn: asyncpg.Connection, slug: str, name: str, timezone: str, address: str, email: str
) -> uuid.UUID | None:
    """A new clinic with the default policies; None if the slug is taken."""
    return await conn.fetchval(
        """INSERT INTO clinics (id, slug, name, timezone, address, email) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (slug) DO NOTHING RETURNING id""",
        uuid.uuid4(),
        slug,
        name,
        timezone,
        address,
        email,
    )
