"""Text answers (pages, CSS, JavaScript, JSON) compressed for clients that accept gzip or deflate: a page of
the booking flow shrinks to a fraction, and its weight is what a customer on a phone waits for. The gateway
passes the encoding through as it is (its proxy never decompresses)."""

from __future__ import annotations

import re
import zlib

from aiohttp import hdrs, web
from aiohttp.web import ContentCoding

# Below this the saving is a few hundred bytes at most: the answer fits in one TCP segment either way.
MIN_BYTES = 1024
# Up to this, compressed in the event loop: a week's booking page (~40 KB) takes ~0.05 ms, less than handing it
# to a thread as aiohttp's enable_compression() does for bodies over 4 KiB. Larger ones go to that thread.
IN_LOOP_MAX_BYTES = 256 * 1024
# nginx's default: on our pages 2-3x faster than zlib's default (6) for ~10% more bytes (2.6 KB vs 2.3 KB a week).
LEVEL = 1
TEXT_TYPES = frozenset({"application/javascript", "application/json", "image/svg+xml"})
# gzip first: "deflate" was long sent raw by some servers and misread by some clients.
PREFERRED = (ContentCoding.gzip, ContentCoding.deflate)
REFUSED = re.compile(r"\bq\s*=\s*0(\.0*)?\s*$")  # "gzip;q=0" says the client does not want it
# The body of a response already compressed, by coding (see precompressed()).
PRECOMPRESSED = web.ResponseKey("precompressed", dict)


def accepted_coding(accept_encoding: str) -> ContentCoding | None:
    """gzip, else deflate, if the Accept-Encoding header allows it; None: send the body as it is."""
    accepted = set()
    for item in accept_encoding.lower().split(","):
        name, _, params = item.partition(";")
        if not REFUSED.search(params):
            accepted.add(name.strip())
    return next((coding for coding in PREFERRED if coding.value in accepted), None)


def compressible(response: web.StreamResponse) -> bool:
    """A whole text body worth compressing. Streamed bodies (a payload, or a response the handler has
    already started sending) go out as they are."""
    return (
        isinstance(response, web.Response)
        and not response.prepared
        and isinstance(response.body, bytes)
        and len(response.body) >= MIN_BYTES
        and hdrs.CONTENT_ENCODING not in response.headers
        and (response.content_type.startswith("text/") or response.content_type in TEXT_TYPES)
    )


def compressed(body: bytes, coding: ContentCoding, level: int = LEVEL) -> bytes:
    compressor = zlib.compressobj(level, wbits=16 + zlib.MAX_WBITS if coding is ContentCoding.gzip else zlib.MAX_WBITS)
    return compressor.compress(body) + compressor.flush()


def precompressed(body: bytes) -> dict[ContentCoding, bytes]:
    """A body that never changes (our content-hashed assets), compressed once in each coding at zlib's best
    level, for a response to carry as PRECOMPRESSED: every request of it then costs no compression at all."""
    return {coding: compressed(body, coding, zlib.Z_BEST_COMPRESSION) for coding in PREFERRED}


def compress(response: web.Response, coding: ContentCoding) -> None:
    ready = response.get(PRECOMPRESSED, {})
    if coding not in ready and len(response.body) > IN_LOOP_MAX_BYTES:
        response.enable_compression(coding)
        return
    response.body = ready.get(coding) or compressed(response.body, coding)  # and its Content-Length
    response.headers[hdrs.CONTENT_ENCODING] = coding.value


@web.middleware
async def compression_middleware(request: web.Request, handler):
    response = await handler(request)
    if compressible(response):
        # Whichever way this answer goes out, a cache must not give it to a client that asked otherwise.
        response.headers.add(hdrs.VARY, hdrs.ACCEPT_ENCODING)
        coding = accepted_coding(request.headers.get(hdrs.ACCEPT_ENCODING, ""))
        if coding is not None:
            compress(response, coding)  # a HEAD answer says the same length and encoding, without the body
    return response
