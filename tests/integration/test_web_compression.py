"""Pages and our own assets travel compressed, through the gateway, to a browser that accepts gzip or deflate,
and as they are to one that does not (issue 14: each page of the flow at most 50 KB transferred)."""

from __future__ import annotations

import re

import pytest
from aiohttp.web import ContentCoding

from services.web.compression import accepted_coding, compressed, precompressed
from tests.integration.test_web_booking import site  # noqa: F401  (the gateway in front of the pages)

PAGE = "/c/urban-therapy"


async def stylesheet(site) -> str:
    resp = await site.get(PAGE, headers={"Accept-Encoding": "identity"})
    return re.search(r'href="(/assets/site\.[0-9a-f]{12}\.css)"', await resp.text()).group(1)


async def fetched(site, path: str, accept_encoding: str | None) -> tuple[dict, bytes, int]:
    """The headers, the body as decoded by the client, and the bytes that crossed the wire (Content-Length).
    `accept_encoding` None: no such header at all (the test client would otherwise add its own)."""
    if accept_encoding is None:
        resp = await site.get(path, skip_auto_headers=["Accept-Encoding"])
    else:
        resp = await site.get(path, headers={"Accept-Encoding": accept_encoding})
    body = await resp.read()
    assert resp.status == 200, body[:300]
    return resp.headers, body, int(resp.headers["Content-Length"])


@pytest.mark.parametrize("accept_encoding, coding", [("gzip, deflate, br, zstd", "gzip"), ("deflate", "deflate")])
async def test_a_page_and_an_asset_are_compressed_for_a_client_that_accepts_it(site, accept_encoding, coding):
    for path in (PAGE, await stylesheet(site)):
        headers, body, sent = await fetched(site, path, accept_encoding)
        assert headers["Content-Encoding"] == coding, path
        assert sent < len(body) / 2, (path, sent, len(body))  # text shrinks well
        assert "Accept-Encoding" in headers["Vary"]
    assert b"Urban Therapy Clinic, London" in (await fetched(site, PAGE, accept_encoding))[1]


# None: the header left out, which the gateway must not fill in with its own (it passes bodies on undecoded).
@pytest.mark.parametrize("accept_encoding", [None, "identity", "gzip;q=0, deflate;q=0.0", ""])
async def test_a_client_that_does_not_accept_it_gets_the_body_as_it_is(site, accept_encoding):
    for path in (PAGE, await stylesheet(site)):
        headers, body, sent = await fetched(site, path, accept_encoding)
        assert "Content-Encoding" not in headers and sent == len(body), path
        assert "Accept-Encoding" in headers["Vary"]


async def test_an_asset_goes_out_as_compressed_once_at_start_up(site):
    path = await stylesheet(site)
    for coding in (ContentCoding.gzip, ContentCoding.deflate):
        headers, body, sent = await fetched(site, path, coding.value)
        assert sent == len(precompressed(body)[coding]) < len(compressed(body, coding)), coding  # best level, not 1


async def test_head_says_how_the_get_would_come(site):
    head = await site.head(PAGE, headers={"Accept-Encoding": "gzip"})
    assert head.status == 200 and head.headers["Content-Encoding"] == "gzip" and not await head.read()


def test_which_coding_a_client_gets():
    assert accepted_coding("gzip, deflate, br") is ContentCoding.gzip
    assert accepted_coding("br, deflate") is ContentCoding.deflate
    assert accepted_coding("GZIP;q=0.5") is ContentCoding.gzip
    assert accepted_coding("gzip;q=0, deflate") is ContentCoding.deflate
    assert accepted_coding("br") is None and accepted_coding("") is None
