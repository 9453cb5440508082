"""A clinic names the websites that may frame its booking pages (PATCH /api/v1/clinic/settings, through the
gateway, with its API key); the public clinic JSON shows them; only origins, a few, are accepted."""

from __future__ import annotations

import asyncpg
import pytest

from services.booking.schemas import MAX_EMBED_ORIGINS
from tests.support.clinic_api import bearer

SETTINGS = "/api/v1/clinic/settings"


async def change(gateway, key: str, body, status: int = 200) -> dict:
    """The answer to a change: the error, or (the settings object has every setting) the embed origins."""
    resp = await gateway.patch(SETTINGS, headers=bearer(key), json=body)
    assert resp.status == status, await resp.text()
    answer = await resp.json()
    return answer if status != 200 else {"embed_origins": answer["embed_origins"]}


async def origins_setting(gateway, key: str) -> dict:
    return {"embed_origins": (await (await gateway.get(SETTINGS, headers=bearer(key))).json())["embed_origins"]}


async def public_origins(gateway, slug: str) -> list[str]:
    return (await (await gateway.get(f"/api/v1/clinics/{slug}")).json())["embed_origins"]


async def test_the_seeded_clinics_let_nobody_frame_their_pages(gateway, keys):
    for slug, key in keys.items():
        assert await public_origins(gateway, slug) == []
        assert await origins_setting(gateway, key) == {"embed_origins": []}


async def test_a_clinic_allows_its_own_websites_and_only_its_clinic_changes(gateway, keys):
    wanted = ["https://www.urbantherapy.example", "HTTP://LOCALHOST:8000", "https://www.urbantherapy.example:443"]
    changed = await change(gateway, keys["urban-therapy"], {"embed_origins": wanted})
    kept = ["https://www.urbantherapy.example", "http://localhost:8000"]  # as browsers write them, once each
    assert changed == {"embed_origins": kept}
    assert await origins_setting(gateway, keys["urban-therapy"]) == changed
    assert await public_origins(gateway, "urban-therapy") == kept
    assert await public_origins(gateway, "spinecare") == []
    # A body without the field keeps it; an empty list allows nobody again.
    assert await change(gateway, keys["urban-therapy"], {}) == {"embed_origins": kept}
    assert await change(gateway, keys["urban-therapy"], {"embed_origins": []}) == {"embed_origins": []}


@pytest.mark.parametrize(
    "origins",
    [
        ["https://www.example.com/book"],
        ["https://*.example.com"],
        ["*"],
        ["'self'"],
        ["example.com"],
        ["ftp://example.com"],
        ["https://example.com:99999"],
        ["https://example.com\u0000"],
        ["https://exa\u0007mple.com"],
        ["https://example.com; script-src *"],
        ["https://" + "a" * 400 + ".example"],
        [""],
        [f"https://site{i}.example" for i in range(MAX_EMBED_ORIGINS + 1)],
        ["https://same.example"] * (MAX_EMBED_ORIGINS + 1),  # counted as sent, repeats too
        "https://example.com",
        [42],
    ],
)
async def test_anything_but_a_few_origins_is_refused_and_changes_nothing(gateway, keys, origins):
    before = await change(gateway, keys["urban-therapy"], {"embed_origins": ["https://kept.example"]})
    refused = await change(gateway, keys["urban-therapy"], {"embed_origins": origins}, status=422)
    assert refused["error"]["code"] == "validation_failed"
    assert refused["error"]["details"][0]["field"].startswith("embed_origins")
    assert await origins_setting(gateway, keys["urban-therapy"]) == before


async def test_other_fields_and_bodies_that_are_not_json_objects_are_refused(gateway, keys):
    unknown = await change(gateway, keys["urban-therapy"], {"embed_origins": [], "slug": "renamed"}, status=422)
    assert unknown["error"]["code"] == "validation_failed"
    resp = await gateway.patch(
        SETTINGS, headers=bearer(keys["urban-therapy"]), data=b"embed_origins=x", skip_auto_headers=["Content-Type"]
    )
    assert resp.status == 415 and (await resp.json())["error"]["code"] == "unsupported_media_type"


async def test_without_a_key_nothing_is_shown_or_changed(gateway):
    for resp in (await gateway.get(SETTINGS), await gateway.patch(SETTINGS, json={"embed_origins": []})):
        assert resp.status == 401 and (await resp.json())["error"]["code"] == "unauthorized"


async def test_the_database_refuses_what_could_not_be_a_header_origin(booking_pool):
    """Defence in depth under the API's check (migration 0005)."""
    for stored in (
        ["https://example.com/path"],
        ["https://a.example; script-src *"],
        [f"https://site{i}.example" for i in range(MAX_EMBED_ORIGINS + 1)],
    ):
        async with booking_pool.acquire() as conn:
            with pytest.raises(asyncpg.CheckViolationError):
                await conn.execute("UPDATE clinics SET embed_origins = $1 WHERE slug = 'urban-therapy'", stored)
