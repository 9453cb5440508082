"""Page plumbing shared by every page (rendering, headers, HTML errors) and the catalogue pages:
the list of clinics and a clinic's own page."""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from urllib.parse import urlencode

import jinja2
from aiohttp import web

from services.web.api import Api, ApiRefused, ApiUnavailable
from services.web.assets import Assets
from services.web.card_payment import CARD_PAYMENT, STRIPE_SOURCES
from services.web.catalogue import CATALOGUE, Catalogue
from services.web.csp import page_policy
from services.web.csrf import COOKIE as CSRF_COOKIE
from services.web.csrf import token_for
from services.web.framing import cookies_refused, frame_ancestors
from shared.errors import RETRY_AFTER_UNAVAILABLE
from shared.redis_client import REDIS_UNAVAILABLE

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
API = web.AppKey("api", Api)
ASSETS = web.AppKey("assets", Assets)
TEMPLATES = web.AppKey("templates", jinja2.Environment)

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
# The booking flow's choices a form may carry, kept when it goes on in a new window (CHOICE → query name).
CHOICES = {"treatment": "treatment", "course": "course", "therapist_choice": "therapist", "week": "week"}


def render(request: web.Request, template: str, *, status: int = 200, private: bool = False, **context) -> web.Response:
    """A page; `private` ones (anything about a customer's booking) are never stored by a cache. Its CSP
    (csp.py) lets the clinic's own websites frame the booking pages and Stripe.js into the card pay page."""
    context.setdefault("errors", {})
    card_payment = request.get(CARD_PAYMENT)
    html = (
        request.app[TEMPLATES]
        .get_template(template)
        .render(csrf=token_for(request), card_payment=card_payment, **context)
    )
    csp = page_policy(
        frame_ancestors=frame_ancestors(request, context.get("clinic")),
        widened=STRIPE_SOURCES if card_payment else None,
    )
    headers = {"Content-Security-Policy": csp, "Cache-Control": "no-store" if private else "no-cache"}
    return web.Response(text=html, content_type="text/html", status=status, headers=headers)


def api(request: web.Request) -> Api:
    return request.app[API].for_request(request)


async def catalogue(request: web.Request, slug: str) -> Catalogue:
    """The clinic's catalogue, as every page shows it (kept a few seconds: see services/web/catalogue.py)."""
    return await request.app[CATALOGUE].get(api(request), slug)


def path_id(request: web.Request, name: str) -> str:
    """The id in the path's `name` part, as a canonical uuid; anything else is the 404 page."""
    try:
        return str(uuid.UUID(request.match_info[name]))
    except ValueError:
        raise web.HTTPNotFound() from None


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
        return render(
            request,
            "error.html",
            status=404,
            heading="Page not found",
            message="If you typed the web address, check it is correct. If you followed a link, it may be out of date.",
        )
    except web.HTTPForbidden as exc:  # a form without its CSRF token, a manage link not valid
        if cookies_refused(request, CSRF_COOKIE) and "clinic" in request.match_info:
            with contextlib.suppress(ApiRefused, ApiUnavailable):  # else the plain page below
                return await _go_on_in_a_new_window(request)
        return render(request, "error.html", status=403, heading="This page cannot be shown", message=exc.text)
    except ApiRefused as exc:
        if exc.status == 404:
            return render(request, "error.html", status=404, heading="Page not found", message=exc.message)
        raise
    except (ApiUnavailable, *REDIS_UNAVAILABLE) as exc:  # our API, or the Redis the flows are kept in
        log.warning("service unavailable", extra={"error": repr(exc)})
        response = render(
            request,
            "error.html",
            status=503,
            heading="Sorry, there is a problem with the service",
            message="Please try again in a few minutes. Nothing has been booked or charged.",
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_UNAVAILABLE)
        return response


async def _go_on_in_a_new_window(request: web.Request) -> web.Response:
    """Inside a clinic's website, a browser that keeps no cookie in our frame cannot post our forms (see
    framing.py): the booking goes on in a window of its own, with what the customer chose so far."""
    slug = clinic_slug(request)
    form = await request.post()
    choices = {name: str(form[field]) for field, name in CHOICES.items() if form.get(field)}
    return render(
        request,
        "book_new_window.html",
        status=403,
        clinic=(await catalogue(request, slug)).clinic,
        url=f"/c/{slug}/book?{urlencode(choices)}" if choices else f"/c/{slug}/book",
    )


@routes.get("/")
async def clinics(request: web.Request) -> web.Response:
    return render(request, "index.html", clinics=await api(request).clinics())


@routes.get("/c/{clinic}")
async def clinic_page(request: web.Request) -> web.Response:
    found = await catalogue(request, clinic_slug(request))
    return render(
        request,
        "clinic.html",
        clinic=found.clinic,
        treatments=found.treatments,
        courses=found.courses,
        therapists=found.therapists,
    )


@routes.get("/assets/{name}")
async def asset(request: web.Request) -> web.Response:
    return request.app[ASSETS].response(request.match_info["name"])


@routes.get("/embed.js")
async def embed_script(request: web.Request) -> web.Response:
    """The script of the snippet a clinic pastes into its own website (docs/embedding.md)."""
    return request.app[ASSETS].response_by_plain_name("embed.js")
