"""The booking service's routes, every audience's (services/booking/http/): what app.py registers."""

from __future__ import annotations

from aiohttp import web

from services.booking.http import booking_payment as booking_payment_http
from services.booking.http import calendar_feed as calendar_feed_http
from services.booking.http import catalogue, clinic, diary, internal, manage, public
from services.booking.http import clinic_actions as clinic_actions_http
from services.booking.http import privacy as privacy_http
from services.booking.http import schedules as schedules_http
from services.booking.http import staff as staff_http
from services.booking.http import waitlist as waitlist_http

routes: list[web.AbstractRouteDef] = [
    *public.routes,
    *manage.routes,
    *clinic.routes,
    *diary.routes,
    *catalogue.routes,
    *schedules_http.routes,
    *internal.routes,
    *staff_http.routes,
    *calendar_feed_http.routes,
    *clinic_actions_http.routes,
    *booking_payment_http.routes,
    *privacy_http.routes,
    *waitlist_http.routes,
]
