"""What every operation passes before any work: who asks, and whether it may run at all.

The token is looked up again for each operation (a WebSocket's operations each run on a
copy of its context, as the token is now), and an operation without a valid token is
refused before its variables are coerced or a resolver runs, unless all it asks for is
the schema and that is public (`public_schema`). Then its lists and its cost are checked
(`cost.Inspector`), still before anything is coerced or read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator

from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, OperationDefinitionNode
from graphql.language import DocumentNode, FragmentDefinitionNode, SelectionSetNode
from strawberry.extensions import SchemaExtension

from modelbox.server.config import Settings
from modelbox.server.errors import Unauthenticated
from modelbox.server.graph.cost import Inspector
from modelbox.server.resolvers.auth import sign_in
from modelbox.server.resolvers.context import Context

# What a caller without a token may ask while the schema is public.
SCHEMA_FIELDS = frozenset({"__schema", "__type", "__typename", "_service"})


class OperationGuard(SchemaExtension):
    def __init__(self, *, settings: Settings) -> None:
        self.settings = settings

    async def on_operation(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context) and context.websocket:
            context = dataclasses.replace(context)
            await sign_in(context, context.token)
            self.execution_context.context = context
        yield

    def on_execute(self) -> Iterator[None]:
        execution = self.execution_context
        context, document = execution.context, execution.graphql_document
        operation = operation_of(document, execution.operation_name) if document else None
        if document is None or operation is None or not isinstance(context, Context):
            yield  # graphql-core reports what is wrong with the document
            return
        fragments = fragments_of(document)
        if not context.signed_in and not (
            self.settings.public_schema
            and asks_only(operation.selection_set, SCHEMA_FIELDS, fragments)
        ):
            raise context.refusal or Unauthenticated("a bearer token is required")
        schema = execution.schema._schema
        root = schema.get_root_type(operation.operation)
        if root is not None:
            inspector = Inspector(schema, self.settings, execution.variables, fragments)
            inspector.check(root, operation.selection_set)
        yield


def operation_of(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == name), None)


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def asks_only(
    selections: SelectionSetNode,
    allowed: frozenset[str],
    fragments: dict[str, FragmentDefinitionNode],
) -> bool:
    """Whether the top-level fields of `selections` (through fragments) are all `allowed`."""
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value not in allowed:
                return False
        elif isinstance(selection, InlineFragmentNode):
            if not asks_only(selection.selection_set, allowed, fragments):
                return False
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is None or not asks_only(fragment.selection_set, allowed, fragments):
                return False
    return True
