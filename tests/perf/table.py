"""The report: sections of rows, each row a figure beside its baseline, printed as one plain-text table
and written as bench-results.json."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from tests.perf.figures import diff, ratio
from tests.perf.harness import LOOPBACK
from tests.perf.wrk import LoadShape

RESULTS_SCHEMA_VERSION = 1


@dataclass
class Row:
    metric: str
    value: float | None
    baseline: float | None
    unit: str
    # "ratio": value / baseline (throughputs); "delta": value - baseline (latencies); "none"
    compare: str = "ratio"
    digits: int = 1
    compare_text: str | None = None  # overrides the computed comparison


@dataclass
class Section:
    key: str
    title: str
    # Column headings of this section: (value, baseline, comparison).
    columns: tuple[str, str, str]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # everything for the JSON file


def _fmt(x: float | None, digits: int) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def _compare(row: Row) -> str:
    if row.compare_text is not None:
        return row.compare_text
    if row.compare == "ratio":
        r = ratio(row.value, row.baseline)
        return "-" if r is None else f"x{r:.3f}"
    if row.compare == "delta":
        d = diff(row.value, row.baseline)
        return "-" if d is None else f"{d:+,.{row.digits}f}{(' ' + row.unit) if row.unit else ''}"
    return ""


def render_table(sections: list[Section]) -> str:
    """One plain-text table: per section a title, its column headings, its rows, its notes."""
    body: list[tuple[str, ...] | str] = []
    for section in sections:
        body.append("")
        body.append(f"== {section.title}")
        body.append(("", *section.columns))
        for row in section.rows:
            unit = f" ({row.unit})" if row.unit else ""
            body.append(
                (f"  {row.metric}{unit}", _fmt(row.value, row.digits), _fmt(row.baseline, row.digits), _compare(row))
            )
        for note in section.notes:
            body.append(f"   * {note}")
    cells = [b for b in body if isinstance(b, tuple)]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    total_width = sum(widths) + 6
    lines = ["=" * total_width]
    for b in body:
        if isinstance(b, tuple):
            lines.append("  ".join([b[0].ljust(widths[0])] + [b[i].rjust(widths[i]) for i in (1, 2, 3)]).rstrip())
        else:
            lines.append(b)
    lines.append("=" * total_width)
    return "\n".join(lines[:1] + lines[2:])  # drop the blank line before the first section


def heading(machine: dict[str, Any], shape: LoadShape) -> str:
    return (
        f"Benchmark on {machine['cpus']} CPU(s) ({machine['cpu_model']}), {LOOPBACK} only; "
        f"wrk {shape.threads} threads, {shape.connections} connections, {shape.duration:.0f}s runs "
        f"after {shape.warmup:.0f}s warm-up"
    )


def results_json(
    sections: list[Section], machine: dict[str, Any], shape: LoadShape, runtime_s: float
) -> dict[str, Any]:
    """The content of bench-results.json."""
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "runtime_s": round(runtime_s, 1),
        "machine": machine,
        "load": shape.as_dict(),
        "sections": {s.key: {"title": s.title, **s.data, "notes": s.notes} for s in sections},
    }
