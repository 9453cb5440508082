"""HTTP handlers of the notifications service."""
from __future__ import annotations

import asyncio
from pathlib import Path

import jinja2
from aiohttp import web

from services.notifications.mailbox import read_messages
from shared.keys import SETTINGS

dev_routes = web.RouteTableDef()
_pages = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                            autoescape=True)


@dev_routes.get("/dev/mailbox")
async def mailbox_page(request: web.Request) -> web.Response:
    messages = await asyncio.to_thread(read_messages, request.app[SETTINGS].mailbox_dir)
    html = _pages.get_template("dev_mailbox.html").render(messages=messages)
    return web.Response(text=html, content_type="text/html")


@dev_routes.get("/dev/mailbox/messages")
async def mailbox_json(request: web.Request) -> web.Response:
    messages = await asyncio.to_thread(read_messages, request.app[SETTINGS].mailbox_dir)
    return web.json_response({"messages": messages})
