"""The dashboard's Waitlist page in words (pure: no I/O): each entry of the clinic API's list (oldest first, as it
comes) as a row: who, for what, with whom, what suits them, where they are (waiting, offered a time, booked, left,
removed), the time held for them and until when, and whether it can still be removed."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.web.waitlist_form import status_label, wishes_in_words

When = Callable[[datetime], str]  # an instant in the clinic's wall time, with the zone named
LIVE = ("waiting", "offered")  # entries still on the waitlist: these can be removed
ANY_THERAPIST = "Any therapist"


@dataclass(frozen=True)
class Row:
    id: str
    customer_name: str
    customer_email: str
    treatment: str
    therapist: str
    wishes: str
    status: str
    joined: str
    offer: str  # the time held for them and until when; '' when none is open
    removable: bool


def instant(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


def _name(thing: Any, names: Mapping[str, str], default: str) -> str:
    """A treatment or therapist as the API names it: {id, name}, or an id named by the catalogue."""
    if isinstance(thing, dict):
        return str(thing.get("name") or names.get(str(thing.get("id")), default))
    return names.get(str(thing), default) if thing else default


def _weekdays(values: Any) -> list[int]:
    return [int(v) for v in values or () if isinstance(v, int) or (isinstance(v, str) and v.isdigit())]


def offer_words(offer: Any, when: When) -> str:
    """'Tuesday 15 December 2026, 10:30 (UK time, GMT), held for them until Monday 7 December 2026, 11:15 (UK
    time, GMT)' for an open offer; '' for none (or one that ended)."""
    if not isinstance(offer, dict) or offer.get("status") != "open":
        return ""
    starts, expires = instant(offer.get("starts_at")), instant(offer.get("expires_at"))
    if starts is None:
        return ""
    return f"{when(starts)}, held for them until {when(expires)}" if expires else when(starts)


def entry_rows(entries: Iterable[Mapping[str, Any]], names: Mapping[str, str], when: When) -> list[Row]:
    rows = []
    for entry in entries:
        customer = entry.get("customer") or {}
        joined = instant(entry.get("created_at"))
        status = str(entry.get("status", ""))
        rows.append(
            Row(
                id=str(entry.get("id", "")),
                customer_name=str(customer.get("name", "")),
                customer_email=str(customer.get("email", "")),
                treatment=_name(entry.get("treatment"), names, "A treatment no longer offered"),
                therapist=_name(entry.get("therapist"), names, ANY_THERAPIST),
                wishes=wishes_in_words(_weekdays(entry.get("weekdays")), entry.get("times_of_day") or ()),
                status=status_label(status),
                joined=when(joined) if joined else "",
                offer=offer_words(entry.get("offer"), when),
                removable=status in LIVE,
            )
        )
    return rows
