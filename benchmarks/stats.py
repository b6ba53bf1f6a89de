"""The one statistic every ratio of ``make bench`` uses."""

from __future__ import annotations

import statistics
import typing as t


def median_ratio(a: t.Sequence[float], b: t.Sequence[float]) -> float:
    """The median over rounds of ``a`` over ``b`` *in the same round*.

    Two figures of one round were taken seconds (or milliseconds) apart, so
    they share the machine's phase: a shared host has slow and fast phases
    that last longer than a round, and the ratio within a round cancels them
    where a ratio of two medians or two minima would not. Rounds where ``b``
    is zero are left out.
    """
    return statistics.median(x / y for x, y in zip(a, b, strict=True) if y)
