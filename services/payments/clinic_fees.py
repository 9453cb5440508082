"""The clinic API of the bookings' no-show and late-cancellation fees (issue 20; owner and staff): what became of
each, charged to the saved card, declined (the customer emailed a pay link), paid from that link, or still being
charged. Scoped to the caller's clinic; the pay link's token is never in it (it is the customer's)."""

from __future__ import annotations

from aiohttp import web

from services.payments import store
from shared.clinic_auth import clinic_scope
from shared.errors import ApiError
from shared.http_input import query_uuid
from shared.keys import DB

routes = web.RouteTableDef()
FEES_PATH = "/api/v1/clinic/fees"
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
# How a fee was paid: off session to the saved card, or by the customer from the emailed link; None while not paid.
VIA = {"charged": "off_session", "paid": "pay_link"}
PRIVATE = {"Cache-Control": "no-store"}


def clinic_fee_json(row) -> dict:
    """A fee as its clinic sees it (no customer email, no Stripe ids, no pay token)."""
    return {
        "id": str(row["id"]),
        "booking_id": str(row["booking_id"]),
        "kind": row["kind"],
        "amount": {"amount": row["amount"], "currency": row["currency"]},
        "status": row["status"],
        "failure": row["failure"],
        "created_at": row["created_at"].isoformat(),
        "via": VIA.get(row["status"]),
    }


def query_limit(request: web.Request) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_LIMIT:
        return int(raw)
    message = f"must be a whole number from 1 to {MAX_LIMIT}"
    raise ApiError(
        422,
        "validation_failed",
        f"`limit` {message}",
        [{"field": "limit", "in": "query", "message": message, "type": "int_range"}],
    )


@routes.get(FEES_PATH)
async def clinic_fees(request: web.Request) -> web.Response:
    """The clinic's fees, newest first: one booking's (`?booking=`), or the most recent (`?limit=`, 50 by default)."""
    clinic_id = clinic_scope(request)
    booking_id = query_uuid(request, "booking")
    limit = query_limit(request)
    async with request.app[DB].acquire() as conn:
        rows = await store.clinic_fees(conn, clinic_id, booking_id, limit)
    return web.json_response({"fees": [clinic_fee_json(r) for r in rows]}, headers=PRIVATE)
