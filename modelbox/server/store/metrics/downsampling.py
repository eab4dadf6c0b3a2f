"""Downsampling for plots (M4): pure functions over columns, no database.

`extremes` is the kernel (each group's first, minimum, maximum and last value); `m4` cuts a
series' step range into equal-width groups and keeps what the kernel picks. Buckets use the
kernel for their stored rollups (buckets.py); reads use `m4` (resolvers/metrics.py).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable

from modelbox.server.store.metrics.columns import FLOAT, Columns


def extremes(values: list[float], groups: Iterable[tuple[int, int]]) -> list[int]:
    """M4: the indexes of each `(start, stop)` group's first, minimum, maximum and last
    value, ascending. Slices with C-level `min`/`max`, so 100,000 values take milliseconds.
    A NaN has no place in the order, yet a plot must show it: in a group that holds one,
    the first NaN takes the maximum's place (infinities are extremes like any value)."""
    with_nan = any(map(math.isnan, values))
    picked: list[int] = []
    for start, stop in groups:
        if stop <= start:
            continue
        segment = values[start:stop]
        if with_nan and (nan := _first_nan(segment)) is not None:
            numbers = [(v, i) for i, v in enumerate(segment) if v == v]
            lowest = start + (min(numbers)[1] if numbers else nan)
            highest = start + nan
        else:
            lowest = start + segment.index(min(segment))
            highest = start + segment.index(max(segment))
        picked.extend(sorted({start, lowest, highest, stop - 1}))
    return picked


def _first_nan(segment: list[float]) -> int | None:
    return next((i for i, v in enumerate(segment) if v != v), None)


def m4(columns: Columns, max_points: int) -> Columns:
    """M4 downsampling: cut the step range into equal-width groups and keep each group's
    first, last, minimum and maximum point (first and last for tensors and bytes), so that
    spikes survive on a plot. Groups are found by bisection, so this takes milliseconds.
    """
    n = len(columns)
    if n <= max_points:
        return columns
    per_group = 4 if columns.kind == FLOAT else 2
    groups = max_points // per_group
    if groups == 0:
        # Fewer points than one group needs: evenly spaced ones, first and last included.
        if max_points == 1:
            return columns.take([n - 1])
        return columns.take(round(i * (n - 1) / (max_points - 1)) for i in range(max_points))
    steps = columns.steps
    low, width = steps[0], (steps[-1] - steps[0] + 1) / groups
    bounds: list[tuple[int, int]] = []
    start = 0
    for group in range(1, groups + 1):
        stop = n if group == groups else bisect.bisect_left(steps, low + group * width, start)
        bounds.append((start, stop))
        start = stop
    if per_group == 4:
        return columns.take(extremes(columns.column, bounds))
    return columns.take(i for a, b in bounds if b > a for i in sorted({a, b - 1}))
