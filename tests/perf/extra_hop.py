"""A bare HTTP hop for the bench: an aiohttp server on uvloop, in a process of its own, that passes every GET on
to one upstream with a keep-alive aiohttp client and hands back its status, body and content headers as they
came, with no middleware and no work of its own.

It is what one more service in the path costs at least with our stack (an aiohttp server, an aiohttp client
call, a loopback leg each way), whatever the service does: the web section puts it in front of the gateway to
measure the availability JSON through as many hops as the booking page crosses (gateway -> web -> booking).

    python -m tests.perf.extra_hop --port 8123 --upstream http://127.0.0.1:8000"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import urllib.error
import urllib.request

from tests.perf.harness import LOOPBACK, assert_loopback

PASSED_BACK = ("Content-Type", "Content-Encoding", "Vary", "Cache-Control")
NOT_PASSED_ON = frozenset({"host", "connection", "keep-alive"})  # this hop's own
READY_PATH = "/__extra_hop_ready"
START_TIMEOUT = 10.0


def serve(port: int, upstream: str) -> None:
    import aiohttp
    import uvloop
    from aiohttp import web

    async def pass_on(request: web.Request) -> web.Response:
        if request.path == READY_PATH:
            return web.Response(text="ready")
        session = request.app["session"]
        headers = {name: value for name, value in request.headers.items() if name.lower() not in NOT_PASSED_ON}
        async with session.get(upstream + request.rel_url.raw_path_qs, headers=headers) as answer:
            body = await answer.read()
            back = {name: answer.headers[name] for name in PASSED_BACK if name in answer.headers}
            return web.Response(status=answer.status, body=body, headers=back)

    async def client(app: web.Application):
        app["session"] = aiohttp.ClientSession(auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar())
        yield
        await app["session"].close()

    app = web.Application()
    app.cleanup_ctx.append(client)
    app.router.add_get("/{tail:.*}", pass_on)
    web.run_app(app, host=LOOPBACK, port=port, print=None, access_log=None, loop=uvloop.new_event_loop())


class ExtraHop:
    """As a context manager: `python -m tests.perf.extra_hop` to `upstream` on a free loopback port, ready, until left."""

    def __init__(self, upstream: str) -> None:
        from tests.support.infra import free_port

        self.upstream = assert_loopback(upstream)
        self.port = free_port()
        self.url = assert_loopback(f"http://{LOOPBACK}:{self.port}")
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> ExtraHop:
        cmd = [sys.executable, "-m", "tests.perf.extra_hop", "--port", str(self.port), "--upstream", self.upstream]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(self.url + READY_PATH, timeout=1):
                    return self
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.05)
        self.__exit__(None, None, None)
        raise RuntimeError(f"the bench's extra hop did not start on {self.url}")

    def __exit__(self, *_exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def url_of(self, path: str) -> str:
        return self.url + path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    options = parser.parse_args()
    serve(options.port, assert_loopback(options.upstream).rstrip("/"))
