"""The import direction of the server: web → graph → resolvers → store, never upwards."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

LAYERS = ["web", "graph", "resolvers", "store"]


@pytest.mark.parametrize("layer", LAYERS[1:])
def test_a_layer_imports_nothing_from_the_layers_above_it(layer: str) -> None:
    above = [f"modelbox.server.{name}" for name in LAYERS[: LAYERS.index(layer)]]
    # Every module of the layer, each imported in a fresh interpreter (no test import
    # has loaded anything yet), then the modules loaded are checked.
    code = f"""
        import importlib, pkgutil, sys
        package = importlib.import_module("modelbox.server.{layer}")
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)
        above = {above!r}
        print(sorted(n for n in sys.modules if any(n == a or n.startswith(a + ".") for a in above)))
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"{layer} imports from a layer above: {done.stdout}"


def test_the_layers_are_all_checked() -> None:
    # A new layer package under modelbox/server must be placed in LAYERS.
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import pkgutil, modelbox.server as s;"
            "print(sorted(m.name for m in pkgutil.iter_modules(s.__path__) if m.ispkg))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == repr(sorted(LAYERS))
