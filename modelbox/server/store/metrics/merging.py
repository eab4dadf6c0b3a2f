"""Merging buckets read back into one column set in step order, and step windows."""

from __future__ import annotations

import bisect
import heapq
import itertools

from modelbox.server.store.metrics.columns import Columns


def merge(parts: list[Columns], kind: str) -> Columns:
    """Buckets (sorted by first step, each sorted inside) as one column set in step order."""
    merged = Columns(kind)
    for part in parts:
        merged.bucket_ids |= part.bucket_ids
    parts = [part for part in parts if part.steps]
    overlapping = any(
        later.steps[0] < earlier.steps[-1] for earlier, later in itertools.pairwise(parts)
    )
    if not overlapping:
        for part in parts:
            merged.steps += part.steps
            merged.wallclocks += part.wallclocks
            merged.column += part.column
    else:
        # Stable on step, so equal steps keep the order they were logged in.
        rows = heapq.merge(
            *(zip(p.steps, p.wallclocks, p.column, strict=True) for p in parts),
            key=lambda row: row[0],
        )
        for step, wallclock, value in rows:
            merged.steps.append(step)
            merged.wallclocks.append(wallclock)
            merged.column.append(value)
    return merged


def step_window(columns: Columns, from_step: int | None, to_step: int | None) -> Columns:
    start = 0 if from_step is None else bisect.bisect_left(columns.steps, from_step)
    stop = len(columns) if to_step is None else bisect.bisect_right(columns.steps, to_step)
    if start == 0 and stop == len(columns):
        return columns
    return columns.slice(start, stop)
