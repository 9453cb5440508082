"""Schemathesis against /openapi.json on the running stack (bounded), with data the spec allows and data
it forbids: no 5xx, forbidden data refused, and every answer — status, content type, headers, body — is
one the spec declares."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from services.booking import api_keys
from tests.support.infra import database_url

pytestmark = pytest.mark.e2e
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# negative_data_rejection: data the spec forbids (generated in the negative mode) must be refused with a 4xx.
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_headers_conformance,response_schema_conformance,negative_data_rejection"
)
MAX_EXAMPLES = 10
MAX_SECONDS = 90


async def clinic_key(stack_db: str) -> str:
    """An owner's API key of a clinic of the fuzzer's own: its writes (settings, hours, the catalogue) must not
    change the demo clinics the other tests of the session book at."""
    key, prefix = api_keys.generate()
    clinic_id = uuid.uuid4()
    conn = await asyncpg.connect(database_url(stack_db))
    try:
        await conn.execute(
            "INSERT INTO booking.clinics (id, slug, name, timezone) VALUES ($1, $2, 'Fuzzed Clinic', 'Europe/London')",
            clinic_id,
            f"fuzzed-{clinic_id.hex[:8]}",
        )
        await conn.execute(
            "INSERT INTO booking.api_keys (id, clinic_id, prefix, key_hash, name) "
            "VALUES ($1, $2, $3, $4, 'schemathesis')",
            uuid.uuid4(),
            clinic_id,
            prefix,
            api_keys.digest(key),
        )
    finally:
        await conn.close()
    return key


@pytest.mark.timeout(MAX_SECONDS + 60)
async def test_the_running_api_conforms_to_its_spec(stack, stack_db, tmp_path):
    key = await clinic_key(stack_db)
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{stack.url()}/openapi.json",
        "--url",
        stack.url(),
        "--checks",
        CHECKS,
        "--mode",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--max-time",
        str(MAX_SECONDS),
        "--seed",
        "20261125",
        "--generation-database",
        "none",
        "--request-timeout",
        "10",
        "--workers",
        "1",
        "--header",
        f"Authorization: Bearer {key}",
        "--no-color",
        "--warnings",
        "off",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    # One worker: concurrent generation threads have crashed the tool itself (a CPython AST error) here.
    # Run in tmp_path, so nothing the tool keeps lands in the repository.
    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, cwd=tmp_path, timeout=MAX_SECONDS + 45
    )
    assert done.returncode == 0, done.stdout[-15000:] + done.stderr[-3000:]
