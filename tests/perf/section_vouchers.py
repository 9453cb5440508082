"""Section g: gift vouchers (issue 15's speed lines).

1. The voucher shop page (GET /c/{clinic}/vouchers) and the balance answer for an issued voucher's code
   (POST /api/v1/vouchers/balance), each against a trivial public read (GET /api/v1/clinics), all three through
   the gateway, one client sending one request at a time (wrk -t1 -c1), in alternating slices. Goal: the shop
   page's p99 and the balance answer's p99 each at most x1.5 the trivial read's.
2. The weight of the voucher shop's pages in Chromium (shop, pay, thanks), counted as the web section counts the
   booking flow's (tests/perf/page_weight.py). Goal: at most 50 KB each.

The checked voucher is bought through the gateway's API and paid on the stack's fake Stripe as a browser pays;
payments issues it (and its code) when the payment's event arrives. One client checks its balance thousands of
times: the bench's stack raises the per-client balance limit (VOUCHER_BALANCE_CHECKS_PER_MINUTE, 20 in
production) as it raises the gateway's, so the limiter still runs on every check but refuses none."""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from tests.perf.cpu import cpu_note, cpu_per_tx
from tests.perf.figures import ratio
from tests.perf.harness import LOOPBACK, BenchContext, assert_loopback, log
from tests.perf.interleave import described
from tests.perf.page_weight import PageWeight, voucher_walk, walk_weights
from tests.perf.section_web import (
    WEIGHT_GOAL_KB,
    browser_headers,
    compared_rows,
    failed,
    light_enough,
    verdict,
    weight_notes,
    weight_row,
)
from tests.perf.table import Section
from tests.perf.wrk import LoadShape, Target, WrkResult, combined, interleaved, warm_up

OVER_TRIVIAL_READ_GOAL = 1.5
TRIVIAL_READ = "/api/v1/clinics"
BALANCE = "/api/v1/vouchers/balance"
ISSUE_TIMEOUT_S = 30.0
WALK_EMAIL = "bench.voucher-weight@example.com"
# The processes the three targets cross (Redis, which keeps the rate limits, counts with the event path).
STACK_PARTS = ["web", "payments", "booking", "gateway", "postgres"]
MEASURED = {"shop": "voucher shop page", "balance": "voucher balance answer"}


async def bought_code(ctx: BenchContext, http) -> str:
    """A £60 gift voucher's code: bought through the gateway, paid on the fake Stripe, and read, once payments has
    issued it, through the holder's link as its gift email gives it."""
    from services.payments.settings import PaymentsSettings
    from services.payments.voucher_service import CodeKeys
    from shared.config import load_settings
    from tests.support.infra import wait_for
    from tests.support.payments import customer_pays
    from tests.support.vouchers import purchase_body

    async with http.post(
        ctx.gateway_url("/api/v1/vouchers"),
        json=purchase_body(),
        headers={"Idempotency-Key": secrets.token_urlsafe(16)},
    ) as resp:
        voucher = await resp.json()
        if resp.status != 201:
            raise RuntimeError(f"vouchers: buying the bench's voucher answered {resp.status}: {voucher}")
    stripe_url = assert_loopback(f"http://{LOOPBACK}:{ctx.env['FAKE_STRIPE_PORT']}")
    if (paid := await customer_pays(stripe_url, voucher["payment"]["stripe_payment_intent"])) != "succeeded":
        raise RuntimeError(f"vouchers: the bench's voucher payment {paid}")
    token = CodeKeys(load_settings(PaymentsSettings, ctx.env).voucher_code_key).holder_token(uuid.UUID(voucher["id"]))

    async def issued() -> str | None:
        async with http.get(ctx.gateway_url(f"/api/v1/vouchers/{voucher['id']}"), params={"token": token}) as resp:
            return (await resp.json())["code"] if resp.status == 200 else None

    return await wait_for(issued, timeout=ISSUE_TIMEOUT_S, interval=0.2, what="the bench's voucher to be issued")


async def answers_200(http, method: str, url: str, **kwargs) -> None:
    async with http.request(method, url, **kwargs) as resp:
        if resp.status != 200:
            raise RuntimeError(f"vouchers: {method} {url} answered {resp.status}; nothing to measure")


async def checked_targets(ctx: BenchContext, http) -> tuple[Target, ...]:
    """The shop page as a returning browser asks for it, the balance of an issued voucher, and the trivial
    read; each answers 200 before anything is measured."""
    from tests.support.booking import CLINIC

    body = json.dumps({"code": await bought_code(ctx, http)})
    shop = Target("shop", ctx.gateway_url(f"/c/{CLINIC}/vouchers"), browser_headers())
    balance = Target("balance", ctx.gateway_url(BALANCE), {}, "wrk_post.lua", (body,))
    read = Target("read", ctx.gateway_url(TRIVIAL_READ), {})
    await answers_200(http, "GET", shop.url, headers=shop.headers)
    await answers_200(http, "POST", balance.url, data=body, headers={"Content-Type": "application/json"})
    await answers_200(http, "GET", read.url)
    log("vouchers: a voucher issued; the shop page, its balance and the trivial read each answer 200")
    return shop, balance, read


@dataclass
class Latency:
    combined: dict[str, WrkResult]  # by target name
    round_p99_ratios: dict[str, list[float | None]]  # shop and balance over the read, slice by slice
    cpu: dict[str, dict[str, Any]]


async def measure_latency(ctx: BenchContext, chosen: tuple[Target, ...]) -> Latency:
    shape = LoadShape(ctx.args.vouchers_duration, ctx.shape.warmup, 1, 1)
    await ctx.cpu.wait_quiet()  # the purchase's events (emails, webhooks) done first
    await warm_up(chosen, shape, "vouchers")
    slices, cpu = await interleaved(ctx.cpu, chosen, shape, "vouchers")
    rounds = {
        name: [ratio(s.ms("p99"), r.ms("p99")) for s, r in zip(slices[name], slices["read"])] for name in MEASURED
    }
    return Latency({name: combined(runs) for name, runs in slices.items()}, rounds, cpu)


async def bench_vouchers(ctx: BenchContext) -> Section:
    import aiohttp

    from tests.support.booking import CLINIC

    async with aiohttp.ClientSession() as http:
        chosen = await checked_targets(ctx, http)
    latency = await measure_latency(ctx, chosen)
    log("vouchers: page weight: Chromium walks the voucher shop")
    weights = await walk_weights(ctx.gateway_url(""), voucher_walk(CLINIC, WALK_EMAIL), "vouchers")
    return vouchers_section(latency, weights)


def p99_ratios(m: Latency) -> dict[str, float | None]:
    return {name: ratio(m.combined[name].ms("p99"), m.combined["read"].ms("p99")) for name in MEASURED}


def latency_met(m: Latency, name: str, p99_ratio: float | None) -> bool:
    return not failed(m.combined[name]) and p99_ratio is not None and p99_ratio <= OVER_TRIVIAL_READ_GOAL


def latency_notes(m: Latency, ratios: dict[str, float | None]) -> list[str]:
    notes = []
    for name, what in MEASURED.items():
        notes.append(
            f"goal {what} p99 <= x{OVER_TRIVIAL_READ_GOAL:g} of the trivial read's (GET {TRIVIAL_READ}): "
            f"x{ratios[name] or 0:.3f} -> {verdict(latency_met(m, name, ratios[name]))}; slice by slice "
            + ", ".join(f"x{r:.3f}" if r is not None else "-" for r in m.round_p99_ratios[name])
        )
    for name, result in m.combined.items():
        usage = m.cpu[name]
        notes.append(
            f"CPU ms per {name} request: {cpu_per_tx(usage, result.requests, STACK_PARTS)}; "
            + cpu_note(f"the {name} run", usage)
        )
    notes.append(
        "the shop page asked as a returning browser asks (Accept-Encoding gzip, its CSRF cookie); the "
        "balance of one issued £60 voucher, its per-client limit raised for the bench"
    )
    notes.append(f"latency figures: {described()}; each latency is the median of the slices'")
    return notes


def vouchers_section(m: Latency, weights: list[PageWeight]) -> Section:
    ratios = p99_ratios(m)
    rows = [
        row
        for name, what in MEASURED.items()
        for row in compared_rows(f"{what} vs trivial read", m.combined[name], m.combined["read"])
    ]
    section = Section(
        "vouchers",
        "g. Gift vouchers: the shop page and the balance answer vs a trivial public read "
        "via gateway (wrk, 1 connection); each voucher page's weight in Chromium",
        ("value", "read / goal", "value / read"),
        rows + [weight_row(w) for w in weights],
        latency_notes(m, ratios) + weight_notes(weights),
    )
    section.data = {
        **{name: result.as_dict() | {"cpu": m.cpu[name]} for name, result in m.combined.items()},
        "trivial_read": TRIVIAL_READ,
        "ratios_p99_over_read": ratios,
        "round_p99_ratios": m.round_p99_ratios,
        "latency_goal_met": {name: latency_met(m, name, ratios[name]) for name in MEASURED},
        "page_weights": [w.as_dict() for w in weights],
        "weight_goal_kb": WEIGHT_GOAL_KB,
        "weight_goal_met": all(map(light_enough, weights)),
    }
    return section
