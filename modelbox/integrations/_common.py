"""What both framework loggers share: how they start their run, which checkpoints they
log (each once), the model's summary."""

from __future__ import annotations

import math
from typing import Any

import modelbox

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


class Logging:
    """A framework logger's settings: the `modelbox.init` arguments of its run and which
    checkpoints it logs ("last", "best", "all" or None), with those logged so far."""

    def __init__(
        self,
        framework: str,
        namespace: str | None,
        experiment: str | None,
        config: dict[str, Any] | None,
        log_checkpoints: str | bool | None,
        init_kwargs: dict[str, Any],
    ) -> None:
        self.init = {
            "namespace": namespace,
            "experiment": experiment,
            "config": config,
            "framework": framework,
            **init_kwargs,
        }
        self.mode = checkpoint_mode(log_checkpoints)
        self.logged: set[str] = set()

    def start(self) -> modelbox.Run:
        return modelbox.init(**self.init)

    def checkpoint(self, run: modelbox.Run, path: str, **fields: Any) -> None:
        """`run.log_checkpoint(path, ...)` once per path; a failure is printed, not raised:
        the training goes on and the files are on disk."""
        if path in self.logged:
            return
        self.logged.add(path)
        try:
            run.log_checkpoint(path, progress=False, **fields)
        except modelbox.ModelBoxError as error:
            print(f"ModelBox: checkpoint {path} not logged: {error}")


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
