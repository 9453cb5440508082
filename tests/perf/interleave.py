"""Measuring several targets against each other in alternating slices instead of one whole run after the
other: a machine whose speed drifts during a section (seen here: x1.6 within minutes) then weighs on every
target alike, not on whichever ran at the wrong moment."""

from __future__ import annotations

from typing import Iterator, Sequence, TypeVar

T = TypeVar("T")

# Slices per target; the order reverses every round (A B, B A, A B, B A), so no target always goes first.
ROUNDS = 4


def alternating(targets: Sequence[T], rounds: int = ROUNDS) -> Iterator[tuple[int, T]]:
    """(round, target) in the order to measure them."""
    for i in range(rounds):
        for target in targets if i % 2 == 0 else targets[::-1]:
            yield i, target


def slice_seconds(duration: float, rounds: int = ROUNDS) -> int:
    """Whole seconds per slice (wrk's -d takes whole seconds), at least one."""
    return max(1, round(duration / rounds))


def described(rounds: int = ROUNDS) -> str:
    return (
        f"{rounds} slices per target, the targets alternating (A B, B A, ...), so a change of machine speed "
        "during the section weighs on all of them"
    )
