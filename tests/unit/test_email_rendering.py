"""Rendering the booking, reminder and voucher emails (clinic's zone named, DST-correct, both parts, the
clinic's name), building the MIME message, and when reminders and gifts fall due."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta, timezone
from email import message_from_bytes
from email.policy import default as parsing_policy

from services.notifications.emails import reminders, smtp
from services.notifications.emails import rendering as emails
from services.notifications.settings import NotificationsSettings
from tests.support.notifications import booking_event, voucher_purchased

BST_SATURDAY = datetime(2026, 10, 24, 9, 0, tzinfo=timezone.utc)  # the day before the clocks go back
GMT_MONDAY = datetime(2026, 10, 26, 10, 0, tzinfo=timezone.utc)


def both_parts(email: emails.RenderedEmail) -> str:
    assert email.text_body.strip() and email.html_body.strip(), "every email has a text and an HTML part"
    return email.text_body + email.html_body


def test_reschedule_shows_new_and_previous_times_in_clinic_time_across_the_clock_change():
    event = booking_event("booking.rescheduled", start=GMT_MONDAY, previous_start=BST_SATURDAY)
    email = emails.booking_rescheduled(event.data, changed_at=BST_SATURDAY)
    body = both_parts(email)
    assert "Monday 26 October 2026, 10:00 (Europe/London, GMT)" in body
    assert "Saturday 24 October 2026, 10:00 (Europe/London, BST)" in body, "09:00 UTC was 10:00 BST"
    assert email.subject == (
        "Booking moved: Deep tissue massage (60 min), now Monday 26 October 2026, 10:00 (Europe/London, GMT)"
    )
    assert email.from_name == "Urban Therapy Clinic, London"
    assert event.data["manage_url"] in email.text_body


def test_cancellation_notice_has_both_parts_and_a_cancel_invite():
    email = emails.booking_cancelled(booking_event("booking.cancelled", start=GMT_MONDAY).data)
    body = both_parts(email)
    assert email.subject.startswith("Booking cancelled: Deep tissue massage (60 min), Monday 26 October 2026, 10:00")
    assert "As you asked, we have cancelled" in body and "Urban Therapy Clinic, London" in body
    assert [a.content_type for a in email.attachments] == ["text/calendar; method=CANCEL"]


def test_each_course_session_is_confirmed_with_its_number():
    event = booking_event(start=GMT_MONDAY, series={"id": str(uuid.uuid4()), "index": 1})
    email = emails.booking_confirmed(event.data)
    assert email.subject.startswith("Booking confirmed: Deep tissue massage (60 min), course session 2, Monday")
    assert "is confirmed (course session 2)" in email.text_body


def test_a_confirmation_says_what_a_voucher_paid_and_what_is_left_on_it():
    money_left = {
        "code_hint": "…WXYZ",
        "value": {"amount": 5000, "currency": "GBP"},
        "remaining": {"amount": 1000, "currency": "GBP"},
    }
    email = emails.booking_confirmed(booking_event(voucher=money_left).data)
    for body in (email.text_body, email.html_body):
        assert "Your gift voucher …WXYZ paid £50.00; £10.00 is left on it." in body
    sessions = {"code_hint": "…WXYZ", "value": {"amount": 34500, "currency": "GBP"}, "remaining": {"sessions": 0}}
    assert "nothing is left on it" in emails.booking_confirmed(booking_event(voucher=sessions).data).text_body
    assert "gift voucher" not in emails.booking_confirmed(booking_event().data).text_body


def test_reminder_is_in_clinic_time_and_says_how_soon():
    view = reminders.booking_view(booking_event(start=datetime(2026, 6, 2, 9, 0, tzinfo=timezone.utc)).data)
    day_before = emails.booking_reminder(view, timedelta(hours=24))
    two_hours = emails.booking_reminder(view, timedelta(hours=2))
    assert day_before.subject == (
        "Reminder: Deep tissue massage (60 min) tomorrow, Tuesday 2 June 2026, 10:00 (Europe/London, BST)"
    )
    assert "in 2 hours" in two_hours.subject
    assert "Amara Okafor" in both_parts(day_before) and view.manage_url in day_before.text_body
    assert day_before.to_address == "ada@example.com" and day_before.from_name == "Urban Therapy Clinic, London"


def test_voucher_receipt_goes_to_the_buyer_with_no_code():
    event = voucher_purchased(deliver_on="2026-12-24")
    brand = emails.Brand("Urban Therapy Clinic, London", "Europe/London", "urban-therapy")
    email = emails.voucher_receipt(event.data, brand, datetime(2026, 12, 4, 10, 0, tzinfo=timezone.utc))
    body = both_parts(email)
    assert email.to_address == "ada@example.com" and email.from_name == brand.name
    assert "Thursday 24 December 2026" in body and "Grace Hopper" in body and "£60.00" in body
    assert "will be emailed to Grace Hopper at 08:00 on Thursday 24 December (UK time)" in email.text_body
    assert "will be emailed to Grace Hopper at 08:00 on Thursday 24 December (UK time)" in email.html_body
    assert "Urban Therapy Clinic, London" in email.subject
    assert "WXYZ" not in body, "not even the code's last characters"


def test_gift_email_has_code_message_how_to_redeem_and_expiry_escaped_in_html():
    delivery = {
        "voucher_id": str(uuid.uuid4()),
        "clinic_id": "c",
        "title": "£60 gift voucher",
        "kind": "amount",
        "status": "active",
        "code": "ABCD-EFGH-JKLM-NPQR",
        "remaining": {"amount": 6000, "currency": "GBP"},
        "recipient": {"name": "Grace Hopper", "email": "grace@example.com"},
        "buyer_name": "Ada",
        "message": "Happy birthday! <3",
        "deliver_on": "2026-12-24",
        # 23:30 UTC on 31 March is 00:30 on 1 April in London (BST): the date shown is London's.
        "expires_at": "2028-03-31T23:30:00+00:00",
        "holder_token": "tok+en/=",
    }
    brand = emails.Brand("Urban Therapy Clinic, London", "Europe/London", "urban-therapy")
    email = emails.voucher_gift(delivery, brand, **emails.gift_links("https://x.example", brand, delivery))
    body = both_parts(email)
    assert email.to_address == "grace@example.com"
    assert "ABCD-EFGH-JKLM-NPQR" in email.text_body and "ABCD-EFGH-JKLM-NPQR" in email.html_body
    assert "Saturday 1 April 2028" in body and "£60.00" in body
    assert "enter the code with your details" in email.text_body.replace("\n", " ")
    assert "https://x.example/c/urban-therapy/book" in body
    # The printable voucher and "book with this voucher": the holder's token (URL-encoded), never the code.
    held = f"https://x.example/vouchers/{delivery['voucher_id']}"
    for link in (f"{held}?token=tok%2Ben%2F%3D", f"{held}/book?token=tok%2Ben%2F%3D"):
        assert link in email.text_body and link in email.html_body
    assert "Book with this voucher" in email.html_body
    assert not re.search(r"https?://\S*ABCD", body), "the code is in no link"
    assert "Happy birthday! &lt;3" in email.html_body and "Happy birthday! <3" in email.text_body
    assert email.subject == "Ada has sent you a gift voucher for Urban Therapy Clinic, London"


def test_expiry_reminder_names_the_voucher_by_its_last_characters_only():
    data = {
        "voucher_id": str(uuid.uuid4()),
        "title": "Deep tissue massage (60 min)",
        "code_hint": "…WXYZ",
        "expires_at": "2026-12-20T12:00:00+00:00",
        "remaining": {"sessions": 1},
        "recipient": {"name": "Grace Hopper", "email": "grace@example.com"},
    }
    email = emails.voucher_expiring(data, emails.Brand("SpineCare Clinic"), book_url="https://x.example/")
    body = both_parts(email)
    assert email.subject == "Your SpineCare Clinic gift voucher expires on Sunday 20 December 2026"
    assert "code ending …WXYZ" in body and "1 session" in body


def test_the_message_is_sent_in_the_clinics_name_with_the_invite_attached():
    event = booking_event()
    email = emails.booking_confirmed(event.data)
    row = {
        "id": uuid.uuid4(),
        "kind": email.kind,
        "to_address": email.to_address,
        "subject": email.subject,
        "text_body": email.text_body,
        "html_body": email.html_body,
        "from_name": email.from_name,
        "attachments": [a.to_json() for a in email.attachments],
    }
    envelope = smtp.build_message(NotificationsSettings(mail_from="Bookings <bookings@clinic.example>"), row)
    assert (envelope.sender, envelope.recipient, envelope.smtputf8) == (
        "bookings@clinic.example",
        "ada@example.com",
        False,
    )
    msg = message_from_bytes(envelope.data, policy=parsing_policy)
    assert msg["From"] == '"Urban Therapy Clinic, London" <bookings@clinic.example>'
    assert msg["Message-ID"] == f"<{row['id']}@clinic.example>" and msg["X-Clinic-Email-Kind"] == "booking_confirmed"
    assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None
    [invite] = msg.iter_attachments()
    assert invite.get_content_type() == "text/calendar" and invite.get_param("method") == "REQUEST"
    assert invite.get_filename() == "invite.ics" and "METHOD:REQUEST" in invite.get_content()


def _sent_row(**fields) -> dict:
    return {
        "id": uuid.uuid4(),
        "kind": "voucher_receipt",
        "to_address": "ada@example.com",
        "subject": "Receipt",
        "text_body": "Thank you.\n",
        "html_body": None,
        "from_name": None,
        "attachments": [],
        **fields,
    }


def test_names_and_subjects_outside_ascii_arrive_intact_and_the_message_stays_7_bit():
    row = _sent_row(from_name="Clínica Ñandú", subject="Your £60 gift voucher – thank you", text_body="Café 10:00\n")
    envelope = smtp.build_message(NotificationsSettings(mail_from="bookings@clinic.example"), row)
    assert not envelope.smtputf8 and envelope.data.isascii(), "encoded words and quoted-printable, no raw 8-bit"
    msg = message_from_bytes(envelope.data, policy=parsing_policy)
    assert msg["From"].addresses[0].display_name == "Clínica Ñandú"
    assert msg["Subject"] == "Your £60 gift voucher – thank you"
    assert msg.get_content_type() == "text/plain" and msg.get_content().splitlines() == ["Café 10:00"], (
        "no HTML: one text part"
    )


def test_plain_ascii_goes_as_it_is_and_an_overlong_line_is_encoded_to_stay_within_smtp_limits():
    long_line = "x" * 1200
    envelope = smtp.build_message(
        NotificationsSettings(mail_from="bookings@clinic.example"),
        _sent_row(text_body="Short lines only.\n", html_body=f"<p>{long_line}</p>\n"),
    )
    assert max(len(line) for line in envelope.data.split(b"\r\n")) <= 998
    msg = message_from_bytes(envelope.data, policy=parsing_policy)
    plain, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain["Content-Transfer-Encoding"] == "7bit" and html["Content-Transfer-Encoding"] == "quoted-printable"
    assert long_line in html.get_content()


def test_an_address_outside_ascii_is_sent_with_smtputf8():
    envelope = smtp.build_message(
        NotificationsSettings(mail_from="bookings@clinic.example"),
        _sent_row(to_address="josé@exämple.com", from_name="Clínica"),
    )
    assert envelope.smtputf8 and envelope.recipient == "josé@exämple.com"
    msg = message_from_bytes(envelope.data, policy=parsing_policy)
    assert msg["To"] == "josé@exämple.com" and msg["From"].addresses[0].display_name == "Clínica"


# --- when things fall due ------------------------------------------------------------------------


def test_reminders_are_planned_at_the_default_offsets_leaving_out_those_already_due():
    start = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
    planned = reminders.plan_reminders(start, now=start - timedelta(days=3))
    assert [(p.offset_minutes, p.due_at) for p in planned] == [
        (1440, start - timedelta(hours=24)),
        (120, start - timedelta(hours=2)),
    ]
    assert [p.offset_minutes for p in reminders.plan_reminders(start, now=start - timedelta(hours=3))] == [120]
    assert reminders.plan_reminders(start, now=start - timedelta(minutes=90)) == []
    assert reminders.plan_reminders(start, now=start - timedelta(hours=24)) == [
        reminders.PlannedReminder(timedelta(hours=2), start - timedelta(hours=2))
    ], "due exactly now is already due"


def test_a_due_reminder_is_obsolete_if_the_booking_was_cancelled_or_moved():
    start = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
    now = start - timedelta(hours=2)
    assert reminders.reminder_obsolete(start, "confirmed", start, now) is None
    assert reminders.reminder_obsolete(start, "cancelled", start, now) == "booking cancelled"
    assert reminders.reminder_obsolete(start, "confirmed", start + timedelta(days=1), now) == "booking moved"
    assert reminders.reminder_obsolete(start, None, None, now) == "booking unknown"
    assert reminders.reminder_obsolete(start, "confirmed", start, start) == "appointment already started"


def test_gift_is_due_on_the_delivery_date_morning_in_the_clinics_zone():
    assert reminders.gift_due_at(date(2026, 12, 24)) == datetime(2026, 12, 24, 8, 0, tzinfo=timezone.utc)
    # 29 March 2026: the clocks went forward at 01:00; 08:00 BST is 07:00 UTC.
    assert reminders.gift_due_at(date(2026, 3, 29)) == datetime(2026, 3, 29, 7, 0, tzinfo=timezone.utc)


def test_reminders_follow_the_clinics_own_offsets():
    from datetime import datetime, timedelta, timezone

    from services.notifications.emails.reminders import DEFAULT_REMINDER_OFFSETS, offsets_of, plan_reminders

    assert offsets_of({}) == DEFAULT_REMINDER_OFFSETS
    offsets = offsets_of({"reminder_offsets_minutes": [2880, 60]})
    start = datetime(2026, 12, 10, 10, tzinfo=timezone.utc)
    planned = plan_reminders(start, start - timedelta(days=5), offsets)
    assert [p.due_at for p in planned] == [start - timedelta(days=2), start - timedelta(hours=1)]
