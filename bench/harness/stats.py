"""Figures from measurements: percentiles of one run, medians and spreads
over rounds, ratios between contenders."""

import statistics
from typing import Mapping, Optional, Sequence, Tuple


def percentile(ordered: Sequence[float], pct: float) -> float:
    """The nearest-rank ``pct`` percentile of the sorted ``ordered``."""
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100.0 * len(ordered))
                                      - 1))
    return ordered[index]


def median(values: Sequence[Optional[float]]) -> Optional[float]:
    """The median of the values that are not None; None if none is."""
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def spread(values: Sequence[Optional[float]]
           ) -> Tuple[Optional[float], Optional[float]]:
    """(lowest, highest) of the values that are not None; (None, None) if
    none is."""
    values = [v for v in values if v is not None]
    return (min(values), max(values)) if values else (None, None)


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    """a / b; None when either is missing or b is 0."""
    if a is None or b in (None, 0):
        return None
    return a / b


# What the report compares between contenders: throughput and latency.
COMPARED = ("rps", "p50_us", "p99_us")


def ratios(mine: Mapping[str, Optional[float]],
           theirs: Mapping[str, Optional[float]],
           metrics: Sequence[str] = COMPARED
           ) -> Tuple[Optional[float], ...]:
    """:func:`ratio` of ``mine`` over ``theirs`` for each of ``metrics``."""
    return tuple(ratio(mine[metric], theirs[metric]) for metric in metrics)
