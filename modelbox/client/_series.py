"""Metric series read back: plain Python lists, a pandas DataFrame on request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple


class Point(NamedTuple):
    key: str
    step: int
    wallclock: float
    value: Any


@dataclass
class Series:
    """One series in step order: `steps`, `wallclocks` and `values` are parallel lists."""

    key: str
    kind: str
    steps: list[int] = field(default_factory=list)
    wallclocks: list[float] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)

    def extend(self, steps: list[int], wallclocks: list[float], values: list[Any]) -> None:
        self.steps += steps
        self.wallclocks += wallclocks
        self.values += values

    def __len__(self) -> int:
        return len(self.steps)

    def to_pandas(self) -> Any:
        """A DataFrame with columns key, step, wallclock, value; needs pandas."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_pandas needs pandas: pip install pandas") from None
        return pd.DataFrame(
            {
                "key": self.key,
                "step": self.steps,
                "wallclock": self.wallclocks,
                "value": self.values,
            }
        )
