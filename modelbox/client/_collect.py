"""Turning what `run.log` queued into spool ops: columnar series per key, in background.

This thread shares the GIL with the training loop, so every pass over the points is a
C-level `map`/slice, never a Python loop per point.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from itertools import compress, count, pairwise
from operator import itemgetter, ne
from typing import Any

from modelbox.client._columns import FLOAT, TENSOR, as_floats, kind_of, series_input

logger = logging.getLogger("modelbox")

# Points per logMetrics request: well under the server's default limit of 100,000.
MAX_POINTS_PER_OP = 10_000


def _runs(datas: list[dict[str, Any]]) -> list[int]:
    """Bounds of the runs of consecutive dicts with the same keys: [0, ..., len]."""
    if sum(map(len, datas)) == len(set().union(*datas)) * len(datas):
        return [0, len(datas)]  # every dict has every key: the usual loop
    names = list(map(tuple, datas))
    return [0, *compress(count(1), map(ne, names[1:], names)), len(datas)]


def _as_text(value: Any) -> str:
    """A value that is not a number: tensors and arrays as their nested list, else str()."""
    tolist = getattr(value, "tolist", None)
    return json.dumps(tolist()) if callable(tolist) else str(value)


class Columnizer:
    """Groups queued points (parallel columns of steps, wallclocks and `{key: value}`
    dicts) into series, remembering each key's kind: a value of another kind than the
    key's first is refused with a warning."""

    def __init__(self) -> None:
        self.kinds: dict[str, str] = {}

    def _coerce(self, key: str, values: list[Any]) -> tuple[str, list[Any], list[int]]:
        """(kind, values of that kind, indexes kept)."""
        kind = self.kinds.get(key)
        if kind in (None, FLOAT) and (floats := as_floats(values)) is not None:
            self.kinds[key] = FLOAT
            return FLOAT, floats, list(range(len(values)))
        kept, out = [], []
        for i, value in enumerate(values):
            this = kind_of(value)
            if this == FLOAT:
                number = as_floats([value])
                value, this = (number[0], FLOAT) if number else (_as_text(value), TENSOR)
            kind = kind or this
            if this != kind:
                logger.warning(
                    "ModelBox: %s is a %s series; a %s value was not logged", key, kind, this
                )
                continue
            kept.append(i)
            out.append(value)
        self.kinds[key] = kind or FLOAT
        return self.kinds[key], out, kept

    def series(
        self, steps: list[int], wallclocks: list[float], datas: list[dict[str, Any]]
    ) -> list[list[dict[str, Any]]]:
        """The points as lists of MetricSeriesInput, each list at most MAX_POINTS_PER_OP
        points."""
        columns: dict[str, tuple[list[int], list[float], list[Any]]] = defaultdict(
            lambda: ([], [], [])
        )
        for start, stop in pairwise(_runs(datas)):
            run = datas[start:stop]
            for key in run[0] if run else ():
                key_steps, key_wallclocks, values = columns[key]
                key_steps += steps[start:stop]
                key_wallclocks += wallclocks[start:stop]
                values += map(itemgetter(key), run)
        ops: list[list[dict[str, Any]]] = [[]]
        room = MAX_POINTS_PER_OP
        for key, (key_steps, key_wallclocks, values) in columns.items():
            kind, coerced, kept = self._coerce(key, values)
            if len(kept) != len(values):
                key_steps = [key_steps[i] for i in kept]
                key_wallclocks = [key_wallclocks[i] for i in kept]
            for start in range(0, len(coerced), MAX_POINTS_PER_OP):
                stop = min(start + MAX_POINTS_PER_OP, len(coerced))
                if stop - start > room:
                    ops.append([])
                    room = MAX_POINTS_PER_OP
                ops[-1].append(
                    series_input(
                        key,
                        key_steps[start:stop],
                        key_wallclocks[start:stop],
                        coerced[start:stop],
                        kind,
                    )
                )
                room -= stop - start
        return [op for op in ops if op]
