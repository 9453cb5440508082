"""The booking service's routes, every audience's (services/booking/http/): what app.py registers."""

from __future__ import annotations

from aiohttp import web

from services.booking.http import clinic, internal, manage, public

routes: list[web.AbstractRouteDef] = [*public.routes, *manage.routes, *clinic.routes, *internal.routes]
