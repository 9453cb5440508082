"""Numbers of the bench: percentiles and summaries of millisecond samples, comparisons of a figure with
its baseline, and a timer that collects samples."""

from __future__ import annotations

import time
from typing import Any, Iterable, Mapping


def percentile(values: list[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def rounded(x: float | None, digits: int = 3) -> float | None:
    return None if x is None else round(x, digits)


def summary_ms(values_ms: list[float]) -> dict[str, Any]:
    return {
        "n": len(values_ms),
        "mean_ms": rounded(sum(values_ms) / len(values_ms) if values_ms else None),
        "p50_ms": rounded(percentile(values_ms, 50)),
        "p90_ms": rounded(percentile(values_ms, 90)),
        "p99_ms": rounded(percentile(values_ms, 99)),
        "max_ms": rounded(max(values_ms) if values_ms else None),
        "min_ms": rounded(min(values_ms) if values_ms else None),
    }


def summed_counts(mappings: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Counts (or seconds) per key added up over several mappings; a key missing from one counts 0 there."""
    total: dict[str, float] = {}
    for mapping in mappings:
        for key, value in mapping.items():
            total[key] = total.get(key, 0) + value
    return total


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 4)


def diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 3)


class timed_ms:
    """`with timed_ms(samples):` appends the block's wall time in milliseconds to `samples`, unless the
    block raises. A class rather than a generator context manager: it sits inside measured loops, and
    this costs less per use."""

    __slots__ = ("samples", "began")

    def __init__(self, samples: list[float]):
        self.samples = samples

    def __enter__(self) -> None:
        self.began = time.perf_counter()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.samples.append((time.perf_counter() - self.began) * 1000.0)
