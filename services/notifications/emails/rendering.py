"""Rendering emails from event data (pure: no I/O beyond reading the templates packaged beside it, templates/).

Every email has a text and an HTML part, is sent in the clinic's name, and shows times in the clinic's
zone with the zone named. Booking emails carry an .ics invite (see shared/ics.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import jinja2

from services.notifications.emails.reminders import DEFAULT_CLINIC_ZONE, BookingView
from services.notifications.settings import NotificationsSettings
from shared import gift_delivery, ics, money

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)
DEFAULT_MAIL_FROM = NotificationsSettings.mail_from


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # e.g. 'text/calendar; method=REQUEST'; text types only (content is a str)
    content: str

    def to_json(self) -> dict:
        return {"filename": self.filename, "content_type": self.content_type, "content": self.content}


@dataclass(frozen=True)
class RenderedEmail:
    kind: str
    to_address: str
    subject: str
    text_body: str
    html_body: str
    from_name: str | None = None  # the display name of the sender: the clinic
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class Brand:
    """Whose name an email goes out in, and whose clock it shows."""

    name: str
    timezone: str = DEFAULT_CLINIC_ZONE
    slug: str | None = None


def sender_name(mail_from: str) -> str:
    return parseaddr(mail_from)[0] or "Clinic bookings"


def sender_address(mail_from: str) -> str:
    return parseaddr(mail_from)[1]


def local_time_label(iso_utc: str | datetime, tz_name: str) -> str:
    """E.g. 'Tuesday 1 December 2026, 10:00 (Europe/London, GMT)': clinic wall time, zone named."""
    moment = datetime.fromisoformat(iso_utc) if isinstance(iso_utc, str) else iso_utc
    local = moment.astimezone(ZoneInfo(tz_name))
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} ({tz_name}, {local.tzname()})"


def date_label(day: date | datetime | str, tz_name: str = DEFAULT_CLINIC_ZONE) -> str:
    """E.g. 'Tuesday 1 December 2026'; a moment is first put in the clinic's zone."""
    if isinstance(day, str):
        day = datetime.fromisoformat(day) if "T" in day else date.fromisoformat(day)
    if isinstance(day, datetime):
        day = day.astimezone(ZoneInfo(tz_name)).date()
    return f"{day:%A} {day.day} {day:%B %Y}"


def offset_label(offset: timedelta) -> str:
    hours = int(offset.total_seconds() // 3600)
    if hours and hours % 24 == 0:
        days = hours // 24
        return "tomorrow" if days == 1 else f"in {days} days"
    return f"in {hours} hour{'s' if hours != 1 else ''}" if hours else f"in {int(offset.total_seconds() // 60)} minutes"


def _render(name: str, context: dict) -> tuple[str, str]:
    return _env.get_template(f"{name}.txt").render(context), _env.get_template(f"{name}.html").render(context)


# --- bookings ----------------------------------------------------------------------------------


def _session_label(data: dict) -> str | None:
    series = data.get("series")
    return f"course session {series['index'] + 1}" if series and series.get("index") is not None else None


def _invite(data: dict, changed_at: datetime | None, sequence: int | None, mail_from: str) -> ics.Invite:
    changed_at = changed_at or ics.SEQUENCE_EPOCH
    summary = f"{data['treatment']['name']} with {data['therapist']['name']}"
    description = f"Booking reference: {data['booking_id']}"
    if data.get("manage_url"):
        description += f"\nView, cancel or move this appointment: {data['manage_url']}"
    return ics.Invite(
        booking_id=data["booking_id"],
        start=datetime.fromisoformat(data["start"]),
        end=datetime.fromisoformat(data["end"]),
        changed_at=changed_at,
        sequence=ics.sequence_for(changed_at) if sequence is None else sequence,
        summary=summary,
        location=data["clinic"]["name"],
        description=description,
        organizer_name=data["clinic"]["name"],
        organizer_email=sender_address(mail_from),
        attendee_name=data["customer"]["name"],
        attendee_email=data["customer"]["email"],
        url=data.get("manage_url"),
    )


def _invite_attachment(method: str, content: str) -> Attachment:
    return Attachment("invite.ics" if method == "REQUEST" else "cancel.ics", f"text/calendar; method={method}", content)


def _booking_email(kind: str, subject: str, data: dict, context: dict, attachment: Attachment) -> RenderedEmail:
    text, html = _render(kind, context)
    return RenderedEmail(
        kind=kind,
        to_address=data["customer"]["email"],
        subject=subject,
        text_body=text,
        html_body=html,
        from_name=data["clinic"]["name"],
        attachments=(attachment,),
    )


def _fee_due(fee: dict | None, kind: str) -> str | None:
    """'£20.00' when the event carries a fee of this kind."""
    if not fee or fee.get("kind") != kind:
        return None
    return money.money(fee["amount"]["amount"], fee["amount"]["currency"])


def booking_confirmed(
    data: dict, *, changed_at: datetime | None = None, sequence: int | None = None, mail_from: str = DEFAULT_MAIL_FROM
) -> RenderedEmail:
    """`changed_at` is the event's time (the invite's DTSTAMP); `sequence` orders this invite among the others
    of the same booking (by default derived from `changed_at`)."""
    tz = data["clinic"]["timezone"]
    session = _session_label(data)
    context = {
        **data,
        "when": local_time_label(data["start"], tz),
        "session": session,
        "voucher_paid": money.voucher_paid(data.get("voucher")),
        # A phone booking the clinic made to be paid on the day (issue 18).
        "pay_at_clinic": data.get("payment") == "at_clinic",
        "price_label": money.money(data["price"]["amount"], data["price"]["currency"]),
        # A deposit paid now and the rest at the clinic (issue 20): "Paid: £13.00 deposit. To pay at the clinic: …"
        "deposit_paid": None
        if data.get("payment") == "at_clinic"
        else money.deposit_paid(
            # A session's price is not what the card paid for the course: only the amount due is said.
            None
            if data.get("series")
            else money.card_part(data["price"], data.get("voucher"), data.get("due_at_clinic")),
            data.get("due_at_clinic"),
            course=bool(data.get("series")),
        ),
        # The booking's payment policy in the words shown before booking (issue 20): a deposit, "card saved only",
        # a no-show or late-cancellation fee. Absent for a plain pay-in-full booking.
        "policy_words": data.get("payment_policy_words"),
    }
    what = f"{data['treatment']['name']}, {session}" if session else data["treatment"]["name"]
    return _booking_email(
        "booking_confirmed",
        f"Booking confirmed: {what}, {context['when']}",
        data,
        context,
        _invite_attachment("REQUEST", ics.request(_invite(data, changed_at, sequence, mail_from))),
    )


def booking_rescheduled(
    data: dict, *, changed_at: datetime | None = None, sequence: int | None = None, mail_from: str = DEFAULT_MAIL_FROM
) -> RenderedEmail:
    tz = data["clinic"]["timezone"]
    previous = data["previous"]
    context = {
        **data,
        "when": local_time_label(data["start"], tz),
        "session": _session_label(data),
        "previous_when": local_time_label(previous["start"], tz),
        "previous_therapist": (previous.get("therapist") or {}).get("name"),
        "by_clinic": data.get("rescheduled_by") == "clinic",
    }
    return _booking_email(
        "booking_rescheduled",
        f"Booking moved: {data['treatment']['name']}, now {context['when']}",
        data,
        context,
        _invite_attachment("REQUEST", ics.request(_invite(data, changed_at, sequence, mail_from))),
    )


def booking_cancelled(
    data: dict, *, changed_at: datetime | None = None, sequence: int | None = None, mail_from: str = DEFAULT_MAIL_FROM
) -> RenderedEmail:
    tz = data["clinic"]["timezone"]
    context = {
        **data,
        "when": local_time_label(data["start"], tz),
        "session": _session_label(data),
        "by_clinic": data.get("cancelled_by") == "clinic",
        # The clinic's cancellation refunds in full whatever the window; a booking paid at the clinic had nothing
        # charged.
        "full_refund": data.get("refund") == "full",
        "paid_at_clinic": data.get("payment") == "at_clinic",
        # A customer's cancellation inside the change window, under a policy with a late-cancellation fee (issue 20).
        "late_fee": _fee_due(data.get("fee"), "late_cancellation"),
    }
    return _booking_email(
        "booking_cancelled",
        f"Booking cancelled: {data['treatment']['name']}, {context['when']}",
        data,
        context,
        _invite_attachment("CANCEL", ics.cancel(_invite(data, changed_at, sequence, mail_from))),
    )


def booking_payment_requested(data: dict) -> RenderedEmail:
    """A booking the clinic made by phone, to be paid online: the link (the customer's manage link, whose page
    takes the payment) and the time by which it must be paid, else the time is let go. No invite yet: the
    confirmation email brings it once paid."""
    tz = data["clinic"]["timezone"]
    # Under the treatment's payment policy (issue 20) the card pays what is not due at the clinic: a deposit, or
    # nothing when the card is only saved (then the link saves it); in full, the price.
    due_at_clinic = data.get("due_at_clinic")
    now = money.card_part(data["price"], data.get("voucher"), due_at_clinic)
    at_clinic = due_at_clinic if due_at_clinic and due_at_clinic.get("amount", 0) > 0 else None
    context = {
        **data,
        "when": local_time_label(data["start"], tz),
        "pay_by": local_time_label(data["expires_at"], tz),
        "price_label": money.money(data["price"]["amount"], data["price"]["currency"]),
        "pay_now_label": money.money(now["amount"], now["currency"]),
        "at_clinic_label": money.money(at_clinic["amount"], at_clinic["currency"]) if at_clinic else None,
        "save_card": at_clinic is not None and now["amount"] == 0,
        "policy_words": data.get("payment_policy_words"),
    }
    text, html = _render("booking_payment_requested", context)
    ask = "Please save your card" if context["save_card"] else "Please pay"
    return RenderedEmail(
        kind="booking_payment_requested",
        to_address=data["customer"]["email"],
        subject=f"{ask} to confirm your booking: {data['treatment']['name']}, {context['when']}",
        text_body=text,
        html_body=html,
        from_name=data["clinic"]["name"],
    )


def booking_reminder(booking: BookingView, offset: timedelta) -> RenderedEmail:
    when = local_time_label(booking.start, booking.clinic_timezone)
    context = {"booking": booking, "when": when, "soon": offset_label(offset)}
    text, html = _render("booking_reminder", context)
    return RenderedEmail(
        kind="booking_reminder",
        to_address=booking.customer_email,
        subject=f"Reminder: {booking.treatment_name} {offset_label(offset)}, {when}",
        text_body=text,
        html_body=html,
        from_name=booking.clinic_name,
    )


# --- money ---------------------------------------------------------------------------------------

REFUND_REASONS = {
    "slot_taken_after_hold_expired": "Your payment arrived after your reserved time had been released, and "
    "someone else has since booked it, so we could not confirm your booking.",
    "booking_gone": "The booking this payment was for no longer exists, so nothing was booked.",
    "cancelled_by_customer": "This is for the appointment you cancelled.",
    "cancelled_by_clinic": "This is a full refund for the appointment we cancelled.",
    "booking_never_written": "Your booking could not be completed, so nothing was booked.",
}


def _visit(visit: "BookingView | None") -> dict | None:
    """Which visit an email about money is for (None when we do not know it): treatment, therapist, when."""
    if visit is None:
        return None
    return {
        "treatment": visit.treatment_name,
        "therapist": visit.therapist_name,
        "when": local_time_label(visit.start, visit.clinic_timezone),
    }


def payment_refunded(data: dict, brand: Brand, visit: "BookingView | None" = None) -> RenderedEmail:
    """In the clinic's name, to the customer by name, saying which visit it was for when we know it."""
    context = {
        "amount": money.money(data["amount"]["amount"], data["amount"]["currency"]),
        "reason": REFUND_REASONS.get(data["reason"], ""),
        "payment_id": data["payment_id"],
        "clinic": brand,
        "customer_name": visit.customer_name if visit else None,
        "visit": _visit(visit),
    }
    text, html = _render("payment_refunded", context)
    subject = f"Refund of {context['amount']} from {brand.name}"
    return RenderedEmail(
        kind="payment_refunded",
        to_address=data["customer_email"],
        subject=subject,
        text_body=text,
        html_body=html,
        from_name=brand.name,
    )


# --- fees (issue 20) -----------------------------------------------------------------------------

FEE_WORDS = {"no_show": "no-show fee", "late_cancellation": "late-cancellation fee"}
FEE_REASONS = {
    "no_show": "The appointment was missed, and the clinic's payment policy, agreed when booking, charges a no-show "
    "fee.",
    "late_cancellation": "The appointment was cancelled too close to its time, and the clinic's payment policy, "
    "agreed when booking, charges a late-cancellation fee.",
}


def fee_pay_url(public_url: str, data: dict) -> str | None:
    """The failed fee's pay page, `/fees/{fee_id}?token=…` (None if the event carries no token)."""
    if not data.get("pay_token"):
        return None
    return f"{public_url}/fees/{data['fee_id']}?{urlencode({'token': data['pay_token']})}"


def _sentence(words: str | None) -> str:
    """The failure as payments words it, as a sentence: 'Your bank declined the charge.'"""
    words = (words or "").strip()
    if not words:
        return ""
    words = words[0].upper() + words[1:]
    return words if words[-1] in ".!?" else words + "."


def _fee_context(data: dict, brand: Brand, visit: BookingView | None) -> dict:
    fee = FEE_WORDS.get(data["kind"], "fee")
    context = {
        "fee": fee,
        "reason": FEE_REASONS.get(data["kind"], ""),
        "amount": money.money(data["amount"]["amount"], data["amount"]["currency"]),
        "fee_id": data["fee_id"],
        "booking_id": data["booking_id"],
        "clinic": brand,
        "customer_name": visit.customer_name if visit else None,
        "visit": _visit(visit),
    }
    return context


def _fee_email(kind: str, subject: str, to_address: str, context: dict, brand: Brand) -> RenderedEmail:
    text, html = _render(kind, context)
    return RenderedEmail(
        kind=kind, to_address=to_address, subject=subject, text_body=text, html_body=html, from_name=brand.name
    )


def fee_charged(data: dict, brand: Brand, visit: BookingView | None, *, to_address: str) -> RenderedEmail:
    """The receipt for a booking's fee: charged to the saved card (`via` off_session), or paid by the customer
    from the pay link (`via` pay_link). In the clinic's name, to the customer by name, naming the visit."""
    context = {**_fee_context(data, brand, visit), "via_pay_link": data.get("via") == "pay_link"}
    return _fee_email(
        "fee_charged", f"Receipt: {context['fee']} of {context['amount']}, {brand.name}", to_address, context, brand
    )


def fee_failed(
    data: dict, brand: Brand, visit: BookingView | None, *, to_address: str, pay_url: str | None
) -> RenderedEmail:
    """A fee the saved card did not pay: why, in words, and the link to pay it (its token: in this email only)."""
    context = {**_fee_context(data, brand, visit), "failure": _sentence(data.get("failure")), "pay_url": pay_url}
    return _fee_email(
        "fee_failed",
        f"Please pay the {context['fee']} of {context['amount']}, {brand.name}",
        to_address,
        context,
        brand,
    )


# --- gift vouchers -------------------------------------------------------------------------------


def gift_change_url(public_url: str, data: dict) -> str | None:
    """The receipt's link to change the recipient's email or the day (older events carry no token)."""
    if not data.get("buyer_token"):
        return None
    return f"{public_url}/vouchers/{data['voucher_id']}/change?{urlencode({'token': data['buyer_token']})}"


def voucher_receipt(data: dict, brand: Brand, bought_at: datetime, *, change_url: str | None = None) -> RenderedEmail:
    """To the buyer, on purchase (`bought_at`: when the payment succeeded). It says when the gift goes, in
    the words the voucher pages use. The event carries no code, and neither does this email."""
    deliver_on = date.fromisoformat(data["deliver_on"])
    context = {
        **data,
        "clinic": brand,
        "price_label": money.money(data["price"]["amount"], data["price"]["currency"]),
        "deliver_on_label": date_label(deliver_on),
        "delivery_in_words": gift_delivery.in_words(
            data["recipient"]["name"], deliver_on, ZoneInfo(brand.timezone), bought_at
        ),
        "change_url": change_url,
        "expires_label": date_label(data["expires_at"], brand.timezone),
    }
    text, html = _render("voucher_receipt", context)
    return RenderedEmail(
        kind="voucher_receipt",
        to_address=data["buyer"]["email"],
        subject=f"Your gift voucher for {data['recipient']['name']}: receipt from {brand.name}",
        text_body=text,
        html_body=html,
        from_name=brand.name,
    )


def book_url(public_url: str, brand: Brand) -> str:
    return f"{public_url}/c/{brand.slug}/book" if brand.slug else f"{public_url}/"


def balance_url(public_url: str) -> str:
    return f"{public_url}/vouchers/balance"


def gift_links(public_url: str, brand: Brand, delivery: dict) -> dict[str, str]:
    """The gift email's links. The printable voucher and "book with this voucher" carry the holder's token,
    never the code: the pages fetch the code with it (a code in a URL would reach logs and Referer)."""
    held = f"{public_url}/vouchers/{delivery['voucher_id']}"
    token = urlencode({"token": delivery["holder_token"]})
    return {
        "book_url": book_url(public_url, brand),
        "balance_url": balance_url(public_url),
        "voucher_url": f"{held}?{token}",
        "book_with_url": f"{held}/book?{token}",
    }


def voucher_gift(
    delivery: dict, brand: Brand, *, book_url: str, balance_url: str, voucher_url: str, book_with_url: str
) -> RenderedEmail:
    """To the recipient on the delivery date, with the code: rendered at send time, never stored."""
    context = {
        **delivery,
        "clinic": brand,
        "value_label": money.voucher_value(delivery["remaining"]),
        "expires_label": date_label(delivery["expires_at"], brand.timezone),
        "book_url": book_url,
        "balance_url": balance_url,
        "voucher_url": voucher_url,
        "book_with_url": book_with_url,
    }
    text, html = _render("voucher_gift", context)
    return RenderedEmail(
        kind="voucher_gift",
        to_address=delivery["recipient"]["email"],
        subject=f"{delivery['buyer_name']} has sent you a gift voucher for {brand.name}",
        text_body=text,
        html_body=html,
        from_name=brand.name,
    )


def voucher_expiring(data: dict, brand: Brand, *, book_url: str) -> RenderedEmail:
    """To the recipient, a month before expiry; no code (the event has only its last characters)."""
    context = {
        **data,
        "clinic": brand,
        "value_label": money.voucher_value(data["remaining"]),
        "expires_label": date_label(data["expires_at"], brand.timezone),
        "book_url": book_url,
    }
    text, html = _render("voucher_expiring", context)
    return RenderedEmail(
        kind="voucher_expiring",
        to_address=data["recipient"]["email"],
        subject=f"Your {brand.name} gift voucher expires on {context['expires_label']}",
        text_body=text,
        html_body=html,
        from_name=brand.name,
    )


# --- the waitlist -------------------------------------------------------------------------------

WEEKDAY_WORDS = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")
# The parts of the day as the waitlist takes them (times the clinic's wall clock shows when the visit starts).
TIME_OF_DAY_WORDS = {
    "morning": "mornings (before 12:00)",
    "afternoon": "afternoons (12:00 to 17:00)",
    "evening": "evenings (from 17:00)",
}


def _or_list(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def weekdays_in_words(weekdays: list[int] | None) -> str:
    """E.g. 'Mondays or Wednesdays' (0 = Monday); none chosen: 'Any day'."""
    if not weekdays:
        return "Any day"
    return _or_list([WEEKDAY_WORDS[d] for d in sorted(set(weekdays))])


def times_of_day_in_words(times_of_day: list[str] | None) -> str:
    """E.g. 'Mornings (before 12:00) or evenings (from 17:00)'; none chosen: 'Any time'."""
    if not times_of_day:
        return "Any time"
    chosen = [TIME_OF_DAY_WORDS[t] for t in TIME_OF_DAY_WORDS if t in times_of_day]
    words = _or_list(chosen)
    return words[:1].upper() + words[1:]


def waitlist_joined(data: dict) -> RenderedEmail:
    """To the customer who joined a clinic's waitlist: what they asked for, in words (nothing chosen: any), and
    the link to leave it."""
    therapist = data["therapist"]
    context = {
        **data,
        "therapist_words": therapist["name"] if therapist else "Any therapist",
        "days_words": weekdays_in_words(data["weekdays"]),
        "times_words": times_of_day_in_words(data["times_of_day"]),
    }
    text, html = _render("waitlist_joined", context)
    return RenderedEmail(
        kind="waitlist_joined",
        to_address=data["customer"]["email"],
        subject=f"You're on the waitlist for {data['treatment']['name']} at {data['clinic']['name']}",
        text_body=text,
        html_body=html,
        from_name=data["clinic"]["name"],
    )


def waitlist_offered(data: dict) -> RenderedEmail:
    """To the first customer waiting whose wishes a freed time matches: the time (held for them until
    `expires_at`), the link into the booking flow for it, and the link to leave the waitlist. Both links carry
    the customer's token: they are in this email and nowhere else."""
    tz = data["clinic"]["timezone"]
    context = {
        **data,
        "when": local_time_label(data["start"], tz),
        "held_until": local_time_label(data["expires_at"], tz),
    }
    text, html = _render("waitlist_offered", context)
    return RenderedEmail(
        kind="waitlist_offered",
        to_address=data["customer"]["email"],
        subject=(
            f"A time has come up: {data['treatment']['name']} with {data['therapist']['name']}, {context['when']}"
        ),
        text_body=text,
        html_body=html,
        from_name=data["clinic"]["name"],
    )


# --- staff accounts ------------------------------------------------------------------------------

ROLE_WORDS = {
    "owner": "as an owner: you can run everything, from the diary and bookings to the catalogue, settings, staff "
    "and integrations",
    "staff": "as reception staff: you can run the diary, bookings and vouchers",
}


def staff_invited(data: dict, *, public_url: str) -> RenderedEmail:
    """To an invited staff member, or a new clinic's owner (`new_clinic`): the one-time link to set a password.
    The link is a secret: it is in this email and nowhere else."""
    clinic = data["clinic"]
    context = {
        **data,
        "role_words": ROLE_WORDS.get(data["role"], ROLE_WORDS["staff"]),
        "expires_label": local_time_label(data["expires_at"], clinic["timezone"]),
        "sign_in_url": f"{public_url}/clinic/sign-in",
    }
    text, html = _render("staff_invited", context)
    subject = (
        f"{clinic['name']} is ready: set your password"
        if data.get("new_clinic")
        else f"You are invited to {clinic['name']}: set your password"
    )
    return RenderedEmail(
        kind="staff_invited",
        to_address=data["email"],
        subject=subject,
        text_body=text,
        html_body=html,
        from_name=clinic["name"],
    )
