"""The dashboard's Vouchers area (owner and staff): the clinic's vouchers with their status, balance and expiry;
one voucher with its ledger, and a form to reactivate it once it has expired; the monthly sales and redemption
report by VAT class as a table, a chart drawn on the server (an SVG without script or inline style) and a CSV
download passed on from the API as it sent it.

Every figure comes from the payments service's clinic API through the gateway (GET /api/v1/clinic/vouchers,
…/vouchers/{id}, POST …/vouchers/{id}/reactivate, GET …/vouchers/report); this module only asks and shapes
(voucher_views.py). Codes are never shown: the API gives their last characters only."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime, timezone
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from services.web import formatting
from services.web.api import TIMEOUT, ApiRefused, ApiUnavailable, json_of
from services.web.dashboard import voucher_views as views
from services.web.dashboard.api import ClinicApi, SessionExpired
from services.web.dashboard.pages import clinic_api, redirect, render, session_form, signed_in
from services.web.dashboard.session import Session, zone_or_utc
from shared.clinic_time import zone_name
from shared.logs import request_id_var
from shared.web import REQUEST_ID_HEADER

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

LIST = "/clinic/vouchers"
REPORT = "/clinic/vouchers/report"
REPORT_CSV = "/clinic/vouchers/report.csv"
API_LIST = "/api/v1/clinic/vouchers"
API_REPORT = "/api/v1/clinic/vouchers/report"
# A voucher's page: only a uuid is one (anything else under /clinic/vouchers/ is the dashboard's 404 page).
UUID_PATTERN = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
REASON_MIN, REASON_MAX = 3, 500  # the API's limits (services/payments/routes.py ReactivateIn)
DONE_NOTES = {"reactivated": "Voucher reactivated. Its balance is back and it can be used until the new expiry date."}
ERASED = "Erased at their request"
MONTH_MESSAGE = "Enter a month as the year and month, like 2026-07"


def _when(text: str | None, zone: ZoneInfo, missing: str) -> str:
    return formatting.when(datetime.fromisoformat(text), zone) if text else missing


def _voucher_id(request: web.Request) -> uuid.UUID:
    return uuid.UUID(request.match_info["voucher_id"])  # the route's pattern lets only a uuid through


# --- the list -------------------------------------------------------------------------------------------


def _list_row(voucher: dict, zone: ZoneInfo) -> dict:
    return {
        "id": voucher["id"],
        "title": voucher["title"],
        "code_hint": voucher.get("code_hint"),
        "kind": views.KINDS.get(voucher["kind"], voucher["kind"]),
        "status": views.status_words(voucher["status"]),
        "remaining": views.remaining_words(voucher["remaining"]),
        "expires": _when(voucher.get("expires_at"), zone, "Not issued yet"),
        # Names are gone once the person was erased (docs/privacy.md).
        "recipient": voucher["recipient"]["name"] or ERASED,
        "buyer": voucher["buyer"]["name"] or ERASED,
    }


def _list_link(status: str | None, number: int = 1) -> str:
    query = {**({"status": status} if status else {}), **({"page": str(number)} if number > 1 else {})}
    return f"{LIST}?{urlencode(query)}" if query else LIST


@routes.get(LIST)
async def voucher_list(request: web.Request) -> web.Response:
    """The clinic's vouchers, newest first, filtered by status, a page at a time. The API answers the whole list
    and filters nothing: the filter and the pages are this page's."""
    session = await signed_in(request)
    status = request.query.get("status") or None
    number = views.page_number(request.query.get("page"))
    if (status is not None and status not in views.STATUSES) or number is None:
        raise web.HTTPNotFound()
    vouchers = (await clinic_api(request, session).call("GET", API_LIST))["vouchers"]
    shown = views.page_of(views.filtered(vouchers, status), number)
    if shown is None:
        raise web.HTTPNotFound()
    counts = views.counts_by_status(vouchers)
    zone = session.zone
    filters = [("All", None, len(vouchers))] + [
        (label, key, counts[key]) for key, label in views.STATUSES.items() if counts[key] or key == status
    ]
    return render(
        request,
        "dashboard/vouchers.html",
        session=session,
        rows=[_list_row(v, zone) for v in shown.items],
        shown=shown,
        filtered_by=status,
        listed=views.STATUS_LISTS[status] if status else "vouchers",
        filters=[(label, _list_link(key), key == status, count) for label, key, count in filters],
        previous=_list_link(status, shown.number - 1) if shown.number > 1 else None,
        following=_list_link(status, shown.number + 1) if shown.number < shown.pages else None,
        zone=zone_name(zone),
    )


# --- one voucher, its ledger, and reactivation ---------------------------------------------------------------


def _voucher_view(voucher: dict, zone: ZoneInfo) -> dict:
    remaining = voucher["remaining"]
    return {
        "id": voucher["id"],
        "title": voucher["title"],
        "code_hint": voucher.get("code_hint"),
        "kind": views.KINDS.get(voucher["kind"], voucher["kind"]),
        "vat_class": views.VAT_CLASSES.get(voucher.get("vat_class") or "", "Not known yet"),
        "status": views.status_words(voucher["status"]),
        "expired": voucher["status"] == "expired",
        "remaining": views.remaining_words(remaining),
        "price": formatting.money(voucher["price"]["amount"], voucher["price"]["currency"]),
        "expires": _when(voucher.get("expires_at"), zone, "Not issued yet"),
        "issued": _when(voucher.get("issued_at"), zone, "Not issued yet"),
        "deliver_on": formatting.day_label(datetime.fromisoformat(voucher["deliver_on"]).date()),
        "buyer": voucher["buyer"],
        "recipient": voucher["recipient"],
        "ledger": [
            {
                "when": formatting.when(datetime.fromisoformat(entry["at"]), zone),
                "what": views.entry_words(entry["entry"]),
                "note": views.note_words(entry["entry"], entry.get("note") or ""),
                "change": views.change_words(entry["units"], remaining),
                "balance": views.balance_words(entry["balance_after"], remaining),
            }
            for entry in voucher.get("ledger", [])
        ],
        "changes": [
            {
                "when": formatting.when(datetime.fromisoformat(change["at"]), zone),
                "what": "Recipient's email" if change.get("field") == "recipient_email" else "Delivery day",
                "from": change.get("from"),
                "to": change.get("to"),
            }
            for change in voucher.get("delivery_changes", [])
        ],
    }


async def _voucher_page(
    request: web.Request,
    session: Session,
    voucher_id: uuid.UUID,
    *,
    values: dict | None = None,
    errors: dict | None = None,
    problem: str | None = None,
    status: int = 200,
) -> web.Response:
    voucher = await clinic_api(request, session).call("GET", f"{API_LIST}/{voucher_id}")
    return render(
        request,
        "dashboard/vouchers_voucher.html",
        session=session,
        status=status,
        voucher=_voucher_view(voucher, session.zone),
        values=values or {},
        errors=errors or {},
        problem=problem,
        done=DONE_NOTES.get(request.query.get("done", "")),
        reason_max=REASON_MAX,
    )


@routes.get(REPORT)
async def report_page(request: web.Request) -> web.Response:
    """The month's sales and redemptions by VAT class: a month picker, the table, a chart, the CSV link."""
    session = await signed_in(request)
    typed = request.query.get("month")
    month = views.parse_month(typed) if typed else None
    if typed is not None and month is None:
        return render(
            request,
            "dashboard/vouchers_report.html",
            session=session,
            status=400,
            errors={"month": MONTH_MESSAGE},
            typed=typed,
            report=None,
        )
    params = {"month": views.month_key(month)} if month else None
    report = await clinic_api(request, session).call("GET", API_REPORT, params=params)
    return render(request, "dashboard/vouchers_report.html", session=session, typed=None, **_report_view(report))


def _report_view(report: dict) -> dict:
    month = views.parse_month(report["month"])
    assert month is not None, "the API names the month it reports on"
    zone = zone_or_utc(report["timezone"])
    currency = report["currency"]
    previous = views.previous_month(month)
    following = views.next_month(month, datetime.now(timezone.utc), zone)

    def figures(line: dict) -> list[tuple[str, str, str]]:
        return [(views.COLUMN_LABELS[c], *views.figure_words(c, line[c], currency)) for c in views.COLUMNS]

    return {
        "report": report,
        "month": views.month_key(month),
        "month_words": views.month_words(month),
        "period": f"From 00:00 on {formatting.day_label(datetime.fromisoformat(report['from']).date())} to 00:00 "
        f"on {formatting.day_label(datetime.fromisoformat(report['to']).date())}, {zone_name(zone)}",
        "previous": (views.month_key(previous), views.month_words(previous)) if previous else None,
        "following": (views.month_key(following), views.month_words(following)) if following else None,
        "columns": [views.COLUMN_LABELS[c] for c in views.COLUMNS],
        "rows": [
            {
                "kind": views.KIND_ROWS.get(row["kind"], row["kind"]),
                "vat_class": views.VAT_CLASSES.get(row["vat_class"], row["vat_class"]),
                "figures": figures(row),
            }
            for row in report["rows"]
        ],
        "totals": figures(report["totals"]),
        "chart": views.chart(report),
        "csv": f"{REPORT_CSV}?{urlencode({'month': views.month_key(month)})}",
    }


@routes.get(REPORT_CSV)
async def report_csv(request: web.Request) -> web.Response:
    """The month's report as the API's CSV, passed on as sent (its attachment name included), never cached."""
    session = await signed_in(request)
    typed = request.query.get("month", "")
    month = views.parse_month(typed)
    if month is None:
        raise web.HTTPNotFound()  # the report page's link always names a month
    body, headers = await _csv_answer(clinic_api(request, session), {"month": views.month_key(month), "format": "csv"})
    return web.Response(
        body=body,
        headers={
            "Content-Type": headers.get("Content-Type", "text/csv; charset=utf-8"),
            "Content-Disposition": headers.get(
                "Content-Disposition", f'attachment; filename="vouchers-{views.month_key(month)}.csv"'
            ),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def _csv_answer(capi: ClinicApi, params: dict) -> tuple[bytes, dict[str, str]]:
    """The report's CSV answer, body and headers. ClinicApi.call reads JSON only, and this answer's headers (its
    Content-Disposition) are part of what is passed on; errors are raised as ClinicApi.call raises them."""
    api = capi.api
    headers = {
        REQUEST_ID_HEADER: request_id_var.get() or "",
        "Authorization": f"Bearer {capi.token}",
        "Accept": "text/csv",
    }
    if api.client:
        headers["X-Forwarded-For"] = api.client
    url = f"{capi.gateway_url}{API_REPORT}"
    try:
        async with api.session.get(url, params=params, headers=headers, timeout=TIMEOUT) as resp:
            body = await resp.read()
            kept = {
                name: resp.headers[name] for name in ("Content-Type", "Content-Disposition") if name in resp.headers
            }
            status, retry_after = resp.status, resp.headers.get("Retry-After", "")
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise ApiUnavailable(f"GET {url}: {type(exc).__name__}") from None
    if status == 401:
        raise SessionExpired()
    if 400 <= status < 500:
        try:
            error = (json_of(body, url) or {}).get("error", {})
        except (ApiUnavailable, AttributeError):
            error = {}
        raise ApiRefused(
            status,
            error.get("code", "refused"),
            error.get("message", ""),
            error.get("details"),
            int(retry_after) if retry_after.isdigit() else None,
        )
    if status != 200 or not kept.get("Content-Type", "").startswith("text/csv"):
        raise ApiUnavailable(f"GET {url}: {status} {kept.get('Content-Type', '')}")
    return body, kept


@routes.get(f"{LIST}/{{voucher_id:{UUID_PATTERN}}}")
async def voucher_page(request: web.Request) -> web.Response:
    """One voucher and its ledger; another clinic's (the API: not found) is the dashboard's 404 page."""
    session = await signed_in(request)
    return await _voucher_page(request, session, _voucher_id(request))


@routes.post(f"{LIST}/{{voucher_id:{UUID_PATTERN}}}/reactivate")
async def reactivate(request: web.Request) -> web.Response:
    """Bring an expired voucher back, with the reason (the API records it in the ledger's entry)."""
    session = await signed_in(request)
    form = await session_form(request, session)
    voucher_id = _voucher_id(request)
    reason = str(form.get("reason", "")).strip()
    values = {"reason": reason}
    error = None
    if not reason:
        error = "Enter why you are reactivating this voucher"
    elif len(reason) < REASON_MIN:
        error = f"The reason must be at least {REASON_MIN} characters"
    elif len(reason) > REASON_MAX:
        error = f"The reason must be {REASON_MAX} characters or fewer"
    if error:
        return await _voucher_page(request, session, voucher_id, values=values, errors={"reason": error}, status=400)
    try:
        await clinic_api(request, session).call("POST", f"{API_LIST}/{voucher_id}/reactivate", json={"reason": reason})
    except ApiRefused as exc:
        if exc.status == 422:
            message = _reason_problem(exc)
            return await _voucher_page(
                request, session, voucher_id, values=values, errors={"reason": message}, status=400
            )
        if exc.status == 409:  # not expired (any more): e.g. reactivated a moment ago, in another tab
            return await _voucher_page(
                request, session, voucher_id, problem=exc.message or "This voucher has not expired.", status=409
            )
        raise  # 404: another clinic's, or none; the dashboard's 404 page
    log.info("dashboard: voucher reactivated", extra={"clinic": session.clinic_slug, "voucher_id": str(voucher_id)})
    raise redirect(f"{LIST}/{voucher_id}?done=reactivated")


def _reason_problem(exc: ApiRefused) -> str:
    for detail in exc.details if isinstance(exc.details, list) else ():
        if isinstance(detail, dict) and str(detail.get("field", "")).endswith("reason") and detail.get("message"):
            return f"Check the reason: {detail['message']}"
    return exc.message or "Check the reason and try again"
