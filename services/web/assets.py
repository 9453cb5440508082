"""Our own CSS and JavaScript, served under content-hashed names so browsers may keep them for a year:
a changed file is a new name. Read and compressed once at start-up; nothing generated lands in git. The one
file other websites link to (the embed script in a clinic's own pages) keeps its plain name, so it is kept
minutes only."""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from aiohttp.web import ContentCoding

from services.web.compression import PRECOMPRESSED, precompressed

STATIC = Path(__file__).parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
# A change to a file under its plain name reaches the pages that link to it within this long.
SHORT_LIVED = "public, max-age=300"


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    compressed: dict[ContentCoding, bytes]  # by coding, made once at start-up (compression.precompressed)

    def response(self, cache_control: str) -> web.Response:
        response = web.Response(
            body=self.body, content_type=self.content_type, headers={"Cache-Control": cache_control}
        )
        response[PRECOMPRESSED] = self.compressed  # the compression middleware sends these as they are
        return response


class Assets:
    def __init__(self, folder: Path = STATIC):
        self._by_hashed: dict[str, Asset] = {}
        self._hashed: dict[str, str] = {}
        for path in sorted(folder.iterdir()):
            body = path.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:12]
            hashed = f"{path.stem}.{digest}{path.suffix}"
            self._hashed[path.name] = hashed
            self._by_hashed[hashed] = Asset(
                body, mimetypes.guess_type(path.name)[0] or "application/octet-stream", precompressed(body)
            )

    def url(self, name: str) -> str:
        """The URL of a static file by its plain name (`site.css` → `/assets/site.<hash>.css`)."""
        return f"/assets/{self._hashed[name]}"

    def response(self, hashed: str) -> web.Response:
        asset = self._by_hashed.get(hashed)
        if asset is None:
            raise web.HTTPNotFound()
        return asset.response(IMMUTABLE)

    def response_by_plain_name(self, name: str) -> web.Response:
        """A file under its plain name, for other websites' pages (they cannot follow our hashes)."""
        return self._by_hashed[self._hashed[name]].response(SHORT_LIVED)
