"""Turning what `run.log` queued into spool ops: columnar series per key, in background."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterator
from operator import itemgetter
from typing import Any

from modelbox.client._columns import FLOAT, TENSOR, as_floats, kind_of, series_input

logger = logging.getLogger("modelbox")

# Points per logMetrics request: well under the server's default limit of 100,000.
MAX_POINTS_PER_OP = 10_000


def _same_keys(
    entries: list[tuple[int, float, dict[str, Any]]],
) -> Iterator[list[tuple[int, float, dict[str, Any]]]]:
    """Consecutive entries whose dicts have the same keys, run by run."""
    start = 0
    for i in range(1, len(entries) + 1):
        if i == len(entries) or entries[i][2].keys() != entries[start][2].keys():
            yield entries[start:i]
            start = i


def _as_text(value: Any) -> str:
    """A value that is not a number: tensors and arrays as their nested list, else str()."""
    tolist = getattr(value, "tolist", None)
    return json.dumps(tolist()) if callable(tolist) else str(value)


class Columnizer:
    """Groups queued `(step, wallclock, {key: value})` entries into series, remembering each
    key's kind: a value of another kind than the key's first is refused with a warning."""

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
        self, entries: list[tuple[int, float, dict[str, Any]]]
    ) -> list[list[dict[str, Any]]]:
        """The entries as lists of MetricSeriesInput, each list at most MAX_POINTS_PER_OP points."""
        columns: dict[str, tuple[list[int], list[float], list[Any]]] = defaultdict(
            lambda: ([], [], [])
        )
        for run in _same_keys(entries):
            # A run of entries logging the same keys (the usual loop) is split into columns
            # by C-level maps, not point by point: the GIL this thread holds is the loop's.
            datas = [entry[2] for entry in run]
            steps_of = [entry[0] for entry in run]
            wallclocks_of = [entry[1] for entry in run]
            for key in datas[0]:
                steps, wallclocks, values = columns[key]
                steps += steps_of
                wallclocks += wallclocks_of
                values += map(itemgetter(key), datas)
        ops: list[list[dict[str, Any]]] = [[]]
        room = MAX_POINTS_PER_OP
        for key, (steps, wallclocks, values) in columns.items():
            kind, coerced, kept = self._coerce(key, values)
            if len(kept) != len(values):
                steps = [steps[i] for i in kept]
                wallclocks = [wallclocks[i] for i in kept]
            for start in range(0, len(coerced), MAX_POINTS_PER_OP):
                stop = min(start + MAX_POINTS_PER_OP, len(coerced))
                if stop - start > room:
                    ops.append([])
                    room = MAX_POINTS_PER_OP
                ops[-1].append(
                    series_input(
                        key, steps[start:stop], wallclocks[start:stop], coerced[start:stop], kind
                    )
                )
                room -= stop - start
        return [op for op in ops if op]
