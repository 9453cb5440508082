"""The bench's command line."""

from __future__ import annotations

import argparse
from pathlib import Path

from tests.perf.harness import REPO_ROOT

RESULTS_FILE = REPO_ROOT / "bench-results.json"


def _sizes(text: str) -> list[int]:
    sizes = [int(x.replace("_", "")) for x in text.split(",") if x.strip()]
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError("give positive row counts, e.g. 10000,100000")
    return sizes


def parse_args(argv: list[str] | None, description: str, sections: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.perf.bench", description=description)
    p.add_argument("--duration", type=float, default=8.0, help="seconds per measured run (default 8)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up before each (default 2)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections / asyncpg pool size (default 32)")
    p.add_argument("--emails", type=int, default=40, help="sequential bookings for the email latency (default 40)")
    p.add_argument("--email-pause", type=float, default=0.25, help="seconds between them (default 0.25)")
    p.add_argument(
        "--email-warmup",
        type=int,
        default=3,
        help="bookings whose emails warm the Celery workers first, reported apart (default 3)",
    )
    p.add_argument(
        "--smtp-sends",
        type=int,
        default=20,
        help="direct SMTP sends to the sink, the baseline of the Celery hop (default 20)",
    )
    p.add_argument("--email-timeout", type=float, default=60.0, help="max seconds to wait for the emails")
    p.add_argument(
        "--single-duration",
        type=float,
        default=3.0,
        help="seconds of the 1-connection latency runs of the gateway section (default 3)",
    )
    p.add_argument(
        "--pause-downstream",
        action="store_true",
        help="SIGSTOP the booking relay during the measured hold runs (HTTP and baselines), so no "
        "event work shares the CPUs",
    )
    p.add_argument(
        "--no-use-case", action="store_true", help="skip the in-process use-case run of the holds section (saves ~10 s)"
    )
    p.add_argument(
        "--avail-sizes",
        type=_sizes,
        default=[10_000, 100_000, 200_000, 1_000_000],
        help="comma-separated table sizes of the availability section (default 10000,100000,200000,1000000)",
    )
    p.add_argument(
        "--avail-duration",
        type=float,
        default=6.0,
        help="seconds of the 1-connection wrk runs per table size (default 6: a p99 of ~3,000 requests)",
    )
    p.add_argument(
        "--avail-sql-duration",
        type=float,
        default=1.5,
        help="seconds of the sequential availability SQL loop per table size (default 1.5)",
    )
    p.add_argument(
        "--notify-rate",
        type=float,
        default=50.0,
        help="confirmed bookings per second of the notifications section (default 50)",
    )
    p.add_argument(
        "--notify-duration",
        type=float,
        default=20.0,
        help="seconds of confirmations at that rate (default 20, i.e. 1,000 bookings)",
    )
    p.add_argument(
        "--notify-warmup",
        type=int,
        default=25,
        help="confirmations whose webhooks and emails warm the stack first, reported apart (default 25)",
    )
    p.add_argument(
        "--notify-idle",
        type=int,
        default=20,
        help="confirmations one at a time (4/s) before the measured run: the path's own floor (default 20)",
    )
    p.add_argument(
        "--notify-floor-posts",
        type=int,
        default=100,
        help="signed POSTs straight to the webhook receiver, its floor (default 100)",
    )
    p.add_argument(
        "--notify-timeout",
        type=float,
        default=60.0,
        help="max seconds after the last commit to wait for the webhooks and emails (default 60)",
    )
    p.add_argument(
        "--web-duration",
        type=float,
        default=12.0,
        help="seconds per target of the 1-connection page vs JSON runs of the web section (default 12)",
    )
    p.add_argument(
        "--vouchers-duration",
        type=float,
        default=12.0,
        help="seconds per target of the 1-connection shop page, balance and trivial read runs of the "
        "vouchers section (default 12)",
    )
    p.add_argument(
        "--diary-duration",
        type=float,
        default=12.0,
        help="seconds per target of the 1-connection diary week vs availability runs of the diary section (default 12)",
    )
    p.add_argument("--only", action="append", choices=sections, help="run only this section (repeatable)")
    p.add_argument("--output", type=Path, default=RESULTS_FILE, help="JSON results file (default bench-results.json)")
    return p.parse_args(argv)
