"""The diary (owner and staff): a day, or a week from its Monday, of the whole clinic or of one therapist, in the
clinic's zone with the zone named: each therapist's hours, breaks, time off, holds ("being booked") and bookings,
each booking a link to its page (services/web/dashboard/bookings.py). One call to the clinic API's diary
(GET /api/v1/clinic/diary) and one for the therapists to choose from; diary_view.py says what is shown."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

from aiohttp import web

from services.web.dashboard import diary_view
from services.web.dashboard.pages import clinic_api, render, signed_in
from services.web.dashboard.session import Session

routes = web.RouteTableDef()


def clinic_today(session: Session) -> date:
    return datetime.now(timezone.utc).astimezone(session.zone).date()


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _therapist(text: str | None) -> str | None:
    try:
        return str(uuid.UUID(text)) if text else None
    except ValueError:
        return None


@routes.get(diary_view.DIARY_PATH)
async def diary_page(request: web.Request) -> web.Response:
    session = await signed_in(request)
    query, today = request.query, clinic_today(session)
    # An address typed wrong shows today (or the whole clinic) rather than an error: a diary is looked at, not sent.
    shown = diary_view.asked(query.get("view"), _day(query.get("date")), _therapist(query.get("therapist")), today)
    api_ = clinic_api(request, session)
    params = {"from": shown.first.isoformat(), "to": shown.last.isoformat()}
    if shown.therapist:
        params["therapist"] = shown.therapist
    answer = await api_.call("GET", "/api/v1/clinic/diary", params=params)  # another clinic's therapist: 404
    therapists = (await api_.call("GET", "/api/v1/clinic/therapists"))["therapists"]
    choices = [("", "All therapists")] + [(t["id"], t["name"]) for t in therapists if not t.get("archived_at")]
    chosen = next((t for t in answer["therapists"] if t["id"] == shown.therapist), None)
    return render(
        request,
        "dashboard/diary.html",
        session=session,
        shown=shown,
        diary=diary_view.diary(answer, shown, today),
        nav=diary_view.navigation(shown, today),
        therapist_choices=choices,
        therapist_name=chosen["name"] if chosen else None,
        whole_clinic=shown.therapist is None,
    )
