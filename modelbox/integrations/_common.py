"""What both framework loggers share: which checkpoints to log, the model's summary."""

from __future__ import annotations

import math
from typing import Any

CHECKPOINT_MODES = ("last", "best", "all")


def checkpoint_mode(value: str | bool | None) -> str | None:
    """`log_checkpoints`: "last", "best", "all", or off (None/False); True means "last"."""
    if value is True:
        return "last"
    if value in (None, False):
        return None
    if value not in CHECKPOINT_MODES:
        raise ValueError(
            f"log_checkpoints must be one of {CHECKPOINT_MODES} or None, not {value!r}"
        )
    return str(value)


def model_summary(model: Any) -> dict[str, Any]:
    """Parameter counts and the top-level layers of a torch module (any object with
    `named_children` and `parameters`)."""
    params = list(model.parameters())
    layers = []
    for name, child in model.named_children():
        layers.append(
            {
                "name": name,
                "type": type(child).__name__,
                "parameters": sum(p.numel() for p in child.parameters()),
            }
        )
    return {
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "parameters": sum(p.numel() for p in params),
        "trainable_parameters": sum(p.numel() for p in params if p.requires_grad),
        "layers": layers,
    }


def numbers(values: dict[str, Any]) -> dict[str, float]:
    """The entries that are numbers (floats, ints, 0-d tensors), as floats."""
    found = {}
    for key, value in values.items():
        item = getattr(value, "item", None)
        try:
            number = float(item() if callable(item) else value)
        except (TypeError, ValueError):
            continue
        found[key] = number
    return found


def finite_or_none(value: Any) -> float | None:
    try:
        number = float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
