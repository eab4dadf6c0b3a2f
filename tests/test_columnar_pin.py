"""graph/columnar.py overrides graphql-core executor methods: pinned, and checked here."""

from __future__ import annotations

import inspect
import tomllib
from importlib.metadata import version
from pathlib import Path

from graphql.execution.executor import Executor
from graphql.execution.values import VariableValues
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from modelbox.server.graph.columnar import ColumnarExecutionContext

ROOT = Path(__file__).resolve().parents[1]
PINNED = ("strawberry-graphql", "graphql-core")
# The parameters the overrides pass on positionally, as graphql-core 3.3.2 names them.
BUILD = ["schema", "document", "root_value", "context_value", "raw_variable_values"]
COMPLETE_LIST = ["self", "return_type", "field_details_list", "info", "path", "result"]


def _parameters(method: object) -> list[str]:
    return list(inspect.signature(method).parameters)  # type: ignore[arg-type]


def test_the_overridden_libraries_are_pinned_and_installed_at_the_pins() -> None:
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["server"]
    # Exact pins of the server extra, by distribution name (`uvicorn[standard]` is uvicorn).
    pins = {
        line.split("==")[0].split("[")[0]: line.split("==")[1] for line in extra if "==" in line
    }
    assert set(PINNED) <= set(pins), "columnar.py needs exact pins of both"
    for name, pinned in pins.items():
        assert version(name) == pinned, f"{name} {version(name)} is not the pinned one"


def test_the_overridden_methods_keep_their_signatures() -> None:
    base = StrawberryGraphQLCoreExecutionContext
    assert _parameters(base.build)[: len(BUILD)] == BUILD
    assert _parameters(base.complete_list_value)[: len(COMPLETE_LIST)] == COMPLETE_LIST
    assert _parameters(base.complete_list_value)[len(COMPLETE_LIST) :] == ["position_context"]
    # Where build leaves the coerced variables that the short cut puts its lists back into.
    assert "variable_values" in inspect.signature(Executor.__init__).parameters
    assert "coerced" in VariableValues.__annotations__
    assert ColumnarExecutionContext.build.__qualname__.startswith("ColumnarExecutionContext")
