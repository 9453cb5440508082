"""`python -m tests.perf.bench` (or `make bench`): throughput and latency of the real stack, each figure
beside a baseline measured in the same run on the same machine.

Sections (each a module section_<key>.py whose function is listed in SECTIONS; a later issue adds its
own module and it lands in the table and in bench-results.json under "sections"):

- gateway:        GET /api/v1/clinics/urban-therapy/treatments through the gateway vs on the booking
                  service directly (wrk), i.e. what the proxy hop costs.
- email_latency:  commit -> relay -> consumer -> Celery -> SMTP sink, hop by hop, for sequential
                  bookings through the gateway (availability -> hold -> booking, all-clear screening).
- holds:          POST /api/v1/holds through the gateway at 32 concurrent clients (wrk, unique valid
                  non-overlapping starts) vs the hold's SQL transaction straight from asyncpg at the
                  same concurrency; also on the booking service directly and the use case in-process.
- notifications:  at a steady 50 bookings/s, confirmations committed by the booking service's own code
                  from this process; commit -> signed booking.created webhook at a local receiver
                  (registered through the clinic API) and commit -> email in the SMTP sink, hop by hop,
                  vs the same path one booking at a time (its floor on this machine), signed POSTs
                  straight to the receiver and smtp.send straight to the sink.
- availability:   one therapist's week of availability through the gateway, one request at a time,
                  at 10k .. 1M rows in booking.bookings, vs the SQL the endpoint runs (availability_context).
- web:            the booking page with a week of free times vs that week's availability JSON, both through
                  the gateway, one request at a time (wrk, alternating slices), and that JSON through one more
                  bare aiohttp hop (as many services as the page crosses); and the weight of every page of
                  the booking flow walked in Chromium (Resource Timing, compressed bytes, Stripe.js excluded).
- vouchers:       the voucher shop page and an issued voucher's balance answer, each vs a trivial public read
                  (GET /api/v1/clinics), all through the gateway, one request at a time (wrk, alternating slices);
                  and the weight of the voucher shop's pages (shop, pay, thanks) walked in Chromium as the web's.
- diary:          the clinic diary's week view of 10 therapists with 200,000 bookings in the table (clinic API
                  key) vs one therapist-week's availability JSON, both through the gateway, one request at a
                  time (wrk, alternating slices); it removes its synthetic rows and therapists afterwards.

The bench's database is its own clone, so it may change it: the demo clinic's booking horizon is
raised and synthetic therapists and bookings are added by SQL (see each section).

Everything runs on 127.0.0.1: a migrated and seeded template database and a clone of it, a private
redis-server and the whole Procfile stack on free ports (tests.support), all stopped and dropped at
the end, also on error, Ctrl-C or SIGTERM (harness.BenchStack). Not part of the pytest suite.
Importing this package does nothing: the product, its test support and the drivers (asyncpg, aiohttp,
uvloop) are imported inside the functions that use them.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import time
from typing import Awaitable, Callable

from tests.perf.cpu import CpuMeter
from tests.perf.harness import BenchContext, BenchStack
from tests.perf.machine import SPEED_LOOP_STEPS, machine_info, postgres_version, python_loop_seconds
from tests.perf.options import parse_args
from tests.perf.section_availability import bench_availability
from tests.perf.section_diary import bench_diary
from tests.perf.section_email_latency import bench_email_latency
from tests.perf.section_gateway import bench_gateway
from tests.perf.section_holds import bench_holds
from tests.perf.section_notifications import bench_notifications
from tests.perf.section_vouchers import bench_vouchers
from tests.perf.section_web import bench_web
from tests.perf.table import Section, heading, render_table, results_json
from tests.perf.wrk import LoadShape

# Later issues append their (key, function) here; each returns a Section.
SECTIONS: list[tuple[str, Callable[[BenchContext], Awaitable[Section]]]] = [
    ("gateway", bench_gateway),
    # Before the email bookings take the first free times of the therapist whose week it renders.
    ("web", bench_web),
    # Like the web's: one client on a quiet stack (its voucher's emails go out before the email section counts).
    ("vouchers", bench_vouchers),
    # Before the sections that add therapists to the demo clinic (its diary is of 10), on a quiet stack; it leaves
    # the table and the clinic as it found them.
    ("diary", bench_diary),
    # Before the holds: their tens of thousands of outbox events keep the relay and consumer busy.
    ("email_latency", bench_email_latency),
    # Right after it, on a stack still quiet (the holds' events would share the consumer).
    ("notifications", bench_notifications),
    ("holds", bench_holds),
    # Last: it removes the holds' rows and leaves up to a million bookings behind.
    ("availability", bench_availability),
]


def timed_section(
    runner: asyncio.Runner, fn: Callable[[BenchContext], Awaitable[Section]], ctx: BenchContext
) -> Section:
    """Run one section, noting how fast the machine was just before and after it."""
    before = python_loop_seconds()
    section = runner.run(fn(ctx))
    after = python_loop_seconds()
    section.data["machine_speed"] = {
        "python_loop_steps": SPEED_LOOP_STEPS,
        "seconds_before": before,
        "seconds_after": after,
    }
    section.notes.append(
        f"machine speed: a fixed Python loop ({SPEED_LOOP_STEPS:,} additions) took {before:.3f} s "
        f"before this section and {after:.3f} s after (it drifts here; compare runs at like speeds)"
    )
    return section


def main(argv: list[str] | None = None) -> int:
    import uvloop

    args = parse_args(argv, __doc__.split("\n\n")[0], [k for k, _ in SECTIONS])
    if shutil.which("wrk") is None:
        print("wrk is not installed: `make bench-tools` (or apt-get install -y wrk)", file=sys.stderr)
        return 2
    shape = LoadShape(args.duration, args.warmup, args.threads, args.connections)
    started = time.monotonic()
    try:
        with BenchStack() as bench:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                bench.start(runner)
                ctx = BenchContext(
                    args,
                    shape,
                    bench.env,
                    bench.database,
                    bench.database_url,
                    bench.stack,
                    CpuMeter(bench.stack, bench.redis_pid, bench.database),
                )
                sections = [timed_section(runner, fn, ctx) for key, fn in SECTIONS if not args.only or key in args.only]
                sections.sort(key=lambda s: s.title)  # display as lettered ("a. ...", "b. ..."), not as run
                machine = machine_info()
                machine["postgres"] = runner.run(postgres_version(bench.database_url))
            results = results_json(sections, machine, shape, time.monotonic() - started)
            args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
            print()
            print(heading(machine, shape))
            print(render_table(sections))
            print(f"figures written to {args.output}")
    except KeyboardInterrupt:
        return 130
    print(f"total runtime {time.monotonic() - started:.1f}s (set-up, measurements and clean-up)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
