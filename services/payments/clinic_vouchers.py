"""The clinic API of the clinic's vouchers (owner and staff): one voucher with its ledger, and the monthly
sales and redemption report (services/payments/voucher_report.py), as JSON or CSV."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from aiohttp import web

from services.payments import service, store, voucher_report, voucher_service
from services.payments.catalogue import CATALOGUE
from shared.clinic_auth import clinic_scope
from shared.errors import ApiError
from shared.http_input import query_choice
from shared.keys import DB

routes = web.RouteTableDef()
REPORT_PATH = "/api/v1/clinic/vouchers/report"
VOUCHER_PATH = "/api/v1/clinic/vouchers/{id}"
FORMATS = ("json", "csv")
CSV = "text/csv"
PRIVATE = {"Cache-Control": "no-store"}


def prefers_csv(accept: str) -> bool:
    """Does an Accept header rank text/csv above JSON, the default? Only those two are offered: CSV when named
    with a quality above JSON's (named), or at least a wildcard's."""
    ranks: dict[str, float] = {}
    for media_range in accept.split(","):
        media, *params = (part.strip() for part in media_range.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranks[media.lower()] = quality
    csv_q = ranks.get(CSV, 0.0)
    if csv_q <= 0:
        return False
    if "application/json" in ranks:
        return csv_q > ranks["application/json"]
    return csv_q >= max(ranks.get("application/*", 0.0), ranks.get("*/*", 0.0))


def _now() -> datetime:
    return datetime.now(timezone.utc)


@routes.get(REPORT_PATH)
async def voucher_report_of_month(request: web.Request) -> web.StreamResponse:
    clinic_id = clinic_scope(request)
    chosen = query_choice(request, "format", FORMATS)
    as_csv = chosen == "csv" or (chosen is None and prefers_csv(request.headers.get("Accept", "")))
    raw_month = request.query.get("month")
    month = voucher_report.parse_month(raw_month) if raw_month is not None else None
    if raw_month is not None and month is None:
        message = "must be a month like 2026-07 (2000-01 to 2199-12)"
        raise ApiError(
            422,
            "validation_failed",
            f"`month` {message}",
            [{"field": "month", "in": "query", "message": message, "type": "month_parsing"}],
        )
    # The month is the clinic's wall-clock month, in the zone it has now (the booking service owns it).
    clinic = await request.app[CATALOGUE].clinic_by_id(clinic_id)
    zone = ZoneInfo(clinic.timezone)
    month = month or voucher_report.month_of(_now(), zone)
    start, end = voucher_report.month_window(month, zone)
    async with request.app[DB].acquire() as conn:
        rows = await store.voucher_report_sums(conn, clinic_id, service.CLINIC_CURRENCY, start, end)
    report = voucher_report.build_report(
        month, zone, service.CLINIC_CURRENCY, (voucher_report.LedgerSum(**dict(row)) for row in rows)
    )
    if not as_csv:
        return web.json_response(report, headers=PRIVATE)
    return web.Response(
        text=voucher_report.report_csv(report),
        content_type=CSV,
        charset="utf-8",
        headers={
            **PRIVATE,
            "Content-Disposition": f'attachment; filename="{voucher_report.csv_filename(report)}"',
        },
    )


def _ledger_json(rows) -> list[dict]:
    """Each entry with the balance it left (the ledger's running sum: the balance is never stored alone)."""
    balance, shown = 0, []
    for row in rows:
        balance += row["units"]
        shown.append(
            {
                "id": row["id"],
                "entry": row["entry"],
                "units": row["units"],
                "balance_after": balance,
                "reference_id": str(row["reference_id"]) if row["reference_id"] else None,
                "actor": row["actor"],
                "note": row["note"],
                "at": row["created_at"].isoformat(),
            }
        )
    return shown


@routes.get(VOUCHER_PATH)
async def clinic_voucher(request: web.Request) -> web.Response:
    """One of the clinic's vouchers with its ledger (issue, redeem, release, refund, expire, adjust) and the
    buyer's changes to its delivery; the code only as its last characters."""
    clinic_id = clinic_scope(request)
    try:
        voucher_id = uuid.UUID(request.match_info["id"])
    except ValueError:
        raise ApiError(404, "voucher_not_found", "No such voucher") from None
    async with request.app[DB].acquire() as conn:
        row = await store.clinic_voucher(conn, clinic_id, voucher_id)
        if row is None:
            raise ApiError(404, "voucher_not_found", "No such voucher")
        ledger = await store.voucher_ledger(conn, voucher_id)
        changes = await store.voucher_changes(conn, voucher_id)
    return web.json_response(
        {
            **voucher_service.voucher_json(row),
            "buyer": {"name": row["buyer_name"], "email": row["buyer_email"]},
            "recipient": {"name": row["recipient_name"], "email": row["recipient_email"]},
            "issued_at": row["issued_at"].isoformat() if row["issued_at"] else None,
            "ledger": _ledger_json(ledger),
            "delivery_changes": [
                {
                    "field": c["field"],
                    "from": c["old_value"],
                    "to": c["new_value"],
                    "actor": c["actor"],
                    "at": c["changed_at"].isoformat(),
                }
                for c in changes
            ],
        },
        headers=PRIVATE,
    )
