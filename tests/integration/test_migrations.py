"""Migrations: applied once, in order, even when two replicas start at the same moment."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from shared.config import Settings
from shared.keys import DB
from shared.migrations import SchemaBehind, apply_migrations, ensure_database, migration_files, pending_migrations
from tests.support.infra import SERVICE_SCHEMAS, database_url, drop_database, unique_name


@pytest.fixture
async def empty_db():
    name = unique_name("clinic_mig")
    assert await ensure_database(database_url(name)) is True
    assert await ensure_database(database_url(name)) is False
    yield database_url(name)
    await drop_database(name)


async def test_two_replicas_migrating_at_once_apply_each_file_once(empty_db):
    a, b = await asyncpg.connect(empty_db), await asyncpg.connect(empty_db)
    try:
        for schema, folder in SERVICE_SCHEMAS.items():
            applied_a, applied_b = await asyncio.gather(
                apply_migrations(a, schema, folder), apply_migrations(b, schema, folder)
            )
            expected = [version for version, _ in migration_files(schema, folder)]
            assert sorted([applied_a, applied_b], key=len) == [[], expected]
            recorded = await a.fetch(f'SELECT version FROM "{schema}".schema_migrations ORDER BY version')
            assert sorted(r["version"] for r in recorded) == sorted(expected)
        assert await apply_migrations(a, "booking", SERVICE_SCHEMAS["booking"]) == []
    finally:
        await a.close()
        await b.close()


async def test_each_schema_has_its_own_outbox_and_inbox(empty_db):
    conn = await asyncpg.connect(empty_db)
    try:
        for schema, folder in SERVICE_SCHEMAS.items():
            await apply_migrations(conn, schema, folder)
        rows = await conn.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_name IN ('outbox', 'inbox')"
        )
        assert {(r["table_schema"], r["table_name"]) for r in rows} == {
            (s, t) for s in SERVICE_SCHEMAS for t in ("outbox", "inbox")
        }
    finally:
        await conn.close()


async def test_email_bodies_are_compressed_with_lz4_where_the_server_has_it(notifications_pool):
    async with notifications_pool.acquire() as conn:
        try:
            await conn.execute("SET default_toast_compression = lz4")
        except asyncpg.PostgresError:
            pytest.skip("this PostgreSQL was built without lz4; the migration keeps the default")
        await conn.execute("RESET default_toast_compression")
        methods = {
            r["attname"]: r["attcompression"]
            for r in await conn.fetch(
                "SELECT attname, attcompression::text AS attcompression FROM pg_attribute WHERE attrelid = 'emails'::regclass "
                "AND attname = ANY($1::text[])",
                ["text_body", "html_body", "attachments"],
            )
        }
    assert methods == {"text_body": "l", "html_body": "l", "attachments": "l"}


@pytest.mark.parametrize(
    "schema, table",
    [
        ("booking", "treatments"),
        ("booking", "courses"),
        ("booking", "bookings"),
        ("payments", "payments"),
        ("payments", "vouchers"),
    ],
)
async def test_currencies_are_three_capital_letters_kept_as_written(booking_pool, payments_pool, schema, table):
    # text with a rule, not char(3): what is read back is what was written (no padding to strip), and a value
    # that is not an ISO 4217 code is refused by the database whatever the code above it checked.
    pool = booking_pool if schema == "booking" else payments_pool
    async with pool.acquire() as conn:
        column = await conn.fetchrow(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 "
            "AND column_name = 'currency'",
            schema,
            table,
        )
        assert column["data_type"] == "text"
        checks = [
            await conn.fetchval(
                "SELECT $1::text ~ (regexp_match(pg_get_constraintdef(oid), "
                "'''([^'']+)''')) [1] FROM pg_constraint WHERE conname = $2",
                value,
                f"{table}_currency_iso",
            )
            for value in ("GBP", "gbp", "GB", "GBPX", "GB ")
        ]
    assert checks == [True, False, False, False, False]


async def test_a_currency_the_rule_refuses_is_not_written(booking_pool):
    async with booking_pool.acquire() as conn:
        assert {r["currency"] for r in await conn.fetch("SELECT currency FROM treatments")} == {"GBP"}
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("UPDATE treatments SET currency = 'gbp'")


async def test_in_production_a_service_refuses_a_schema_its_migrations_have_not_reached(empty_db, aiohttp_server):
    # The migrations Job runs before a rollout (deploy/); a service started on an older schema must stop, not
    # run its queries against tables that are not there yet (nor migrate while other versions still serve).
    from services.payments import MIGRATIONS
    from shared.web import create_base_app

    production = Settings(env="production", database_url=empty_db)
    with pytest.raises(SchemaBehind, match="schema payments lacks migrations shared/0001_outbox_inbox.sql"):
        await aiohttp_server(
            create_base_app(production, "payments", schema="payments", migrations=MIGRATIONS, with_redis=False)
        )
    conn = await asyncpg.connect(empty_db)
    try:
        await apply_migrations(conn, "payments", MIGRATIONS)
    finally:
        await conn.close()
    started = await aiohttp_server(
        create_base_app(production, "payments", schema="payments", migrations=MIGRATIONS, with_redis=False)
    )
    assert started.app[DB] is not None


async def test_in_development_a_service_migrates_its_schema_at_start(empty_db, aiohttp_server):
    from services.payments import MIGRATIONS
    from shared.web import create_base_app

    await aiohttp_server(
        create_base_app(
            Settings(database_url=empty_db), "payments", schema="payments", migrations=MIGRATIONS, with_redis=False
        )
    )
    conn = await asyncpg.connect(empty_db)
    try:
        assert await pending_migrations(conn, "payments", MIGRATIONS) == []
    finally:
        await conn.close()
