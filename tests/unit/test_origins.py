"""The origins a clinic may name as its own websites (shared/origins.py): scheme, host and port only."""

from __future__ import annotations

import pytest

from shared.origins import canonical_origin, origin_problem


@pytest.mark.parametrize(
    "given, kept",
    [
        ("https://www.example.com", "https://www.example.com"),
        ("http://localhost:8000", "http://localhost:8000"),
        ("http://127.0.0.1:5173", "http://127.0.0.1:5173"),
        ("HTTPS://Clinic.Example.co.uk", "https://clinic.example.co.uk"),
        ("https://example.com:443", "https://example.com"),  # the default port, as browsers write it
        ("http://example.com:80", "http://example.com"),
        ("https://xn--bcher-kva.example", "https://xn--bcher-kva.example"),  # an IDN, written as ASCII
    ],
)
def test_origins_are_accepted_as_a_browser_writes_them(given, kept):
    assert origin_problem(given) is None
    assert canonical_origin(given) == kept


@pytest.mark.parametrize(
    "given",
    [
        "https://www.example.com/",
        "https://www.example.com/book",
        "https://example.com?x=1",
        "https://example.com#top",
        "https://*.example.com",
        "*",
        "https://*",
        "'self'",
        "'none'",
        "https:",
        "example.com",
        "//example.com",
        "ftp://example.com",
        "javascript:alert(1)",
        "data:text/html,x",
        "https://user@example.com",
        "https://user:pw@example.com",
        "https://[::1]:8000",
        "https://exa mple.com",
        "https://example.com;script-src *",
        "https://example.com https://other.example",
        "https://example.com,https://other.example",
        "https://-example.com",
        "https://example-.com",
        "https://example..com",
        "https://example.com.",
        "https://example.com:0",
        "https://example.com:65536",
        "https://example.com:123456",
        "https://example.com:",
        "https://bücher.example",
        "https://\u212aelvin.example",  # the Kelvin sign lowers to an ASCII k
        "https://example.com\x00",
        "https://exam\x07ple.com",
        "https://example.com\n",
        "https://example.com\u2028",
        "https://" + "a" * 64 + ".example",
        "https://" + ".".join(["a" * 60] * 5) + ".example",
        "",
        " ",
    ],
)
def test_anything_but_an_origin_is_refused_in_words(given):
    problem = origin_problem(given)
    assert problem is not None and problem.startswith(("must be", "has a"))
