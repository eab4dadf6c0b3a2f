"""Federation representations checked before any is resolved.

A malformed one (not an object, an unknown `__typename`, a key that is missing or not a
string, a field that is no key) is the caller's error: one BAD_USER_INPUT naming it,
instead of one masked and logged error per representation.
"""

from __future__ import annotations

from typing import Any

from strawberry.types.base import StrawberryObjectDefinition
from strawberry.utils.inspect import get_func_args

from modelbox.server.errors import BadUserInput


def entity_keys(type_map: dict[str, Any]) -> dict[str, frozenset[str]]:
    """Each entity type's name and the fields of its key (its `resolve_reference` arguments)."""
    keys: dict[str, frozenset[str]] = {}
    for name, concrete in type_map.items():
        definition = getattr(concrete, "definition", None)
        if isinstance(definition, StrawberryObjectDefinition):
            resolve = getattr(definition.origin, "resolve_reference", None)
            if resolve is not None:
                keys[name] = frozenset(get_func_args(resolve)) - {"info"}
    return keys


def check_representations(keys: dict[str, frozenset[str]], representations: list[Any]) -> None:
    for index, representation in enumerate(representations):
        where = f"representations[{index}]"
        if not isinstance(representation, dict):
            raise BadUserInput(f"{where}: not an object", field="representations")
        type_name = representation.get("__typename")
        fields = keys.get(type_name) if isinstance(type_name, str) else None
        if fields is None:
            raise BadUserInput(
                f"{where}: __typename {str(type_name)[:60]!r} is not one of {', '.join(keys)}",
                field="representations",
            )
        given = set(representation) - {"__typename"}
        if given != fields or not all(isinstance(representation[f], str) for f in fields):
            wanted = " and ".join(sorted(fields))
            raise BadUserInput(
                f"{where}: a {type_name} is represented by its {wanted} (a string) only",
                field="representations",
            )
