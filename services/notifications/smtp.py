"""Sending one email over SMTP (the local sink offline, a real server when SMTP_HOST is set)."""
from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate

from shared.config import Settings

SMTP_TIMEOUT = 15


def build_message(settings: Settings, row) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = row["to_address"]
    msg["Subject"] = row["subject"]
    msg["Date"] = formatdate(localtime=False)
    # Stable per email row: a receiving system can drop a duplicate delivery.
    msg["Message-ID"] = f"<{row['id']}@{settings.mail_from.rsplit('@', 1)[-1].rstrip('>')}>"
    msg["X-Clinic-Email-Kind"] = row["kind"]
    msg.set_content(row["text_body"])
    if row["html_body"]:
        msg.add_alternative(row["html_body"], subtype="html")
    return msg


def send(settings: Settings, row) -> None:
    msg = build_message(settings, row)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT) as client:
        if settings.smtp_starttls:
            client.starttls()
        if settings.smtp_user:
            client.login(settings.smtp_user, settings.smtp_password)
        client.send_message(msg)
