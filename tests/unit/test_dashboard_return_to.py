"""Where signing in goes back to: only a path of our own dashboard, never another site (an open redirect)."""

from __future__ import annotations

import pytest

from services.web.dashboard.return_to import safe_next


@pytest.mark.parametrize(
    "path", ["/clinic/settings", "/clinic/waitlist?done=removed", "/clinic/diary?day=2026-12-07&therapist=a%20b"]
)
def test_a_dashboard_page_is_gone_back_to(path):
    assert safe_next(path) == path


@pytest.mark.parametrize(
    "hostile",
    [
        None,
        "",
        42,
        "https://evil.example",
        "https://evil.example/clinic/settings",
        "//evil.example",
        "//evil.example/clinic/",
        "/\\evil.example",
        "/clinic/\\evil.example",
        "/clinic//evil.example",
        "/clinic/%2F%2Fevil.example",
        "/clinic/%5Cevil.example",
        "/clinic/../x",
        "/clinic/%2E%2E/x",
        "/clinic/./settings",
        "/clinic/settings\r\nSet-Cookie: x=1",
        "/clinic/settings%0d%0aX: y",
        "/clinic/settings\x00",
        "/clinic/settings\t",
        "/clinic/café",
        "/clinic/settings#top",
        "javascript:alert(1)",
        "/clinic",  # home: the default anyway
        "/elsewhere",
        "/clinic/sign-in",
        "/clinic/sign-in?next=/clinic/x",
        "/clinic/set-password",
        "/clinic/" + "a" * 2000,
    ],
)
def test_anything_else_is_refused(hostile):
    assert safe_next(hostile) is None
