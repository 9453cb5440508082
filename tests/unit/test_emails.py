from datetime import datetime, timezone

from services.notifications.emails.rendering import booking_confirmed, local_time_label
from tests.support.events import booking_confirmed as sample_event


def test_times_are_shown_in_clinic_time_with_the_zone_named():
    assert (
        local_time_label("2026-12-01T10:00:00+00:00", "Europe/London")
        == "Tuesday 1 December 2026, 10:00 (Europe/London, GMT)"
    )
    # Summer time: 09:00 UTC is 10:00 BST.
    assert (
        local_time_label("2026-06-02T09:00:00+00:00", "Europe/London")
        == "Tuesday 2 June 2026, 10:00 (Europe/London, BST)"
    )


def test_confirmation_email_has_text_and_html_and_escapes_names():
    event = sample_event(start=datetime(2026, 7, 1, 13, 30, tzinfo=timezone.utc))
    data = {**event.data, "customer": {"name": "<Bobby>", "email": "b@example.com"}}
    email = booking_confirmed(data)
    assert email.to_address == "b@example.com"
    assert "14:30 (Europe/London, BST)" in email.subject
    assert "Hello <Bobby>," in email.text_body
    assert "&lt;Bobby&gt;" in email.html_body and "<Bobby>" not in email.html_body
    assert "Amara Okafor" in email.text_body and data["booking_id"] in email.html_body


def test_confirmation_email_carries_the_manage_link():
    data = {**sample_event().data, "manage_url": "http://127.0.0.1:8080/manage/b1?token=t&x=1"}
    email = booking_confirmed(data)
    assert "To view, cancel or move this appointment: http://127.0.0.1:8080/manage/b1?token=t&x=1" in email.text_body
    assert 'href="http://127.0.0.1:8080/manage/b1?token=t&amp;x=1"' in email.html_body
