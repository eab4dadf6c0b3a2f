"""Long lists of numbers through graphql-core without its per-item work, both ways.

graphql-core coerces every item of an input list and completes every item of an output
list one by one, a few microseconds each: most of the time of a 10,000-point
`logMetrics` and nearly all of a 100,000-point read. The executor here keeps the GraphQL
types and their guarantees and takes two short cuts:

- In: a variable's list of `Int!`, `Long!` or `Float!` items (at least `SHORT_CUT_ITEMS`
  long) whose items are all plainly valid — exact ints in the 32-bit (`Long`: 64-bit) range,
  finite floats, the very values graphql-core's coercion would return unchanged — is checked
  in C-level passes and set aside while graphql-core coerces the rest, then put back. A list
  with anything else in it takes the normal path and gets the normal error.
- Out: a `Column` (a list of scalars already in their JSON form) is handed on whole.

Neither graphql-core nor Strawberry offers a supported hook for either (a scalar holding a
whole column would change the schema's types), so this overrides `build` and
`complete_list_value` of the executor Strawberry passes as `execution_context_class`, and
pyproject pins strawberry-graphql and graphql-core exactly; `tests/test_columnar_pin.py`
checks the installed versions and the two methods' signatures, and fails on an upgrade
until this module has been checked against the new ones.
"""

from __future__ import annotations

import math
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLInputType,
    GraphQLList,
    GraphQLOutputType,
    GraphQLSchema,
    OperationDefinitionNode,
    is_input_object_type,
    is_input_type,
    is_list_type,
    is_non_null_type,
    type_from_ast,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

SHORT_CUT_ITEMS = 64
RANGES = {"Int": (-(2**31), 2**31 - 1), "Long": (-(2**63), 2**63 - 1)}
Path = tuple[str | int, ...]


class Column(list):  # type: ignore[type-arg]
    """A list of scalars already in their JSON form (they were checked when logged)."""


def _plainly_valid(scalar: str, values: list[Any]) -> bool:
    if scalar in RANGES:
        low, high = RANGES[scalar]
        return set(map(type, values)) == {int} and low <= min(values) and max(values) <= high
    return set(map(type, values)) == {float} and all(map(math.isfinite, values))


def _set_aside(value: Any, type_: Any, path: Path, aside: list[tuple[Path, list[Any]]]) -> Any:
    """`value` with its long plain number lists replaced by empty ones, noted in `aside`."""
    if is_non_null_type(type_):
        type_ = type_.of_type
    if is_list_type(type_) and isinstance(value, list):
        item = type_.of_type
        scalar = getattr(item.of_type, "name", None) if is_non_null_type(item) else None
        if scalar in ("Int", "Long", "Float"):
            if len(value) >= SHORT_CUT_ITEMS and _plainly_valid(scalar, value):
                aside.append((path, value))
                return []
            return value
        return [_set_aside(v, item, (*path, i), aside) for i, v in enumerate(value)]
    if is_input_object_type(type_) and isinstance(value, dict):
        fields = type_.fields
        return {
            name: _set_aside(v, fields[name].type, (*path, fields[name].out_name or name), aside)
            if name in fields
            else v
            for name, v in value.items()
        }
    return value


def _variable_types(schema: GraphQLSchema, document: DocumentNode) -> dict[str, GraphQLInputType]:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1:
        return {}
    types: dict[str, GraphQLInputType] = {}
    for definition in operations[0].variable_definitions or ():
        found = type_from_ast(schema, definition.type)
        if is_input_type(found):
            types[definition.variable.name.value] = found
    return types


class ColumnarExecutionContext(StrawberryGraphQLCoreExecutionContext):
    @classmethod
    def build(  # type: ignore[override]
        cls,
        schema: GraphQLSchema,
        document: DocumentNode,
        root_value: Any = None,
        context_value: Any = None,
        raw_variable_values: dict[str, Any] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        aside: list[tuple[Path, list[Any]]] = []
        if raw_variable_values:
            types = _variable_types(schema, document)
            raw_variable_values = {
                name: _set_aside(value, types[name], (name,), aside) if name in types else value
                for name, value in raw_variable_values.items()
            }
        built = super().build(
            schema, document, root_value, context_value, raw_variable_values, *args, **kwargs
        )
        if aside and not isinstance(built, list):  # a list is of errors
            for path, values in aside:
                parent: Any = built.variable_values.coerced
                for key in path[:-1]:
                    parent = parent[key]
                parent[path[-1]] = values
        return built

    def complete_list_value(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_details_list: Any,
        info: Any,
        path: Any,
        result: Any,
        *rest: Any,
    ) -> Any:
        if isinstance(result, Column):
            return result
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, *rest
        )
