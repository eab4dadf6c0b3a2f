"""The schema, built once per configuration with its limits and error handling."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.disable_introspection import DisableIntrospection
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext, ExecutionResult

from modelbox.config import Settings
from modelbox.errors import ModelBoxError
from modelbox.graph.artifacts import SCALARS as ARTIFACT_SCALARS
from modelbox.graph.artifacts import Artifact
from modelbox.graph.columnar import ColumnarExecutionContext
from modelbox.graph.errors import ErrorCodes, with_codes
from modelbox.graph.mutation import Mutation
from modelbox.graph.query import Query
from modelbox.graph.relay import Node
from modelbox.graph.subscription import DeletedNode, Subscription
from modelbox.graph.types import Checkpoint, Experiment, Model, ModelVersion, Namespace
from modelbox.resolvers.context import Context

FEDERATION_VERSION = "2.9"


class ModelBoxSchema(strawberry.federation.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Errors raised on purpose are answers, not incidents; ErrorCodes logs the rest.
        return None

    async def execute(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        # Syntax errors and the token limit end the operation before extensions see the
        # result, so codes are given here too (`with_codes` leaves coded errors alone).
        result = await super().execute(*args, **kwargs)
        if result.errors:
            result.errors = with_codes(result.errors)
        return result


class FreshLoaders(SchemaExtension):
    """Each operation loads afresh: a WebSocket's context outlives its operations."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, Context):
            context.fresh_loaders()
        yield


def extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Per-request extension factories around validation rules built once.

    The rules are classes made here, once: a limiter built per request would make
    a new rule class each time and so defeat the validation cache.
    """
    rules = (
        QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules
        + MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules
    )
    factories: list[Callable[[], SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: ParserCache(maxsize=256),
        lambda: AddValidationRules(rules),
        lambda: ValidationCache(maxsize=256),
        ErrorCodes,
        FreshLoaders,
    ]
    if not settings.introspection:
        factories.append(DisableIntrospection)
    return factories


def make_schema(settings: Settings) -> strawberry.federation.Schema:
    return ModelBoxSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Node, Namespace, Model, ModelVersion, Experiment, Checkpoint, DeletedNode, Artifact],
        extensions=extensions(settings),
        federation_version=FEDERATION_VERSION,
        execution_context_class=ColumnarExecutionContext,
        config=StrawberryConfig(scalar_map=ARTIFACT_SCALARS),
    )


# The schema with default settings: what `schema.graphql` is exported from.
schema = make_schema(Settings())

__all__ = ["ModelBoxError", "make_schema", "schema"]
