"""The development SMTP sink and the product's sender together: what smtp.send puts on the wire arrives in
the Maildir byte for byte, and the dev mailbox reads it back (text, HTML, invite), addresses outside ASCII
included."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from services.notifications.emails import rendering as emails
from services.notifications.emails import smtp
from services.notifications.emails.mailbox import read_messages
from shared.dev.smtp_sink import sink_controller
from tests.support.events import booking_confirmed
from tests.support.infra import free_port


@pytest.fixture
def maildir_sink(tmp_path, settings):
    port = free_port()
    controller = sink_controller(tmp_path / "mailbox", "127.0.0.1", port)
    controller.start()
    yield settings.with_overrides(smtp_host="127.0.0.1", smtp_port=port, mailbox_dir=str(tmp_path / "mailbox"))
    controller.stop()
    smtp.mailer.close()


def row_of(email: emails.RenderedEmail) -> dict:
    return {
        "id": uuid.uuid4(),
        "kind": email.kind,
        "to_address": email.to_address,
        "subject": email.subject,
        "text_body": email.text_body,
        "html_body": email.html_body,
        "from_name": email.from_name,
        "attachments": [a.to_json() for a in email.attachments],
    }


def test_sent_emails_land_in_the_maildir_as_sent_and_the_mailbox_page_reads_them(maildir_sink):
    confirmed = row_of(emails.booking_confirmed(booking_confirmed(email="ada@example.com").data))
    accented = row_of(emails.booking_confirmed(booking_confirmed(email="josé@exämple.com").data))
    wire = smtp.build_message(maildir_sink, confirmed)
    smtp.mailer.send(maildir_sink, wire)
    smtp.send(maildir_sink, accented)

    messages = {m["to"]: m for m in read_messages(maildir_sink.mailbox_dir)}
    assert set(messages) == {"ada@example.com", "josé@exämple.com"}
    for row in (confirmed, accented):
        got = messages[row["to_address"]]
        assert got["subject"] == row["subject"] and got["kind"] == "booking_confirmed"
        assert got["message_id"].startswith(f"<{row['id']}@")
        assert got["text"] == row["text_body"] and got["html"] == row["html_body"]
        [invite] = got["attachments"]
        assert (
            invite["method"] == "REQUEST"
            and invite["text"].splitlines() == row["attachments"][0]["content"].splitlines()
        )

    kept = [f.read_bytes() for f in (Path(maildir_sink.mailbox_dir) / "new").iterdir()]
    assert wire.data.replace(b"\r\n", b"\n") in kept, "kept byte for byte as sent (with Maildir's line ends)"
