"""`python -m shared.migrations`: create the database if needed and migrate every service schema."""
import asyncio
import logging

import asyncpg

from shared.config import load_settings
from shared.logs import setup_logging
from shared.migrations import SERVICE_SCHEMAS, apply_migrations, ensure_database

log = logging.getLogger("migrations")


async def main() -> None:
    settings = load_settings()
    setup_logging("migrations", settings.log_level)
    if await ensure_database(settings.database_url):
        log.info("database created")
    conn = await asyncpg.connect(settings.database_url)
    try:
        for schema in SERVICE_SCHEMAS:
            applied = await apply_migrations(conn, schema)
            log.info("schema up to date", extra={"schema": schema, "applied": applied})
    finally:
        await conn.close()


asyncio.run(main())
