"""The development mailbox: what the local SMTP sink caught, as JSON and as a page (served by the service's
dev routes, routes.py; the page's template is templates/dev_mailbox.html)."""

from __future__ import annotations

import email.policy
import mailbox
from email.message import EmailMessage
from pathlib import Path

import jinja2

MAX_MESSAGES = 1000
_pages = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True)


def _body(msg: EmailMessage, subtype: str) -> str | None:
    part = msg.get_body(preferencelist=(subtype,))
    return part.get_content() if part is not None else None


def _attachment(part: EmailMessage) -> dict:
    """An attachment as the page shows it: text (the .ics invite) in full, anything else by name only."""
    text = part.get_content() if part.get_content_maintype() == "text" else None
    return {
        "filename": part.get_filename(),
        "content_type": part.get_content_type(),
        "method": part.get_param("method"),
        "text": text,
    }


def read_messages(directory: str | Path) -> list[dict]:
    """Newest first. The sink writes a Maildir; a missing one is an empty mailbox."""
    path = Path(directory)
    if not path.is_dir():
        return []
    box = mailbox.Maildir(
        path, factory=lambda f: email.message_from_binary_file(f, policy=email.policy.default), create=False
    )
    found = []
    for key in box.iterkeys():
        file = path / "new" / key if (path / "new" / key).exists() else path / "cur" / key
        msg = box[key]
        found.append(
            {
                "id": key,
                "received_at": file.stat().st_mtime if file.exists() else None,
                "from": msg["From"],
                "to": msg["To"],
                "subject": msg["Subject"],
                "date": msg["Date"],
                "message_id": msg["Message-ID"],
                "kind": msg["X-Clinic-Email-Kind"],
                "text": _body(msg, "plain"),
                "html": _body(msg, "html"),
                "attachments": [_attachment(p) for p in msg.iter_attachments()],
            }
        )
    found.sort(key=lambda m: m["received_at"] or 0, reverse=True)
    return found[:MAX_MESSAGES]


def page(messages: list[dict]) -> str:
    """The mailbox page (HTML) showing `messages`."""
    return _pages.get_template("dev_mailbox.html").render(messages=messages)
