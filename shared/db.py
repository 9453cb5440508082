"""asyncpg pools: one per service, each bound to the service's own schema through search_path."""

from __future__ import annotations

import asyncio
import functools
import json
import random
from typing import Any, Awaitable, Callable, Coroutine, ParamSpec, TypeAlias, TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from shared.config import Settings

# What queries run on: a connection of our own (connect) or one a pool lends (a proxy of a Connection at run
# time, a type of its own to asyncpg's stubs). Code that takes either says so with this.
Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy


def _server_settings(schema: str) -> dict[str, str]:
    # public holds extensions (btree_gist); everything of the service lives in its own schema.
    return {"search_path": f'"{schema}", public', "application_name": f"clinic-{schema}"}


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb in and out as Python objects, everywhere.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Instead of asyncpg's reset query on every release (a round trip on each request's path): our code
    leaves no session state behind (no SET, advisory locks and LISTENs undone where taken), and asyncpg
    still rolls back a transaction left open before the connection is reused."""


async def create_pool(settings: Settings, schema: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        settings.database_url,
        min_size=min_size,
        max_size=max_size,
        command_timeout=settings.db_command_timeout,
        timeout=5,
        init=_init_connection,
        reset=_keep_session,
        server_settings=_server_settings(schema),
    )


async def connect(settings: Settings, schema: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(
        settings.database_url,
        timeout=5,
        command_timeout=settings.db_command_timeout,
        server_settings=_server_settings(schema),
    )
    await _init_connection(conn)
    return conn


# A use case whose transaction lost a deadlock or serialization race runs at most this many times in
# all; then the error middleware answers 503 with Retry-After.
CONFLICT_ATTEMPTS = 3
CONFLICT_BACKOFF_SECONDS = 0.02


_P = ParamSpec("_P")
_T = TypeVar("_T")


def retry_conflicts(use_case: Callable[_P, Awaitable[_T]]) -> Callable[_P, Coroutine[Any, Any, _T]]:
    """Run `use_case` (an async function that opens its own transactions) again after a deadlock or a
    serialization failure, a bounded number of times, with a little jitter so the racers part."""

    @functools.wraps(use_case)
    async def run(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        for attempt in range(1, CONFLICT_ATTEMPTS):
            try:
                return await use_case(*args, **kwargs)
            except asyncpg.exceptions.TransactionRollbackError:
                await asyncio.sleep(random.uniform(0, CONFLICT_BACKOFF_SECONDS * attempt))
        return await use_case(*args, **kwargs)  # the last attempt: its error goes to the caller

    return run
