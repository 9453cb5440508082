"""The gateway behind a reverse proxy: the test client (127.0.0.1) plays our trusted proxy and names clients in
X-Forwarded-For / Forwarded. Each forwarded client has its own buckets, an untrusted peer cannot choose one,
the services receive exactly the computed address, and dashboard sign-in (services/web behind the gateway) is
limited per forwarded client and per account."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from services.booking.accounts import SIGN_IN_ATTEMPTS as ACCOUNT_ATTEMPTS
from services.gateway.app import create_app as create_gateway
from services.gateway.settings import GatewaySettings
from services.web.dashboard import session as sessions
from shared.client_address import parse_networks
from tests.support.dashboard import OWNER_EMAIL, PASSWORD, make_site, owner, page, sign_in  # noqa: F401 (owner)
from tests.support.infra import free_port

GATEWAY_MANIFEST = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "base" / "gateway.yaml"
PROXIED = parse_networks("127.0.0.1/32, 10.0.0.0/8")  # the test client, and the proxies it says it came through


def holds_down(settings, trusted: str = "127.0.0.1/32"):
    """Two holds a minute per client, the booking service down: a hold let through is 503, a refused one 429."""
    return create_gateway(
        settings.with_overrides(
            trusted_proxies=parse_networks(trusted),
            rate_limit_holds_per_ip=2,
            upstreams={"booking": f"http://127.0.0.1:{free_port()}"},
        )
    )


async def hold_statuses(gateway, *headers: dict) -> list[int]:
    return [(await gateway.post("/api/v1/holds", json={}, headers=h)).status for h in headers]


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_hold_bucket(aiohttp_client, settings):
    gateway = await aiohttp_client(holds_down(settings))
    first = {"X-Forwarded-For": "203.0.113.1"}
    assert await hold_statuses(gateway, first, first, first) == [503, 503, 429]
    assert await hold_statuses(
        gateway,
        {"X-Forwarded-For": "203.0.113.2"},
        {"Forwarded": 'for="[2001:db8::2]:4711"'},
        {"X-Forwarded-For": "198.51.100.9, 203.0.113.3"},
    ) == [503, 503, 503], "other customers behind the same proxy are not held back by the first"
    assert await hold_statuses(gateway, {"X-Forwarded-For": "203.0.113.1:50123"}) == [429], "the port is no new client"


@pytest.mark.parametrize("trusted", ["", "10.0.0.0/8"], ids=["no-proxy-trusted", "peer-not-trusted"])
async def test_an_untrusted_peer_cannot_choose_its_bucket(aiohttp_client, settings, trusted):
    gateway = await aiohttp_client(holds_down(settings, trusted))
    spoofed = [{"X-Forwarded-For": f"203.0.113.{i}", "Forwarded": f"for=198.51.100.{i}"} for i in range(3)]
    assert await hold_statuses(gateway, *spoofed) == [503, 503, 429], "all the same client: the TCP peer"


@pytest.fixture
async def echo_url(aiohttp_server) -> str:
    """A stand-in upstream answering with the forwarding headers it received."""

    async def echo(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "x-forwarded-for": request.headers.getall("X-Forwarded-For", []),
                "forwarded": request.headers.getall("Forwarded", []),
            }
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    return str((await aiohttp_server(app)).make_url("")).rstrip("/")


@pytest.mark.parametrize(
    ("headers", "client"),
    [
        ({"X-Forwarded-For": "198.51.100.1, 203.0.113.9, 10.1.2.3", "Forwarded": "for=192.0.2.1"}, "203.0.113.9"),
        ([("X-Forwarded-For", "203.0.113.9"), ("X-Forwarded-For", "10.1.2.3")], "203.0.113.9"),
        ({"Forwarded": 'for=192.0.2.60;proto=https, For="[2001:DB8:cafe::17]:4711"'}, "2001:db8:cafe::17"),
        ({"X-Forwarded-For": "garbage"}, "127.0.0.1"),
        ({"X-Forwarded-For": "203.0.113.9, ,10.1.2.3"}, "127.0.0.1"),
        ({"Forwarded": "for=_hidden"}, "127.0.0.1"),
        ({"Forwarded": 'for="[2001:db8::17'}, "127.0.0.1"),
    ],
    ids=["chain", "two-lines", "forwarded", "garbage", "empty-hop", "obfuscated", "unterminated"],
)
async def test_the_services_receive_exactly_the_computed_client(aiohttp_client, settings, echo_url, headers, client):
    gateway = await aiohttp_client(
        create_gateway(settings.with_overrides(trusted_proxies=PROXIED, upstreams={"booking": echo_url}))
    )
    resp = await gateway.get("/api/v1/clinics", headers=headers)
    assert resp.status == 200, "a malformed header is never a server error"
    assert await resp.json() == {"x-forwarded-for": [client], "forwarded": []}


async def test_an_untrusted_peer_s_forwarding_headers_never_reach_the_services(aiohttp_client, settings, echo_url):
    gateway = await aiohttp_client(create_gateway(settings.with_overrides(upstreams={"booking": echo_url})))
    resp = await gateway.get(
        "/api/v1/clinics", headers={"X-Forwarded-For": "198.51.100.66", "Forwarded": "for=198.51.100.66"}
    )
    assert await resp.json() == {"x-forwarded-for": ["127.0.0.1"], "forwarded": []}


@pytest.fixture
async def proxied(linked, booking_server, aiohttp_client):
    """The gateway behind our fake trusted proxy, in front of in-process booking and payments services."""
    _, settings = linked
    return await aiohttp_client(create_gateway(settings.with_overrides(trusted_proxies=PROXIED)))


async def test_the_payments_voucher_limiter_counts_the_forwarded_client(proxied):
    async def check(client: str, i: int) -> int:
        resp = await proxied.post(
            "/api/v1/vouchers/balance", json={"code": f"ABCD-EFGH-JKLM-NP{i}Q"}, headers={"X-Forwarded-For": client}
        )
        return resp.status

    assert [await check("203.0.113.1", i) for i in range(6)] == [404] * 5 + [429]
    assert await check("203.0.113.2", 6) == 404, "another customer's wrong code is still just wrong"


@pytest.fixture
async def proxied_dashboard(linked, booking_server, payments_server, aiohttp_server, aiohttp_client):
    """The dashboard (web behind the gateway) with the gateway behind our fake trusted proxy."""
    _, settings = linked
    return await make_site(settings, aiohttp_server, aiohttp_client, trusted_proxies=PROXIED)


async def sign_in_from(site, client: str, email: str, password: str = "wrong password!"):
    return await sign_in(site, email, password, headers={"X-Forwarded-For": client})


async def test_the_sign_in_limit_per_client_counts_the_forwarded_client(proxied_dashboard, owner):
    attempts = GatewaySettings.rate_limit_sign_ins_per_ip  # the default: 10 a quarter hour
    statuses = [
        (await sign_in_from(proxied_dashboard, "203.0.113.1", f"guess{i}@example.com")).status
        for i in range(attempts + 1)
    ]
    assert statuses == [401] * attempts + [429]
    assert (await sign_in_from(proxied_dashboard, "203.0.113.2", "someone@example.com")).status == 401


async def test_sign_in_is_limited_per_account_across_addresses_and_alike_for_unknown_accounts(proxied_dashboard, owner):
    """The booking service counts each account (the email typed, however spelt, known or not); the page says how
    long to wait, in the same words for an account that exists and one that does not."""
    attempts = ACCOUNT_ATTEMPTS
    answers = {}
    for n, email in enumerate((OWNER_EMAIL, "nobody@urban-therapy.example")):
        spellings = (email, email.upper(), f"  {email.title()} ")  # one account, however typed
        statuses = [
            (await sign_in_from(proxied_dashboard, f"198.51.10{n}.{i}", spellings[i % 3])).status
            for i in range(attempts)
        ]
        assert statuses == [401] * attempts, "each from a fresh address: no per-client limit is near"
        refused = await sign_in_from(proxied_dashboard, f"192.0.2.{n}", email, PASSWORD)  # the known one's password
        text = await page(refused, 429)
        assert "Too many attempts to sign in. Wait" in text and int(refused.headers["Retry-After"]) > 0
        assert sessions.COOKIE not in refused.cookies
        words = re.sub(r'name="csrf" value="[^"]+"|value="[^"]*@[^"]*"', "", text)  # the token and the email typed
        answers[email] = (refused.status, words)
    known, unknown = answers.values()
    assert known == unknown, "the limit tells nothing about whether an account exists"
    assert (await sign_in_from(proxied_dashboard, "192.0.2.9", "somebody.else@example.com")).status == 401


def test_kubernetes_trusts_the_cluster_s_own_network_for_the_ingress_and_never_everyone():
    deployment = next(d for d in yaml.safe_load_all(GATEWAY_MANIFEST.read_text()) if d["kind"] == "Deployment")
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0].get("env", [])}
    networks = parse_networks(env["TRUSTED_PROXIES"])
    assert networks and all(n.is_private and n.prefixlen > 0 for n in networks), networks
