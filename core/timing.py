"""The one wall-clock timer of the benchmarks (core.bench, core.bench_stats): the median of repeated calls.

Why the median: on a shared machine a single call can be slowed by another process; the median of a few
repeats is the robust figure the benchmarks report (and ratios are taken within one run).
"""

from __future__ import annotations

import statistics
import time


def median_seconds(fn, *, repeats: int, warmup: int = 0) -> float:
    """Median wall time of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
