"""Rendering emails from event data (pure: no I/O beyond reading the packaged templates)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class RenderedEmail:
    kind: str
    to_address: str
    subject: str
    text_body: str
    html_body: str


def local_time_label(iso_utc: str, tz_name: str) -> str:
    """E.g. 'Tuesday 1 December 2026, 10:00 (Europe/London, GMT)': clinic wall time, zone named."""
    local = datetime.fromisoformat(iso_utc).astimezone(ZoneInfo(tz_name))
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} ({tz_name}, {local.tzname()})"


def booking_confirmed(data: dict) -> RenderedEmail:
    context = {**data, "when": local_time_label(data["start"], data["clinic"]["timezone"])}
    return RenderedEmail(
        kind="booking_confirmed",
        to_address=data["customer"]["email"],
        subject=f"Booking confirmed: {data['treatment']['name']}, {context['when']}",
        text_body=_env.get_template("booking_confirmed.txt").render(context),
        html_body=_env.get_template("booking_confirmed.html").render(context),
    )
