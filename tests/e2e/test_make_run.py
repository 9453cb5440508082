"""`make run` as a developer uses it: prints the URLs, serves the gateway, mails a booking, and
Ctrl-C (SIGINT to the terminal's process group) leaves no process behind."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import uuid

import aiohttp
import pytest

from tests.support.booking import BaseUrlClient, next_weekday
from tests.support.infra import database_url, drop_database, unique_name, wait_for
from tests.support.payments import book_and_pay_by_card
from tests.support.stack import HTTP_SERVICES, REPO_ROOT, STACK_MARKER, processes_with_marker, stack_env

pytestmark = pytest.mark.e2e


@pytest.fixture
async def fresh_database_name():
    name = unique_name("clinic_run")
    yield name
    await drop_database(name)


async def test_make_run_serves_mails_and_stops_cleanly_on_ctrl_c(fresh_database_name, stack_redis, tmp_path):
    # Its own Redis database: a Celery worker of the session's stack must not take this stack's tasks.
    env = stack_env(database_url(fresh_database_name), stack_redis.url.rsplit("/", 1)[0] + "/1", tmp_path)
    output = open(tmp_path / "make-run.log", "wb")
    make = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=REPO_ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    gateway = env["PUBLIC_URL"]
    address = f"run-{uuid.uuid4().hex[:8]}@example.com"
    try:
        async with aiohttp.ClientSession() as http:

            async def all_ready():
                assert make.poll() is None, (tmp_path / "make-run.log").read_text()[-3000:]
                try:
                    for service in HTTP_SERVICES:
                        async with http.get(f"http://127.0.0.1:{env[service.upper() + '_PORT']}/readyz") as resp:
                            if resp.status != 200:
                                return False
                    async with http.get(f"{gateway}/api/v1/clinics") as resp:
                        if resp.status != 200:
                            return False
                    async with http.get(f"{gateway}/") as resp:  # the shop's first page, from web
                        return resp.status == 200 and "Urban Therapy Clinic, London" in await resp.text()
                except aiohttp.ClientError:
                    return False

            await wait_for(all_ready, timeout=120, interval=0.2, what="make run to serve every service")
            await book_and_pay_by_card(
                BaseUrlClient(http, gateway),
                f"http://127.0.0.1:{env['FAKE_STRIPE_PORT']}",
                email=address,
                day=next_weekday(3),
            )

            async def mailed():
                async with http.get(f"{gateway}/dev/mailbox/messages") as resp:
                    return [m for m in (await resp.json())["messages"] if m["to"] == address]

            await wait_for(mailed, timeout=20, what="the confirmation email")
    finally:
        os.killpg(make.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        try:
            await asyncio.to_thread(make.wait, 30)
        finally:
            output.close()
            leftovers = await wait_for(lambda: _none_left(env[STACK_MARKER]), timeout=10, what="every process to exit")
            assert leftovers

    # Once every process is up (after their start-up logs), the addresses and the demo sign-ins again.
    printed = (tmp_path / "make-run.log").read_text()
    banner = printed[printed.index("Every service is up.") :]
    assert f"Shop:         {gateway}/ " in banner and f"Dashboard:    {gateway}/clinic" in banner
    assert f"Dev mailbox:  {gateway}/dev/mailbox" in banner and f"API docs:     {gateway}/docs" in banner
    assert re.search(r"Clinic API key for urban-therapy:  \S+", banner)
    assert re.search(r"Dashboard sign-in for urban-therapy:  \S+@\S+ / \S+", banner)
    before = printed[: printed.index("Every service is up.")]
    assert all(re.search(rf"^\S+ {service}\.1 +\| .*\"listening\"", before, re.M) for service in HTTP_SERVICES), before
    kept = (tmp_path / "demo.txt").read_text()
    assert "Every service is up." in kept and f"Shop:         {gateway}/ " in kept and "Dashboard sign-in for" in kept


async def _none_left(marker: str) -> bool:
    return not processes_with_marker(marker)
