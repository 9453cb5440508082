"""Typed aiohttp application keys shared by every service."""
import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from shared.config import Settings

SETTINGS = web.AppKey("settings", Settings)
DB = web.AppKey("db", asyncpg.Pool)
REDIS = web.AppKey("redis", aioredis.Redis)
SERVICE_NAME = web.AppKey("service_name", str)
