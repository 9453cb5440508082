"""Section f: the customer's pages (issue 14's speed lines).

1. The booking page with a week of free times (GET /c/{clinic}/book?treatment=&therapist=&week=) against the
   availability JSON of the same days (GET /api/v1/clinics/{clinic}/availability?...&from=&to=), both through
   the gateway, one client sending one request at a time (wrk -t1 -c1), in alternating slices: what
   rendering the week costs on top of reading it. Goal: the page's p50 and p99 at most x1.5 the JSON's.
   The page crosses one service more than the JSON (gateway -> web -> booking), so the same JSON is also
   measured through a bare aiohttp hop in front of the gateway (tests/perf/extra_hop.py): what one more hop
   costs by itself, and the page against a baseline that crosses as many services as it does.
2. The weight of every page of the booking flow in Chromium, from the list of clinics to the confirmation
   (tests/perf/page_weight.py says what is counted). Goal: at most 50 KB each, transferred compressed.

The week is Amara's (the demo clinic's deep tissue massage) starting on a Monday a week or two ahead, so it
is past the minimum notice and full of free times; the page is checked to show every one of them as a button
before anything is measured. The walk books one of them, after the latency runs (its events would otherwise
share the CPUs)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from tests.perf.cpu import cpu_note, cpu_per_tx
from tests.perf.extra_hop import ExtraHop
from tests.perf.figures import ratio
from tests.perf.harness import BenchContext, log
from tests.perf.interleave import described
from tests.perf.page_weight import PageWeight, booking_walk, walk_weights
from tests.perf.table import Row, Section
from tests.perf.wrk import LoadShape, Target, WrkResult, combined, interleaved, warm_up

PAGE_OVER_JSON_GOAL = 1.5
PERCENTILES = ("p50", "p90", "p99")
GOAL_PERCENTILES = ("p50", "p99")
WEIGHT_GOAL_KB = 50
KB = 1024
SLOT_BUTTON = re.compile(r'<button[^>]*\bname="slot"')
WALK_EMAIL = "bench.page-weight@example.com"
STACK_PARTS = ["web", "booking", "gateway", "postgres"]  # what a page or JSON request crosses


@dataclass(frozen=True)
class Week:
    first: date
    page_path: str
    json_path: str
    slots: int  # free times in the JSON, each a button on the page
    page_bytes: dict[str, int]  # the page's body as sent to a browser (gzip) and decoded


def week_paths(clinic: str, treatment: str, therapist: str, first: date, days: int) -> tuple[str, str]:
    """The booking page showing `days` days from `first`, and the availability JSON of the same days."""
    page = urlencode({"treatment": treatment, "therapist": therapist, "week": first.isoformat()})
    json = urlencode(
        {
            "treatment": treatment,
            "therapist": therapist,
            "from": first.isoformat(),
            "to": (first + timedelta(days=days - 1)).isoformat(),
        }
    )
    return f"/c/{clinic}/book?{page}", f"/api/v1/clinics/{clinic}/availability?{json}"


def browser_headers() -> dict[str, str]:
    """What a returning browser sends: it accepts compressed answers and already has its CSRF cookie (else every
    page would mint a token and set it)."""
    return {"Accept-Encoding": "gzip, deflate, br", "Cookie": f"csrf={secrets.token_urlsafe(32)}"}


async def week_with_times(ctx: BenchContext, http, headers: dict[str, str]) -> Week:
    """The measured week, checked: the JSON has free times and the page shows each as a button."""
    from services.web.booking import DAYS_SHOWN
    from tests.support.booking import CLINIC, THERAPIST, TREATMENT, next_weekday

    first = next_weekday(0, weeks_ahead=1, open_days=DAYS_SHOWN)
    page_path, json_path = week_paths(CLINIC, TREATMENT, THERAPIST, first, DAYS_SHOWN)
    async with http.get(ctx.gateway_url(json_path), headers=headers) as resp:
        slots = len((await resp.json())["slots"]) if resp.status == 200 else 0
    async with http.get(ctx.gateway_url(page_path), headers=headers) as resp:
        text = await resp.text()
        sent = int(resp.headers.get("Content-Length", -1))
        status, encoding = resp.status, resp.headers.get("Content-Encoding", "none")
    buttons = len(SLOT_BUTTON.findall(text))
    if status != 200 or not slots or buttons != slots:
        raise RuntimeError(
            f"web: the week of {first} answered {status} with {buttons} slot buttons for {slots} "
            f"free times in the JSON; nothing to measure ({page_path})"
        )
    log(f"web: week of {first}: {slots} free times, page {sent:,} bytes sent ({encoding}), {len(text):,} decoded")
    return Week(first, page_path, json_path, slots, {encoding: sent, "decoded": len(text.encode())})


@dataclass
class Latency:
    page: WrkResult
    json: WrkResult
    json_hop: WrkResult  # the JSON through the bench's extra hop and the gateway: as many services as the page
    round_p50_ratios: list[float | None]
    cpu: dict[str, dict[str, Any]]


async def measure_latency(ctx: BenchContext, week: Week, headers: dict[str, str], hop: ExtraHop) -> Latency:
    shape = LoadShape(ctx.args.web_duration, ctx.shape.warmup, 1, 1)
    targets = (
        Target("page", ctx.gateway_url(week.page_path), headers),
        Target("json", ctx.gateway_url(week.json_path), headers),
        Target("json_hop", hop.url_of(week.json_path), headers),
    )
    await ctx.cpu.wait_quiet()
    await warm_up(targets, shape, "web")
    slices, cpu = await interleaved(ctx.cpu, targets, shape, "web")
    return Latency(
        combined(slices["page"]),
        combined(slices["json"]),
        combined(slices["json_hop"]),
        [ratio(p.ms("p50"), j.ms("p50")) for p, j in zip(slices["page"], slices["json"])],
        cpu,
    )


async def bench_web(ctx: BenchContext) -> Section:
    import aiohttp

    from tests.support.booking import CLINIC, TREATMENT

    headers = browser_headers()
    async with aiohttp.ClientSession() as http:
        week = await week_with_times(ctx, http, headers)
        async with http.get(ctx.gateway_url(f"/api/v1/clinics/{CLINIC}")) as resp:
            clinic_name = (await resp.json())["name"]
    with ExtraHop(ctx.gateway_url("")) as hop:
        latency = await measure_latency(ctx, week, headers, hop)
    log("web: page weight: Chromium walks the booking flow")
    weights = await walk_weights(
        ctx.gateway_url(""), booking_walk(CLINIC, clinic_name, TREATMENT, week.page_path, WALK_EMAIL)
    )
    return web_section(latency, week, weights)


def verdict(met: bool) -> str:
    return "MET" if met else "NOT MET"


def failed(result: WrkResult) -> int:
    return result.non_2xx + result.socket_errors


def compared_rows(label: str, value: WrkResult, baseline: WrkResult) -> list[Row]:
    """`value`'s latency percentiles beside `baseline`'s (and their ratio), and both runs' requests and failures."""
    rows = [Row(f"{label}: latency {p}", value.ms(p), baseline.ms(p), "ms", "ratio", 2) for p in PERCENTILES]
    rows.append(Row(f"{label}: requests, 1 conn", value.requests, baseline.requests, "", "none", 0))
    rows.append(Row(f"{label}: non-2xx + socket errors", failed(value), failed(baseline), "", "none", 0))
    return rows


def ratios_of(value: WrkResult, baseline: WrkResult) -> dict[str, float | None]:
    return {p: ratio(value.ms(p), baseline.ms(p)) for p in PERCENTILES}


def within_goal(value: WrkResult, ratios: dict[str, float | None], baseline: WrkResult) -> bool:
    return (
        not failed(value)
        and not failed(baseline)
        and all(ratios[p] is not None and ratios[p] <= PAGE_OVER_JSON_GOAL for p in GOAL_PERCENTILES)
    )


def same_hops_rows(m: Latency) -> list[Row]:
    """The hop by itself (the JSON with and without the extra hop), and the page against the JSON with it."""
    return (
        [
            Row(f"JSON with one more hop vs without: latency {p}", m.json_hop.ms(p), m.json.ms(p), "ms", "ratio", 2)
            for p in GOAL_PERCENTILES
        ]
        + [
            Row(f"week page vs JSON with one more hop: latency {p}", m.page.ms(p), m.json_hop.ms(p), "ms", "ratio", 2)
            for p in GOAL_PERCENTILES
        ]
        + [Row("JSON with one more hop: non-2xx + socket errors", failed(m.json_hop), failed(m.json), "", "none", 0)]
    )


def latency_rows(m: Latency) -> tuple[list[Row], dict[str, float | None], bool]:
    ratios = ratios_of(m.page, m.json)
    rows = compared_rows("week page vs its JSON", m.page, m.json) + same_hops_rows(m)
    return rows, ratios, within_goal(m.page, ratios, m.json)


def light_enough(w: PageWeight) -> bool:
    return w.bytes <= WEIGHT_GOAL_KB * KB


def weight_row(w: PageWeight) -> Row:
    return Row(
        f"page weight: {w.name}",
        w.bytes / KB,
        WEIGHT_GOAL_KB,
        "KB",
        "none",
        1,
        compare_text=f"{verdict(light_enough(w))} (goal <= {WEIGHT_GOAL_KB})",
    )


def latency_notes(m: Latency, week: Week, ratios: dict[str, float | None], met: bool) -> list[str]:
    notes = [
        f"goal week page p50 and p99 <= x{PAGE_OVER_JSON_GOAL:g} of the JSON's: p50 x{ratios['p50'] or 0:.3f}, "
        f"p99 x{ratios['p99'] or 0:.3f} -> {verdict(met)}",
        "p50 page / JSON round by round: "
        + ", ".join(f"x{r:.3f}" if r is not None else "-" for r in m.round_p50_ratios),
        same_hops_note(m),
        f"week of {week.first}: {week.slots} free times, each a button on the page; the page sent "
        + ", ".join(f"{k} {v:,} bytes" for k, v in week.page_bytes.items())
        + "; both asked as a returning browser asks (Accept-Encoding gzip, its CSRF cookie)",
    ]
    for name, result in (("page", m.page), ("JSON", m.json)):
        usage = m.cpu[name.lower()]
        notes.append(
            f"CPU ms per {name} request: {cpu_per_tx(usage, result.requests, STACK_PARTS)}; "
            + cpu_note(f"the {name} run", usage)
        )
    notes.append(f"latency figures: {described()}; each latency is the median of the slices'")
    return notes


def same_hops_note(m: Latency) -> str:
    hop, same = ratios_of(m.json_hop, m.json), ratios_of(m.page, m.json_hop)
    return (
        "the page crosses one service more than its JSON (gateway -> web -> booking): one more bare hop "
        f"(tests/perf/extra_hop.py, in front of the gateway) alone makes the JSON p50 x{hop['p50'] or 0:.3f}, "
        f"p99 x{hop['p99'] or 0:.3f}; against that JSON, crossing as many services as the page, the page is "
        f"p50 x{same['p50'] or 0:.3f}, p99 x{same['p99'] or 0:.3f} (<= x{PAGE_OVER_JSON_GOAL:g}: "
        f"{verdict(within_goal(m.page, same, m.json_hop))}): what the web service's own work adds, rendering included"
    )


def weight_notes(weights: list[PageWeight]) -> list[str]:
    heavy = [w.name for w in weights if not light_enough(w)]
    return [
        f"goal each page of the flow <= {WEIGHT_GOAL_KB} KB transferred (Stripe.js excluded): heaviest "
        f"{max(w.bytes for w in weights) / KB:.1f} KB -> {verdict(not heavy)}"
        + (f" ({', '.join(heavy)} over)" if heavy else ""),
        "page weight by kind of file, bytes: "
        + "; ".join(f"{w.name} " + " + ".join(f"{kind} {n:,}" for kind, n in w.by_kind().items()) for w in weights),
        "page weight counts each file as if the page were the customer's first (transferSize, or the "
        "compressed body of a file the walk had cached); what the walk itself transferred, with its cache, KB: "
        + ", ".join(f"{w.name} {w.walked_bytes / KB:.1f}" for w in weights),
    ]


def web_section(m: Latency, week: Week, weights: list[PageWeight]) -> Section:
    rows, ratios, latency_met = latency_rows(m)
    section = Section(
        "web",
        "f. Customer pages: the week's booking page vs its availability JSON via gateway "
        "(wrk, 1 connection); each page's weight in Chromium",
        ("page", "JSON / goal", "page / JSON"),
        rows + [weight_row(w) for w in weights],
        latency_notes(m, week, ratios, latency_met) + weight_notes(weights),
    )
    section.data = {
        "week": {
            "first": week.first.isoformat(),
            "page": week.page_path,
            "json": week.json_path,
            "free_times": week.slots,
            "page_bytes": week.page_bytes,
        },
        "page": m.page.as_dict() | {"cpu": m.cpu["page"]},
        "json": m.json.as_dict() | {"cpu": m.cpu["json"]},
        "json_one_more_hop": m.json_hop.as_dict() | {"cpu": m.cpu["json_hop"]},
        "ratios_json_one_more_hop_over_json": ratios_of(m.json_hop, m.json),
        "ratios_page_over_json_one_more_hop": ratios_of(m.page, m.json_hop),
        "ratios_page_over_json": ratios,
        "round_p50_ratios": m.round_p50_ratios,
        "latency_goal_met": latency_met,
        "page_weights": [w.as_dict() for w in weights],
        "weight_goal_kb": WEIGHT_GOAL_KB,
        "weight_goal_met": all(map(light_enough, weights)),
    }
    return section
