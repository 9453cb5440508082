"""Typed aiohttp application keys shared by every service."""

from typing import Awaitable, Callable

import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from shared.config import Settings

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", asyncpg.Pool)
REDIS = web.AppKey("redis", aioredis.Redis)
SERVICE_NAME = web.AppKey("service_name", str)
# What a service can serve without, but its readiness should name (e.g. the gateway's Redis): name -> check.
SOFT_DEPENDENCIES = web.AppKey("soft_dependencies", dict[str, Callable[[], Awaitable[object]]])
