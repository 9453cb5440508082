"""The Integrations page's forms and tables as the dashboard reads and shows them (pure: no I/O): a webhook
endpoint's form into the clinic API's body, the API's refusals beside the inputs they are about, "replay failed
since" in the clinic's wall time into an instant with its offset, a rotation's grace hours, and the rows of the
endpoints, deliveries and API keys in words and the clinic's time. The API decides; the page checks only what it
must to build a request."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

Errors = dict[str, str]
When = Callable[[datetime], str]  # an instant in the clinic's wall time, with the zone named

# The events a clinic may subscribe to (services/notifications/webhooks/rules.py EVENT_TYPES; a test checks the two
# agree), as the form offers them: (value, label, hint).
EVENTS: tuple[tuple[str, str, str], ...] = (
    ("booking.created", "Booking created", "A booking is confirmed (paid, or to pay at the clinic)"),
    ("booking.rescheduled", "Booking rescheduled", "A booking moves to another time or therapist"),
    ("booking.cancelled", "Booking cancelled", "By the customer or by the clinic"),
    ("voucher.purchased", "Gift voucher bought", "A gift voucher is paid for"),
    # A booking's no-show or late-cancellation fee (issue 20).
    ("booking.fee_charged", "Fee charged", "A no-show or late-cancellation fee is charged to the saved card, or paid"),
    ("booking.fee_failed", "Fee not charged", "The saved card was declined: the customer is emailed a link to pay"),
)
EVENT_LABELS = {value: label for value, label, _hint in EVENTS} | {"webhook.test": "Test event"}
# The delivery log's filter: (the API's `status`, or "" for all; the words the page uses).
STATUS_FILTERS: tuple[tuple[str, str], ...] = (
    ("", "All"),
    ("delivered", "Succeeded"),
    ("failed", "Failed"),
    ("pending", "Pending"),
)
STATUS_WORDS = {"delivered": "Succeeded", "failed": "Failed", "pending": "Pending"}
URL_MAX = 2000
DESCRIPTION_MAX = 500
KEY_NAME_MAX = 100
# The API's bounds of a key rotation's grace period (services/booking/api_keys.py): 0 stops the old key at once.
GRACE_HOURS_DEFAULT = 24
GRACE_HOURS_MAX = 168
# The API's codes of a URL it refuses (services/notifications/webhooks/rules.py): all about the URL input.
URL_CODES = frozenset({"invalid_url", "insecure_url", "unresolvable_url", "private_address"})

_WHOLE = re.compile(r"\d{1,4}")
_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_CLOCK = re.compile(r"([01]?[0-9]|2[0-3])[:.]([0-5][0-9])")


@dataclass(frozen=True)
class EndpointForm:
    values: dict[str, Any]  # what was typed, to show again
    body: dict[str, Any]  # the API's body (POST, or PATCH of these fields)
    errors: Errors


def endpoint_form(url: str, events: Sequence[str], description: str) -> EndpointForm:
    """The add/edit form of an endpoint: URL, the events ticked, a description."""
    url, description = url.strip(), description.strip()
    known = [value for value, _label, _hint in EVENTS]
    chosen = [event for event in known if event in events]  # in the form's order; anything else is ignored
    errors: Errors = {}
    if not url:
        errors["url"] = "Enter the URL that should receive the events"
    elif len(url) > URL_MAX:
        errors["url"] = f"The URL must be {URL_MAX} characters or fewer"
    elif not url.lower().startswith(("https://", "http://")):
        errors["url"] = "Enter a URL starting with https://, like https://hooks.example.com/clinic"
    if not chosen:
        errors["events"] = "Choose at least one event to send"
    if len(description) > DESCRIPTION_MAX:
        errors["description"] = f"The description must be {DESCRIPTION_MAX} characters or fewer"
    values = {"url": url, "events": chosen, "description": description}
    return EndpointForm(values, {"url": url, "events": chosen, "description": description}, errors)


def endpoint_refusal(code: str, message: str, details: Any) -> Errors:
    """The API's refusal of an endpoint (422) beside the input it is about (the URL when it does not say)."""
    if code in URL_CODES:  # the API's own sentence: "The endpoint URL must be an http(s) URL", …
        return {"url": _sentence("", message) or "Check the URL"}
    if code == "unknown_event_type":
        return {"events": "Choose events from the list"}
    errors: Errors = {}
    for detail in details if isinstance(details, list) else ():
        if not isinstance(detail, dict):
            continue
        field = str(detail.get("field", "")).split(".", 1)[0]
        if field in ("url", "events", "description") and field not in errors:
            label = {"url": "The URL", "events": "The events", "description": "The description"}[field]
            errors[field] = _sentence(label, _api_words(str(detail.get("message", ""))))
    return errors or {"url": _sentence("", message) or "Check the URL"}


def _api_words(message: str) -> str:
    """A pydantic message as a sentence's end: 'String should have at most 2000 characters' → 'must have …'."""
    return re.sub(r"^(Input|Value|String|List) should\b", "must", message.strip()) or "is not valid"


def _sentence(subject: str, message: str) -> str:
    text = f"{subject} {message}".strip() if subject and message.startswith("must") else message.strip()
    return text[:1].upper() + text[1:] if text else ""


def since_instant(day_text: str, clock_text: str, zone: ZoneInfo) -> tuple[datetime | None, Errors]:
    """'Replay failed deliveries since' a day and a time of the clinic's wall clock, as an instant."""
    errors: Errors = {}
    day_match = _DAY.fullmatch(day_text.strip())
    clock_match = _CLOCK.fullmatch(clock_text.strip() or "00:00")
    day: date | None = None
    if not day_text.strip():
        errors["since_date"] = "Enter the day to replay failed deliveries from"
    elif day_match is None:
        errors["since_date"] = "Enter a real day, like 2026-12-01"
    else:
        try:
            day = date(int(day_match[1]), int(day_match[2]), int(day_match[3]))
        except ValueError:
            errors["since_date"] = "Enter a real day, like 2026-12-01"
    if clock_match is None:
        errors["since_time"] = "Enter a time of day, like 09:30"
    if errors or day is None or clock_match is None:
        return None, errors
    return datetime.combine(day, time(int(clock_match[1]), int(clock_match[2])), zone), {}


def grace_hours(text: str) -> tuple[int | None, str | None]:
    """A rotation's grace period in whole hours, within the API's bounds; or why not."""
    text = text.strip()
    if not text:
        return None, "Enter how many hours the old key should keep working (0 to stop it at once)"
    if _WHOLE.fullmatch(text) is None:
        return None, "Enter a whole number of hours, like 24"
    hours = int(text)
    if hours > GRACE_HOURS_MAX:
        return None, f"The old key can keep working for at most {GRACE_HOURS_MAX} hours (7 days)"
    return hours, None


def key_name(text: str) -> tuple[str, str | None]:
    name = text.strip()
    if len(name) > KEY_NAME_MAX:
        return name, f"The name must be {KEY_NAME_MAX} characters or fewer"
    return name, None


# --- rows in words ----------------------------------------------------------------------------------------------


def _instant(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def event_words(events: Iterable[str]) -> str:
    return ", ".join(EVENT_LABELS.get(event, event) for event in events)


def endpoint_row(endpoint: Mapping[str, Any], last: Mapping[str, Any] | None, when: When) -> dict[str, Any]:
    """An endpoint as the list shows it; `last` its newest delivery (None if none); `when` formats an instant."""
    if last is None:
        last_words = "None yet"
    else:
        at = _instant(last.get("delivered_at")) or _instant(last.get("created_at"))
        status = STATUS_WORDS.get(str(last.get("status")), str(last.get("status")))
        last_words = f"{status} ({EVENT_LABELS.get(last.get('event_type', ''), last.get('event_type', ''))})"
        if at is not None:
            last_words += f", {when(at)}"
    return {
        **endpoint,
        "events_words": event_words(endpoint.get("events", ())),
        "status_words": "Enabled" if endpoint.get("enabled") else _disabled_words(endpoint),
        "last_words": last_words,
        "last_status": last.get("status") if last else None,
    }


def _disabled_words(endpoint: Mapping[str, Any]) -> str:
    reason = endpoint.get("disabled_reason")
    return f"Disabled ({reason})" if reason else "Disabled"


def delivery_row(delivery: Mapping[str, Any], when: When) -> dict[str, Any]:
    """A delivery as the log shows it: what, when, how it stands, and each attempt."""
    created = _instant(delivery.get("created_at"))
    next_at = _instant(delivery.get("next_attempt_at"))
    status = str(delivery.get("status"))
    words = STATUS_WORDS.get(status, status)
    if status == "pending" and next_at is not None:
        words += f": next try {when(next_at)}"
    last_code = delivery.get("last_status")
    last_error = delivery.get("last_error")
    attempts = []
    for attempt in delivery.get("attempt_log", ()):
        at = _instant(attempt.get("at"))
        code = attempt.get("status_code")
        attempts.append(
            {
                "at": when(at) if at else "",
                "answer": f"HTTP {code}" if code is not None else (attempt.get("error") or "No answer"),
                "latency": f"{attempt['latency_ms']} ms" if attempt.get("latency_ms") is not None else "",
                "response": attempt.get("response") or "",
            }
        )
    return {
        **delivery,
        "event_words": EVENT_LABELS.get(str(delivery.get("event_type")), str(delivery.get("event_type"))),
        "created": when(created) if created else "",
        "status_words": words,
        "last_answer": f"HTTP {last_code}" if last_code is not None else (last_error or "Not tried yet"),
        "attempt_rows": attempts,
    }


def key_row(key: Mapping[str, Any], now: datetime, when: When) -> dict[str, Any]:
    """An API key as the list shows it: its state in words, and whether it may still be rotated or revoked."""
    revoked = _instant(key.get("revoked_at"))
    expires = _instant(key.get("expires_at"))
    last_used = _instant(key.get("last_used_at"))
    created = _instant(key.get("created_at"))
    if revoked is not None:
        state = f"Revoked {when(revoked)}"
    elif expires is not None and expires <= now:
        state = "Expired"
    elif key.get("replaced_by"):
        state = "Replaced by a new key: works until it expires"
    else:
        state = "Active"
    working = revoked is None and (expires is None or expires > now)
    return {
        **key,
        "label": key.get("name") or "Unnamed key",
        "created": when(created) if created else "",
        "last_used": when(last_used) if last_used else "Never",
        "expires": when(expires) if expires else "Never",
        "state": state,
        "can_rotate": working and not key.get("replaced_by"),
        "can_revoke": revoked is None and (expires is None or expires > now),
    }


def embed_snippet(public_url: str, slug: str) -> str:
    """What the clinic pastes into its own website (docs/embedding.md): a link to its booking pages and our script."""
    base = public_url.rstrip("/")
    return f'<a href="{base}/c/{slug}/book">BOOK NOW</a>\n<script src="{base}/embed.js" async></script>'
