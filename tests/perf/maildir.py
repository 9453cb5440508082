"""The SMTP sink's Maildir, read as emails arrive: which email row (by its Message-ID) landed when."""

from __future__ import annotations

import re
from email.parser import BytesHeaderParser
from pathlib import Path

MESSAGE_ID = re.compile(r"<([0-9a-fA-F-]{36})@")


class MaildirWatcher:
    """Maps email row ids (from each message's Message-ID) to the arrival time of its Maildir file."""

    def __init__(self, root: Path):
        self.root = root
        self.seen: set[Path] = set()
        self.arrivals: dict[str, float] = {}
        self.parser = BytesHeaderParser()

    def scan(self) -> None:
        for sub in ("new", "cur"):
            folder = self.root / sub
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                if path in self.seen or not path.is_file():
                    continue
                try:
                    with path.open("rb") as fh:
                        headers = self.parser.parse(fh)
                    mtime = path.stat().st_mtime_ns / 1e9
                except FileNotFoundError:  # moved new/ -> cur/ by a reader meanwhile
                    continue
                self.seen.add(path)
                if match := MESSAGE_ID.search(headers.get("Message-ID", "")):
                    self.arrivals[match.group(1).lower()] = mtime
