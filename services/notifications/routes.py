"""HTTP handlers of the notifications service besides the clinic webhook API (webhooks/routes.py): the internal
data protection API the booking service calls (privacy.py), and the dev mailbox in development
(emails/mailbox.py)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Annotated

from aiohttp import web
from pydantic import Field

from services.notifications import privacy
from services.notifications.emails.mailbox import page, read_messages
from shared.clinic_auth import require_internal
from shared.http_input import read_json
from shared.input import StrictModel
from shared.keys import DB, SETTINGS

log = logging.getLogger(__name__)
internal_routes = web.RouteTableDef()
dev_routes = web.RouteTableDef()


class PrivacyIn(StrictModel):
    """Internal: one customer (by email, any case) of one clinic."""

    clinic_id: uuid.UUID
    email: str = Field(min_length=3, max_length=254)


class ExportIn(PrivacyIn):
    # The vouchers the customer received (from payments' export): their gift emails are exported too.
    gift_voucher_ids: list[uuid.UUID] = Field(default_factory=list, max_length=1000)


class EraseIn(PrivacyIn):
    dry_run: bool = False
    # The names the clinic's records give the person: taken out of other people's emails that hold their address.
    names: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list, max_length=100)


@internal_routes.post("/internal/v1/privacy/export")
async def privacy_export(request: web.Request) -> web.Response:
    """What this service holds about the customer at the clinic: {"records": {kind: [...]}}."""
    require_internal(request)
    body = await read_json(request, ExportIn)
    async with request.app[DB].acquire() as conn:
        records = await privacy.export(conn, body.clinic_id, body.email, body.gift_voucher_ids)
    counts = {kind: len(rows) for kind, rows in records.items()}
    log.info("privacy export", extra={"clinic_id": str(body.clinic_id), "counts": counts})
    return web.json_response({"records": records}, headers={"Cache-Control": "no-store"})


@internal_routes.post("/internal/v1/privacy/erase")
async def privacy_erase(request: web.Request) -> web.Response:
    """Erase the customer at the clinic (or, with dry_run, count what would be): nothing here blocks it."""
    require_internal(request)
    body = await read_json(request, EraseIn)
    async with request.app[DB].acquire() as conn:
        answer = await privacy.erase(conn, body.clinic_id, body.email, dry_run=body.dry_run, names=body.names)
    if not body.dry_run:
        log.info("privacy erasure", extra={"clinic_id": str(body.clinic_id), "erased": answer["erased"]})
    return web.json_response(answer)


@dev_routes.get("/dev/mailbox")
async def mailbox_page(request: web.Request) -> web.Response:
    messages = await asyncio.to_thread(read_messages, request.app[SETTINGS].mailbox_dir)
    return web.Response(text=page(messages), content_type="text/html")


@dev_routes.get("/dev/mailbox/messages")
async def mailbox_json(request: web.Request) -> web.Response:
    messages = await asyncio.to_thread(read_messages, request.app[SETTINGS].mailbox_dir)
    return web.json_response({"messages": messages})
