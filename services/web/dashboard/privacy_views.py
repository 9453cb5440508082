"""The Privacy page's words (pure: no I/O): the customer's email as the form takes it, the counts of an export or an
erasure in words ("2 bookings"), why each kept thing is kept, what stops an erasure and what to do first, and the
list of past requests in the clinic's time. The clinic API (/api/v1/clinic/privacy/…) decides; this only says it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

When = Callable[[datetime], str]  # an instant in the clinic's wall time, with the zone named

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EMAIL_MAX = 254

# What the services count (the export's kinds, and an erasure's from booking, payments and notifications), in the
# order the page lists them: kind → (one, several). A kind not listed here (a service may count more later) is still
# shown, in words made from its name.
KINDS: dict[str, tuple[str, str]] = {
    "bookings": ("booking", "bookings"),
    "screenings": ("health screening", "health screenings"),
    "payments": ("payment record", "payment records"),
    "refunds": ("refund record", "refund records"),
    "voucher_sales": ("gift voucher sale", "gift voucher sales"),
    "vouchers_bought": ("gift voucher they bought", "gift vouchers they bought"),
    "vouchers_received": ("gift voucher given to them", "gift vouchers given to them"),
    "voucher_changes": ("change to a gift voucher's delivery", "changes to gift vouchers' delivery"),
    "emails": ("email sent to them", "emails sent to them"),
    "reminders": ("reminder", "reminders"),
    "booking_copies": ("copy of a booking kept for its emails", "copies of bookings kept for their emails"),
    "webhook_deliveries": ("webhook delivery naming them", "webhook deliveries naming them"),
    "privacy_requests": ("earlier request about their data", "earlier requests about their data"),
}

# Why the law (or the money) needs what an erasure keeps, by kind; kinds kept for the same reason share one line.
SCREENING_WHY = (
    "Health records must be kept: 8 years after the customer's last visit, or for a child until they turn 25 (26 if "
    "they were 17 at their last visit). Until then they are restricted: no longer shown in the diary or on any "
    "booking, only in a download of this customer's data. They are deleted automatically on that date."
)
PAYMENT_WHY = (
    "HMRC requires payment and refund records for six years: the amounts, the dates, the card payment references "
    "and the email address the receipt went to stay as they are."
)
VOUCHER_WHY = (
    "A gift voucher's sale stays in your accounts (its amount, VAT and balance history) without the customer's name, "
    "email address or message. A voucher that is still valid can still be used by its code."
)
WHY_KEPT: dict[str, str] = {
    "screenings": SCREENING_WHY,
    "payments": PAYMENT_WHY,
    "refunds": PAYMENT_WHY,
    "voucher_sales": VOUCHER_WHY,
}
OTHER_WHY = "Kept without their name, email address, phone number or date of birth."

# Where to do what an erasure's blocker asks first (the API's own sentence says what), by the blocker's code.
WHERE_TO_DO_IT: dict[str, str] = {
    "customer_has_upcoming_bookings": "You can cancel a booking from its page: find it in the diary.",
    "customer_has_vouchers_in_progress": "Each gift voucher's page, under Vouchers, shows whether it is paid and "
    "when its gift email is due.",
}
BLOCKER_WORDS: dict[str, str] = {
    "customer_has_upcoming_bookings": "This customer has bookings still to come. Cancel them (or wait until after "
    "the visit) before erasing their data.",
    "customer_has_vouchers_in_progress": "This customer has gift vouchers still in progress. Erase their data once "
    "each payment has gone through and each gift email has been sent.",
}
REQUEST_KINDS = {"export": "Data downloaded", "erase": "Data erased"}


EMAIL_MISSING = "Enter the customer's email address"
EMAIL_FORMAT = "Enter an email address in the correct format, like name@example.com"


def email_problem(email: str) -> str | None:
    """Why the typed email cannot be looked for (None if it can); GOV.UK's words."""
    if not email:
        return EMAIL_MISSING
    if len(email) > EMAIL_MAX or not EMAIL.match(email):
        return EMAIL_FORMAT
    return None


def _kind_words(kind: str) -> tuple[str, str]:
    if kind in KINDS:
        return KINDS[kind]
    words = kind.replace("_", " ").strip() or "item"
    return words, words


def counted(kind: str, count: int) -> str:
    """'1 booking', '3 emails sent to them'."""
    one, several = _kind_words(kind)
    return f"{count} {one if count == 1 else several}"


def _ordered(counts: Mapping[str, Any]) -> list[tuple[str, int]]:
    """The kinds counted more than zero: the known ones in the page's order, then any other by name."""
    numbers = {str(k): int(v) for k, v in counts.items() if isinstance(v, int) and not isinstance(v, bool) and v > 0}
    known = [k for k in KINDS if k in numbers]
    return [(k, numbers[k]) for k in known + sorted(set(numbers) - set(known))]


def counts_in_words(counts: Mapping[str, Any] | None) -> list[str]:
    """What was (or will be) erased, each kind in words; empty when nothing is."""
    return [counted(kind, count) for kind, count in _ordered(counts or {})]


def kept_rows(counts: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """What an erasure keeps, with why: kinds kept for the same reason in one row ("1 payment record and 1 refund
    record")."""
    grouped: dict[str, list[str]] = {}
    for kind, count in _ordered(counts or {}):
        grouped.setdefault(WHY_KEPT.get(kind, OTHER_WHY), []).append(counted(kind, count))
    return [{"words": " and ".join(words), "why": why} for why, words in grouped.items()]


def blocker_rows(blockers: Iterable[Any]) -> list[dict[str, str]]:
    """What stops an erasure, as sentences: what is in the way and what to do first (the API's words), and where."""
    rows = []
    for blocker in blockers:
        if not isinstance(blocker, Mapping):
            continue
        code = str(blocker.get("code", ""))
        message = str(blocker.get("message") or BLOCKER_WORDS.get(code) or "Something still in progress is in the way.")
        rows.append({"code": code, "message": message, "to_do": WHERE_TO_DO_IT.get(code, "")})
    return rows


def blockers_of(details: Any) -> list[Any]:
    """The blockers of a refusal's details (409: `{"blockers": [...]}`)."""
    if isinstance(details, Mapping) and isinstance(details.get("blockers"), list):
        return list(details["blockers"])
    return []


def instant(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


def _who(entry: Mapping[str, Any], staff_names: Mapping[str, str]) -> str:
    role = "owner" if entry.get("role") == "owner" else str(entry.get("role") or "owner")
    staff_id = entry.get("staff_id")
    if not staff_id:
        return "An API key (acting as the owner)"
    name = staff_names.get(str(staff_id))
    return f"{name} ({role})" if name else f"A former member of staff ({role})"


def _result(entry: Mapping[str, Any]) -> str:
    """An audit entry's counts in words: erased and kept for an erasure, what was found for an export."""
    counts = entry.get("counts") or {}
    if not isinstance(counts, Mapping):
        return ""
    erased, kept = counts.get("erased"), counts.get("kept")
    if isinstance(erased, Mapping) or isinstance(kept, Mapping):
        parts = []
        erased_words = counts_in_words(erased if isinstance(erased, Mapping) else {})
        kept_words = counts_in_words(kept if isinstance(kept, Mapping) else {})
        parts.append("Erased " + ", ".join(erased_words) if erased_words else "Nothing to erase")
        if kept_words:
            parts.append("kept " + ", ".join(kept_words))
        return "; ".join(parts) + "."
    words = counts_in_words(counts)
    return "Found " + ", ".join(words) + "." if words else "Nothing found."


def request_rows(
    requests: Iterable[Mapping[str, Any]], staff_names: Mapping[str, str], when: When
) -> list[dict[str, str]]:
    """The past requests as the page lists them: when, what, whose data (masked), who asked, the result."""
    rows = []
    for entry in requests:
        at = instant(entry.get("at"))
        rows.append(
            {
                "when": when(at) if at else "",
                "what": REQUEST_KINDS.get(str(entry.get("kind")), str(entry.get("kind", ""))),
                "email_masked": str(entry.get("email_masked", "")),
                "who": _who(entry, staff_names),
                "result": _result(entry),
            }
        )
    return rows
