"""Page plumbing shared by every page (rendering, headers, HTML errors) and the catalogue pages:
the list of clinics and a clinic's own page."""
from __future__ import annotations

import logging
import re

import jinja2
from aiohttp import web

from services.web.api import Api, ApiRefused, ApiUnavailable
from services.web.assets import Assets
from services.web.catalogue import CATALOGUE, Catalogue
from services.web.csrf import token_for

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
API = web.AppKey("api", Api)
ASSETS = web.AppKey("assets", Assets)
TEMPLATES = web.AppKey("templates", jinja2.Environment)

# Our pages load only our own files: no inline script or style, no other origin, not framed.
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")


def render(request: web.Request, template: str, *, status: int = 200, private: bool = False, **context) -> web.Response:
    """A page; `private` ones (anything about a customer's booking) are never stored by a cache."""
    context.setdefault("errors", {})
    html = request.app[TEMPLATES].get_template(template).render(csrf=token_for(request), **context)
    headers = {"Content-Security-Policy": PAGE_CSP,
               "Cache-Control": "no-store" if private else "no-cache"}
    return web.Response(text=html, content_type="text/html", status=status, headers=headers)


def api(request: web.Request) -> Api:
    return request.app[API].for_request(request)


async def catalogue(request: web.Request, slug: str) -> Catalogue:
    """The clinic's catalogue, as every page shows it (kept a few seconds: see services/web/catalogue.py)."""
    return await request.app[CATALOGUE].get(api(request), slug)


def clinic_slug(request: web.Request) -> str:
    slug = request.match_info["clinic"]
    if not SLUG.match(slug):
        raise web.HTTPNotFound()
    return slug


@web.middleware
async def page_errors_middleware(request: web.Request, handler):
    """Errors as pages a customer can read: never JSON, never a stack trace."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return render(request, "error.html", status=404, heading="Page not found",
                      message="If you typed the web address, check it is correct. "
                              "If you followed a link, it may be out of date.")
    except web.HTTPForbidden as exc:        # a form without its CSRF token, a manage link not valid
        return render(request, "error.html", status=403, heading="This page cannot be shown", message=exc.text)
    except ApiRefused as exc:
        if exc.status == 404:
            return render(request, "error.html", status=404, heading="Page not found", message=exc.message)
        raise
    except ApiUnavailable as exc:
        log.warning("api unavailable", extra={"error": str(exc)})
        return render(request, "error.html", status=503, heading="Sorry, there is a problem with the service",
                      message="Please try again in a few minutes. Nothing has been booked or charged.")


@routes.get("/")
async def clinics(request: web.Request) -> web.Response:
    return render(request, "index.html", clinics=await api(request).clinics())


@routes.get("/c/{clinic}")
async def clinic_page(request: web.Request) -> web.Response:
    found = await catalogue(request, clinic_slug(request))
    return render(request, "clinic.html", clinic=found.clinic, treatments=found.treatments, courses=found.courses,
                  therapists=found.therapists)


@routes.get("/assets/{name}")
async def asset(request: web.Request) -> web.Response:
    return request.app[ASSETS].response(request.match_info["name"])
