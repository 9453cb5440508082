"""Plain SQL migrations, applied in order per service schema under a PostgreSQL advisory lock.

`shared/migrations/*.sql` (the outbox and inbox every service has) are applied into each schema
first, then the service's own, from the folder the service names (its `MIGRATIONS`: shared knows no
service). Each file runs in one transaction
and is recorded in `<schema>.schema_migrations`, so re-running is a no-op and two replicas starting
at once never race (the second waits for the lock, then finds nothing to do).
"""

from __future__ import annotations

import logging
from pathlib import Path

import asyncpg

from shared.db import Connection

log = logging.getLogger(__name__)

SHARED_DIR = Path(__file__).parent


def migration_files(schema: str, folder: Path) -> list[tuple[str, Path]]:
    """(version, path) pairs in the order they must run, the service's own from `folder`; version names are
    unique per schema."""
    files = [(f"shared/{p.name}", p) for p in sorted(SHARED_DIR.glob("*.sql"))]
    files += [(f"{schema}/{p.name}", p) for p in sorted(folder.glob("*.sql"))]
    return files


async def apply_migrations(conn: Connection, schema: str, folder: Path) -> list[str]:
    """Apply pending migrations of `schema` (the service's own in `folder`); returns the versions applied now."""
    applied_now = []
    lock_key = f"migrations:{schema}"
    await conn.execute("SELECT pg_advisory_lock(hashtext($1))", lock_key)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(f'SET search_path TO "{schema}", public')
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, path in migration_files(schema, folder):
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            log.info("migration applied", extra={"schema": schema, "version": version})
            applied_now.append(version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", lock_key)
    return applied_now


async def pending_migrations(conn: Connection, schema: str, folder: Path) -> list[str]:
    """The versions of `schema` (the service's own in `folder`) not yet applied, in order; reads only."""
    recorded = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f'"{schema}".schema_migrations')
    done = (
        {r["version"] for r in await conn.fetch(f'SELECT version FROM "{schema}".schema_migrations')}
        if recorded
        else set()
    )
    return [version for version, _ in migration_files(schema, folder) if version not in done]


class SchemaBehind(Exception):
    """A production service started on a schema its migrations have not all reached."""


async def ensure_database(database_url: str) -> bool:
    """Create the database named in `database_url` if it does not exist; True if created."""
    base, _, name = database_url.rpartition("/")
    name = name.split("?")[0]
    conn = await asyncpg.connect(f"{base}/postgres", timeout=5)
    try:
        if await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        await conn.execute(f'CREATE DATABASE "{name}"')
        return True
    finally:
        await conn.close()
