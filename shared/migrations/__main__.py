"""`python -m shared.migrations services/booking services/payments ...`: create the database if needed and
migrate each service named by its folder (its schema is the folder's name; its files are in `migrations/`)."""

import asyncio
import logging
import sys
from pathlib import Path

import asyncpg

from shared.config import load_settings
from shared.logs import setup_logging
from shared.migrations import apply_migrations, ensure_database

log = logging.getLogger("migrations")


async def main(services: list[Path]) -> None:
    settings = load_settings()
    setup_logging("migrations", settings.log_level)
    if await ensure_database(settings.database_url):
        log.info("database created")
    conn = await asyncpg.connect(settings.database_url)
    try:
        for service in services:
            applied = await apply_migrations(conn, service.name, service / "migrations")
            log.info("schema up to date", extra={"schema": service.name, "applied": applied})
    finally:
        await conn.close()


if __name__ == "__main__":
    folders = [Path(arg) for arg in sys.argv[1:]]
    if not folders or not all((folder / "migrations").is_dir() for folder in folders):
        raise SystemExit("usage: python -m shared.migrations SERVICE_FOLDER... (each with a migrations/ folder)")
    asyncio.run(main(folders))
