"""The dashboard's Integrations area (the owner's only): webhook endpoints (add, edit, enable or disable, rotate the
signing secret, send a test event, the delivery log per endpoint with a status filter, replay one delivery or every
failed one since a time), API keys (create, rotate with a grace period, revoke after a question), and the snippet
that puts the booking button on the clinic's own website.

Every action is a clinic-API call through the gateway (notifications: /api/v1/clinic/webhook-endpoints…, booking:
/api/v1/clinic/api-keys…, /api/v1/clinic/settings for the embedding origins); this module asks, and shapes what it
is told (integrations_form.py). A secret (an endpoint's signing secret, an API key) is shown once: in the answer to
the POST that made it, never in an address, a cookie or a later page; each of those forms carries a one-time token,
so the same form sent again (a reload of the answer) makes nothing and shows nothing."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from services.web import formatting
from services.web.api import ApiRefused
from services.web.dashboard import integrations_form as forms
from services.web.dashboard.pages import (
    clinic_api,
    redirect,
    render,
    session_form,
    signed_in_owner,
)
from services.web.dashboard.session import Session
from shared.keys import REDIS, SETTINGS

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

AREA = "/clinic/integrations"
UUID_PATTERN = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
ENDPOINT_PAGE = AREA + "/webhooks/{endpoint_id:" + UUID_PATTERN + "}"
KEY_PATH = AREA + "/api-keys/{key_id:" + UUID_PATTERN + "}"
API_ENDPOINTS = "/api/v1/clinic/webhook-endpoints"
API_KEYS = "/api/v1/clinic/api-keys"
API_SETTINGS = "/api/v1/clinic/settings"
# A one-time form token is remembered this long: far longer than anyone keeps an answer page open to reload it.
ONCE_SECONDS = 24 * 3600
DONE_NOTES = {
    "saved": "Endpoint saved.",
    "enabled": "Endpoint enabled: events are sent to it again.",
    "disabled": "Endpoint disabled: no events are sent to it until you enable it again.",
    "test": "Test event sent. It is in the delivery log below: reload the page to see how the delivery went.",
    "replayed": "Delivery queued to be sent again, with the same webhook-id.",
    "revoked": "API key revoked. It stopped working at once.",
    "already": "That form was already sent, so nothing more was done. A secret is shown only once: if you did not "
    "copy it, rotate it to get a new one.",
}


# --- helpers ----------------------------------------------------------------------------------------------------


def _when(session: Session) -> forms.When:
    zone = session.zone
    return lambda instant: formatting.when(instant, zone)


def _id(request: web.Request, name: str) -> uuid.UUID:
    return uuid.UUID(request.match_info[name])  # the route's pattern lets only a uuid through


def _done(request: web.Request) -> str | None:
    done = request.query.get("done", "")
    if done == "replayed-failed":
        count = request.query.get("count", "")
        number = int(count) if count.isdigit() else 0
        if number == 0:
            return "There were no failed deliveries since then: nothing to replay."
        return f"{number} failed deliver{'y' if number == 1 else 'ies'} queued to be sent again."
    return DONE_NOTES.get(done)


def _new_once() -> str:
    return secrets.token_urlsafe(18)


def _once_key(request: web.Request, session: Session, token: str) -> str:
    digest = hashlib.sha256(f"{session.staff_id}:{token}".encode()).hexdigest()
    return f"{request.app[SETTINGS].redis_prefix}dashboard_once:{digest}"


@contextlib.asynccontextmanager
async def _once(request: web.Request, session: Session, form: Any, back: str) -> AsyncIterator[None]:
    """Runs the block only the first time this form (its one-time token) is sent; again, the page at `back` says
    so. If the block fails (the API unavailable), the token is given back, so sending the form again works."""
    token = str(form.get("once", ""))
    key = _once_key(request, session, token)
    if not 16 <= len(token) <= 64 or not await request.app[REDIS].set(key, "1", nx=True, ex=ONCE_SECONDS):
        raise redirect(f"{back}?done=already")
    try:
        yield
    except BaseException:
        await request.app[REDIS].delete(key)
        raise


def _secret_page(
    request: web.Request, session: Session, *, heading: str, secret: str, kind: str, back: str, note: str = ""
) -> web.Response:
    """The answer to the POST that made a secret: the only page that ever shows it (never cached)."""
    return render(
        request,
        "dashboard/integrations_secret.html",
        session=session,
        heading=heading,
        secret=secret,
        kind=kind,
        back=back,
        note=note,
    )


# --- the overview: endpoints, API keys, the embed snippet ----------------------------------------------------------


async def _overview(
    request: web.Request,
    session: Session,
    *,
    endpoint_values: dict | None = None,
    key_values: dict | None = None,
    errors: dict | None = None,
    problem: str | None = None,
    status: int = 200,
) -> web.Response:
    api = clinic_api(request, session)
    listed, keys, clinic_settings = await asyncio.gather(
        api.call("GET", API_ENDPOINTS), api.call("GET", API_KEYS), api.call("GET", API_SETTINGS)
    )
    endpoints = listed["endpoints"]
    logs = await asyncio.gather(*(api.call("GET", f"{API_ENDPOINTS}/{e['id']}/deliveries") for e in endpoints))
    when = _when(session)
    now = datetime.now(timezone.utc)
    return render(
        request,
        "dashboard/integrations.html",
        session=session,
        status=status,
        endpoints=[
            forms.endpoint_row(e, (log_["deliveries"] or [None])[0], when)
            for e, log_ in zip(endpoints, logs, strict=True)
        ],
        keys=[forms.key_row(k, now, when) for k in keys["api_keys"]],
        events=forms.EVENTS,
        endpoint_values=endpoint_values or {"url": "", "events": [], "description": ""},
        key_values=key_values or {"key_name": ""},
        errors=errors or {},
        problem=problem,
        done=_done(request),
        once=_new_once,
        snippet=forms.embed_snippet(request.app[SETTINGS].public_url, session.clinic_slug),
        embed_origins=clinic_settings.get("embed_origins", []),
    )


@routes.get(AREA)
async def integrations_page(request: web.Request) -> web.Response:
    session = await signed_in_owner(request)
    return await _overview(request, session)


@routes.post(AREA + "/webhooks")
async def add_endpoint(request: web.Request) -> web.Response:
    session = await signed_in_owner(request)
    form = await session_form(request, session)
    parsed = forms.endpoint_form(
        str(form.get("url", "")), [str(v) for v in form.getall("events", [])], str(form.get("description", ""))
    )
    if parsed.errors:
        return await _overview(request, session, endpoint_values=parsed.values, errors=parsed.errors, status=400)
    async with _once(request, session, form, AREA):
        try:
            created = await clinic_api(request, session).call("POST", API_ENDPOINTS, json=parsed.body)
        except ApiRefused as exc:
            if exc.status != 422 and exc.code != "too_many_endpoints":  # the clinic has its 16: said by the URL
                raise
            errors = forms.endpoint_refusal(exc.code, exc.message, exc.details)
            return await _overview(request, session, endpoint_values=parsed.values, errors=errors, status=400)
    log.info("dashboard: webhook endpoint added", extra={"clinic": session.clinic_slug, "endpoint_id": created["id"]})
    return _secret_page(
        request,
        session,
        heading="Endpoint added: copy its signing secret",
        secret=created["secret"],
        kind="webhook",
        back=f"{AREA}/webhooks/{created['id']}",
    )


# --- one endpoint: edit, enable, rotate, test, its delivery log, replays ------------------------------------------


async def _endpoint_page(
    request: web.Request,
    session: Session,
    endpoint_id: uuid.UUID,
    *,
    values: dict | None = None,
    since_values: dict | None = None,
    errors: dict | None = None,
    problem: str | None = None,
    status: int = 200,
) -> web.Response:
    api = clinic_api(request, session)
    chosen = request.query.get("status", "")
    if chosen not in {value for value, _words in forms.STATUS_FILTERS}:
        chosen = ""
    path = f"{API_ENDPOINTS}/{endpoint_id}"
    endpoint, log_ = await asyncio.gather(
        api.call("GET", path), api.call("GET", f"{path}/deliveries", params={"status": chosen} if chosen else None)
    )
    when = _when(session)
    page = f"{AREA}/webhooks/{endpoint_id}"
    return render(
        request,
        "dashboard/integrations_endpoint.html",
        session=session,
        status=status,
        endpoint=forms.endpoint_row(endpoint, None, when),
        deliveries=[forms.delivery_row(d, when) for d in log_["deliveries"]],
        filters=[
            (words, page + (f"?{urlencode({'status': value})}" if value else ""), value == chosen)
            for value, words in forms.STATUS_FILTERS
        ],
        chosen_words=dict(forms.STATUS_FILTERS)[chosen],
        events=forms.EVENTS,
        values=values or {"url": endpoint["url"], "events": endpoint["events"], "description": endpoint["description"]},
        since_values=since_values
        or {"since_date": datetime.now(session.zone).date().isoformat(), "since_time": "00:00"},
        zone_words=formatting.zone_label(datetime.now(timezone.utc), session.zone),
        errors=errors or {},
        problem=problem,
        done=_done(request),
        once=_new_once,
        page=page,
    )


@routes.get(ENDPOINT_PAGE)
async def endpoint_page(request: web.Request) -> web.Response:
    session = await signed_in_owner(request)
    return await _endpoint_page(request, session, _id(request, "endpoint_id"))


@routes.post(ENDPOINT_PAGE)
async def edit_endpoint(request: web.Request) -> web.Response:
    session = await signed_in_owner(request)
    form = await session_form(request, session)
    endpoint_id = _id(request, "endpoint_id")
    parsed = forms.endpoint_form(
        str(form.get("url", "")), [str(v) for v in form.getall("events", [])], str(form.get("description", ""))
    )
    if parsed.errors:
        return await _endpoint_page(
            request, session, endpoint_id, values=parsed.values, errors=parsed.errors, status=400
        )
    try:
        await clinic_api(request, session).call("PATCH", f"{API_ENDPOINTS}/{endpoint_id}", json=parsed.body)
    except ApiRefused as exc:
        if exc.status != 422:
            raise
        errors = forms.endpoint_refusal(exc.code, exc.message, exc.details)
        return await _endpoint_page(request, session, endpoint_id, values=parsed.values, errors=errors, status=400)
    raise redirect(f"{AREA}/webhooks/{endpoint_id}?done=saved")


@routes.post(ENDPOINT_PAGE + "/enabled")
async def enable_endpoint(request: web.Request) -> web.Response:
    session = await signed_in_owner(request)
    form = await session_form(request, session)
    endpoint_id = _id(request, "endpoint_id")
    enabled = form.get("enabled") == "yes"
    await clinic_api(request, session).call("PATCH", f"{API_ENDPOINTS}/{endpoint_id}", json={"enabled": enabled})
    log.info(
        "dashboard: webhook endpoint " + ("enabled" if enabled else "disabled"),
        extra={"clinic": session.clinic_slug, "endpoint_id": str(endpoint_id)},
    )
    raise redirect(f"{AREA}/webhooks/{endpoint_id}?done={'enabled' if enabled else 'disabled'}")


@routes.post(ENDPOINT_PAGE + "/rotate-secret")
async def rotate_secret(request: web.Request) -> web.Response:
    session = await signed_in_owner(request)
    form = await session_form(request, session)
    endpoint_id = _id(request, "endpoint_id")
    page = f"{AREA}/webhooks/{endpoint_id}"
    async with _once(request, session, form, page):
        rotated = await clinic_api(request, session).call("POST", f"{API_ENDPOINTS}/{endpoint_id}/rotate-secret")
    log.info(
        "dashboard: webhook secret rotated", extra={"clinic": session.clinic_slug, "endpoint_id": str(endpoint_id)}
    )
    old_until = datetime.fromisoformat(rotated["previous_secret_expires_at"])
    return _secret_page(
        request,
        session,
        heading="New signing secret: copy it now",
        secret=rotated["secret"],
        kind="webhook",
        back=page,
        note=f"Deliveries are signed with both the old and the new secret until {_when(session)(old_until)}, "
        "so you can change your receiver's secret without missing one.",
    )


@routes.post(ENDPOINT_PAGE + "/test")
async def send_test_event(request: web.Request) -> web.Response:
    session = await signed_in_owner(request)
    await session_form(request, session)
    endpoint_id = _id(request, "endpoint_id")
    try:
        await clinic_api(request, session).call("POST", f"{API_ENDPOINTS}/{endpoint_id}/test")
    except ApiRefused as exc:
        if exc.status != 409:  # a disabled endpoint
            raise
        return await _endpoint_page(request, session, endpoint_id, problem=exc.message, status=409)
    raise redirect(f"{AREA}/webhooks/{endpoint_id}?done=test")


@routes.post(ENDPOINT_PAGE + "/deliveries/{delivery_id:" + UUID_PATTERN + "}/replay")
async def replay_delivery(request: web.Request) -> web.Response:
    session = await signed_in_owner(request)
    await session_form(request, session)
    endpoint_id, delivery_id = _id(request, "endpoint_id"), _id(request, "delivery_id")
    try:
        await clinic_api(request, session).call("POST", f"/api/v1/clinic/deliveries/{delivery_id}/replay")
    except ApiRefused as exc:
        if exc.status != 409:  # its body was pruned by the retention job (docs/privacy.md)
            raise
        return await _endpoint_page(request, session, endpoint_id, problem=exc.message, status=409)
    log.info("dashboard: delivery replayed", extra={"clinic": session.clinic_slug, "delivery_id": str(delivery_id)})
    raise redirect(f"{AREA}/webhooks/{endpoint_id}?done=replayed")


@routes.post(ENDPOINT_PAGE + "/replay")
async def replay_failed(request: web.Request) -> web.Response:
    session = await signed_in_owner(request)
    form = await session_form(request, session)
    endpoint_id = _id(request, "endpoint_id")
    since_values = {name: str(form.get(name, "")).strip() for name in ("since_date", "since_time")}
    since, errors = forms.since_instant(since_values["since_date"], since_values["since_time"], session.zone)
    if since is None:
        return await _endpoint_page(request, session, endpoint_id, since_values=since_values, errors=errors, status=400)
    replayed = await clinic_api(request, session).call(
        "POST", f"{API_ENDPOINTS}/{endpoint_id}/replay", json={"since": since.isoformat()}
    )
    count = int(replayed.get("replayed", 0))
    log.info("dashboard: failed deliveries replayed", extra={"clinic": session.clinic_slug, "count": count})
    raise redirect(f"{AREA}/webhooks/{endpoint_id}?{urlencode({'done': 'replayed-failed', 'count': count})}")


# --- API keys ---------------------------------------------------------------------------------------------------


@routes.post(AREA + "/api-keys")
async def create_key(request: web.Request) -> web.Response:
    session = await signed_in_owner(request)
    form = await session_form(request, session)
    name, problem = forms.key_name(str(form.get("key_name", "")))
    if problem:
        return await _overview(
            request, session, key_values={"key_name": name}, errors={"key_name": problem}, status=400
        )
    async with _once(request, session, form, AREA):
        try:
            created = await clinic_api(request, session).call("POST", API_KEYS, json={"name": name})
        except ApiRefused as exc:
            if exc.status not in (409, 422):  # too many working keys
                raise
            errors = {"key_name": exc.message or "The key could not be created"}
            return await _overview(request, session, key_values={"key_name": name}, errors=errors, status=400)
    log.info("dashboard: API key created", extra={"clinic": session.clinic_slug, "key_id": created["id"]})
    return _secret_page(
        request, session, heading="API key created: copy it now", secret=created["key"], kind="key", back=AREA
    )


async def _key(request: web.Request, session: Session, key_id: uuid.UUID) -> dict:
    keys = (await clinic_api(request, session).call("GET", API_KEYS))["api_keys"]
    key = next((k for k in keys if k.get("id") == str(key_id)), None)
    if key is None:
        raise web.HTTPNotFound()
    return forms.key_row(key, datetime.now(timezone.utc), _when(session))


def _rotate_question(
    request: web.Request, session: Session, key: dict, grace: str, error: str | None, status: int = 200
) -> web.Response:
    return render(
        request,
        "dashboard/integrations_key_rotate.html",
        session=session,
        status=status,
        key=key,
        values={"grace_hours": grace},
        errors={"grace_hours": error} if error else {},
        once=_new_once,
        most=forms.GRACE_HOURS_MAX,
    )


@routes.post(KEY_PATH + "/rotate")
async def rotate_key(request: web.Request) -> web.Response:
    """First the question (how long the old key keeps working); then, answered, the new key, shown once."""
    session = await signed_in_owner(request)
    form = await session_form(request, session)
    key_id = _id(request, "key_id")
    if form.get("confirm") != "yes":
        key = await _key(request, session, key_id)
        return _rotate_question(request, session, key, str(forms.GRACE_HOURS_DEFAULT), None)
    grace_text = str(form.get("grace_hours", ""))
    grace, problem = forms.grace_hours(grace_text)
    if grace is None:
        key = await _key(request, session, key_id)
        return _rotate_question(request, session, key, grace_text.strip(), problem, status=400)
    async with _once(request, session, form, AREA):
        try:
            rotated = await clinic_api(request, session).call(
                "POST", f"{API_KEYS}/{key_id}/rotate", json={"grace_hours": grace}
            )
        except ApiRefused as exc:
            if exc.status != 409:  # replaced already, or no longer working
                raise
            return await _overview(request, session, problem=exc.message, status=409)
    log.info("dashboard: API key rotated", extra={"clinic": session.clinic_slug, "key_id": str(key_id)})
    old_until = rotated["replaces"].get("expires_at")
    until = _when(session)(datetime.fromisoformat(old_until)) if old_until else ""
    return _secret_page(
        request,
        session,
        heading="New API key: copy it now",
        secret=rotated["key"],
        kind="key",
        back=AREA,
        note=f"The old key (prefix {rotated['replaces']['prefix']}) keeps working until {until}."
        if grace
        else "The old key has stopped working.",
    )


@routes.post(KEY_PATH + "/revoke")
async def revoke_key(request: web.Request) -> web.Response:
    """First the question (what revoking does); then, confirmed, the revocation."""
    session = await signed_in_owner(request)
    form = await session_form(request, session)
    key_id = _id(request, "key_id")
    if form.get("confirm") != "yes":
        key = await _key(request, session, key_id)
        return render(request, "dashboard/integrations_key_revoke.html", session=session, key=key)
    await clinic_api(request, session).call("DELETE", f"{API_KEYS}/{key_id}")
    log.info("dashboard: API key revoked", extra={"clinic": session.clinic_slug, "key_id": str(key_id)})
    raise redirect(f"{AREA}?done=revoked")
