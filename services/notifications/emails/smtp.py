"""Sending one email over SMTP (the local sink offline, a real server when SMTP_HOST is set)."""

from __future__ import annotations

import atexit
import email.policy
import smtplib
import threading
import uuid
from dataclasses import dataclass
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import formataddr, formatdate, parseaddr
from typing import Mapping

from services.notifications.settings import NotificationsSettings

SMTP_TIMEOUT = 15
# Kept connections per process: as many sends at once as a worker runs tasks; more wait their turn.
MAX_CONNECTIONS = 16

# Text parts outside ASCII in UTF-8 quoted-printable: readable in the raw message, 7-bit safe for any relay.
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP
_UTF8_QP.header_encoding = QP
MAX_7BIT_LINE = 998  # RFC 5322 2.1.1


class _Wire(Compat32):
    """compat32 generation, on the wire (CRLF line ends: smtplib sends bytes as they are), with the common
    case made cheap: a short ASCII header is written as it is, where compat32 puts every header through
    email.header.Header (the larger part of the message's CPU); anything else is folded by compat32."""

    def _fold(self, name, value, sanitize):
        if (
            isinstance(value, str)
            and value.isascii()
            and len(name) + len(value) + 2 <= self.max_line_length
            and "\n" not in value
            and "\r" not in value
        ):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)


_ASCII_WIRE = _Wire(linesep="\r\n")
_UTF8_WIRE = email.policy.SMTPUTF8


@dataclass(frozen=True)
class Envelope:
    sender: str
    recipient: str
    data: bytes
    smtputf8: bool  # an address outside ASCII: the server must speak SMTPUTF8 (RFC 6531)


def _text_part(content: str, subtype: str) -> MIMEText:
    if content.isascii() and max(map(len, content.splitlines()), default=0) <= MAX_7BIT_LINE:
        return MIMEText(content, subtype, "us-ascii")  # 7bit: sent as it is, nothing to encode
    return MIMEText(content, subtype, _UTF8_QP)


def _multipart(subtype: str, parts: list[Message]) -> MIMEMultipart:
    # A random boundary of our own: the generator would otherwise make one and search every part for it
    # with a freshly compiled regular expression. "=_" cannot occur in quoted-printable text.
    return MIMEMultipart(subtype, boundary=f"=_{uuid.uuid4().hex}", _subparts=parts)


def _attachment_part(attachment: Mapping) -> MIMEText:
    maintype, _, rest = attachment["content_type"].partition("/")
    subtype, *params = [p.strip() for p in rest.split(";")]
    if maintype != "text":
        raise ValueError(f"only text attachments are supported, not {attachment['content_type']}")
    part = _text_part(attachment["content"], subtype)
    for name, value in (p.split("=", 1) for p in params if "=" in p):
        part.set_param(name, value)
    part.add_header("Content-Disposition", "attachment", filename=attachment["filename"])
    return part


def build_message(settings: NotificationsSettings, row: Mapping) -> Envelope:
    """`row`: an emails row, or a mapping with the same fields for an email rendered at send time.

    Built with the email package's compat32 classes: the same MIME as EmailMessage's, at a fraction of the
    CPU (its header registry parses every header it is given), which a worker sending tens a second notices."""
    address = parseaddr(settings.mail_from)[1]
    smtputf8 = not (address.isascii() and row["to_address"].isascii())
    body: Message = _text_part(row["text_body"], "plain")
    if row["html_body"]:
        body = _multipart("alternative", [body, _text_part(row["html_body"], "html")])
    attachments = row.get("attachments") or ()
    msg: Message = body
    if attachments:
        msg = _multipart("mixed", [body, *(_attachment_part(a) for a in attachments)])
    # The clinic's name as the sender's name; the address stays ours (SPF/DKIM are ours to pass).
    if smtputf8:  # headers in UTF-8 as they are (RFC 6532)
        msg["From"] = formataddr((row["from_name"], address)) if row.get("from_name") else settings.mail_from
        msg["Subject"] = row["subject"]
    else:  # headers in ASCII, words outside it encoded (RFC 2047)
        msg["From"] = (
            formataddr((row["from_name"], address), charset="utf-8") if row.get("from_name") else settings.mail_from
        )
        msg["Subject"] = Header(row["subject"], "utf-8") if not row["subject"].isascii() else row["subject"]
    msg["To"] = row["to_address"]
    msg["Date"] = formatdate(localtime=False)
    # Stable per email row: a receiving system can drop a duplicate delivery.
    msg["Message-ID"] = f"<{row['id']}@{address.rsplit('@', 1)[-1]}>"
    msg["X-Clinic-Email-Kind"] = row["kind"]
    data = msg.as_bytes(policy=_UTF8_WIRE if smtputf8 else _ASCII_WIRE)
    return Envelope(address, row["to_address"], data, smtputf8)


class Mailer:
    """Kept SMTP connections, reused from email to email (a new connection, handshake and login per email
    cost more than the email): one per send in progress, up to MAX_CONNECTIONS, so sends from several
    threads go out side by side. A connection the server has dropped is replaced and the send tried again."""

    def __init__(self) -> None:
        self._idle: list[tuple[tuple, smtplib.SMTP]] = []
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._lock = threading.Lock()

    def send(self, settings: NotificationsSettings, envelope: Envelope) -> None:
        key = (settings.smtp_host, settings.smtp_port, settings.smtp_user, settings.smtp_starttls)
        options = ["SMTPUTF8", "BODY=8BITMIME"] if envelope.smtputf8 else []
        with self._slots:
            for attempt in (1, 2):
                client = self._take(settings, key)
                try:
                    client.sendmail(envelope.sender, [envelope.recipient], envelope.data, mail_options=options)
                except (smtplib.SMTPServerDisconnected, ConnectionError):
                    _close(client)
                    if attempt == 2:
                        raise
                    continue
                except BaseException:
                    _close(client)  # unknown state (e.g. a refused recipient mid-transaction): start afresh
                    raise
                with self._lock:
                    self._idle.append((key, client))
                return

    def _take(self, settings: NotificationsSettings, key: tuple) -> smtplib.SMTP:
        with self._lock:
            while self._idle:
                idle_key, client = self._idle.pop()
                if idle_key == key:
                    return client
                _close(client)
        client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT)
        try:
            if settings.smtp_starttls:
                client.starttls()
            if settings.smtp_user:
                client.login(settings.smtp_user, settings.smtp_password)
        except BaseException:
            _close(client)
            raise
        return client

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for _key, client in idle:
            _close(client)

    def reset(self) -> None:
        """After a fork: never share the parent's sockets, nor its locks (a parent thread may have held one)."""
        self.__init__()


def _close(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


mailer = Mailer()
atexit.register(mailer.close)  # say goodbye to the server instead of leaving the sockets to the collector


def send(settings: NotificationsSettings, row: Mapping) -> None:
    mailer.send(settings, build_message(settings, row))
