"""HTTP handlers of the notifications service in development: the dev mailbox (emails/mailbox.py). The clinic
webhook API's handlers are webhooks/routes.py."""

from __future__ import annotations

import asyncio

from aiohttp import web

from services.notifications.emails.mailbox import page, read_messages
from shared.keys import SETTINGS

dev_routes = web.RouteTableDef()


@dev_routes.get("/dev/mailbox")
async def mailbox_page(request: web.Request) -> web.Response:
    messages = await asyncio.to_thread(read_messages, request.app[SETTINGS].mailbox_dir)
    return web.Response(text=page(messages), content_type="text/html")


@dev_routes.get("/dev/mailbox/messages")
async def mailbox_json(request: web.Request) -> web.Response:
    messages = await asyncio.to_thread(read_messages, request.app[SETTINGS].mailbox_dir)
    return web.json_response({"messages": messages})
