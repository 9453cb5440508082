"""Sending one email over SMTP (the local sink offline, a real server when SMTP_HOST is set)."""
from __future__ import annotations

import atexit
import smtplib
import threading
from email.message import EmailMessage
from email.utils import formatdate, formataddr, parseaddr
from typing import Mapping

from shared.config import Settings

SMTP_TIMEOUT = 15


def build_message(settings: Settings, row: Mapping) -> EmailMessage:
    """`row`: an emails row, or a mapping with the same fields for an email rendered at send time."""
    msg = EmailMessage()
    address = parseaddr(settings.mail_from)[1]
    # The clinic's name as the sender's name; the address stays ours (SPF/DKIM are ours to pass).
    msg["From"] = formataddr((row["from_name"], address)) if row.get("from_name") else settings.mail_from
    msg["To"] = row["to_address"]
    msg["Subject"] = row["subject"]
    msg["Date"] = formatdate(localtime=False)
    # Stable per email row: a receiving system can drop a duplicate delivery.
    msg["Message-ID"] = f"<{row['id']}@{address.rsplit('@', 1)[-1]}>"
    msg["X-Clinic-Email-Kind"] = row["kind"]
    msg.set_content(row["text_body"])
    if row["html_body"]:
        msg.add_alternative(row["html_body"], subtype="html")
    for attachment in row.get("attachments") or ():
        maintype, _, rest = attachment["content_type"].partition("/")
        subtype, *params = [p.strip() for p in rest.split(";")]
        if maintype != "text":
            raise ValueError(f"only text attachments are supported, not {attachment['content_type']}")
        msg.add_attachment(attachment["content"], subtype=subtype, filename=attachment["filename"],
                           params=dict(p.split("=", 1) for p in params if "=" in p))
    return msg


class Mailer:
    """One SMTP connection per worker process, reused from email to email (a new connection, handshake and
    login per email cost more than the email); reopened when the server has dropped it."""

    def __init__(self) -> None:
        self._client: smtplib.SMTP | None = None
        self._key: tuple | None = None
        self._lock = threading.Lock()

    def send(self, settings: Settings, msg) -> None:
        key = (settings.smtp_host, settings.smtp_port, settings.smtp_user, settings.smtp_starttls)
        with self._lock:
            for attempt in (1, 2):
                client = self._connection(settings, key)
                try:
                    client.send_message(msg)
                    return
                except (smtplib.SMTPServerDisconnected, ConnectionError):
                    self._drop()
                    if attempt == 2:
                        raise

    def _connection(self, settings: Settings, key: tuple) -> smtplib.SMTP:
        if self._client is not None and self._key != key:
            self._drop()
        if self._client is None:
            client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT)
            if settings.smtp_starttls:
                client.starttls()
            if settings.smtp_user:
                client.login(settings.smtp_user, settings.smtp_password)
            self._client, self._key = client, key
        return self._client

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            finally:
                self._client = None

    def reset(self) -> None:
        """After a fork: never share the parent's socket."""
        self._client, self._key = None, None


mailer = Mailer()
atexit.register(mailer.close)   # say goodbye to the server instead of leaving the socket to the collector


def send(settings: Settings, row: Mapping) -> None:
    mailer.send(settings, build_message(settings, row))
