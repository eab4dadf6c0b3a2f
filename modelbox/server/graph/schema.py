"""The schema, built once per configuration with its limits and error handling."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

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
from strawberry.federation.schema import FederationAny
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from modelbox.server.config import Settings
from modelbox.server.errors import BadUserInput, ModelBoxError
from modelbox.server.graph.artifacts import Artifact
from modelbox.server.graph.entities import check_representations, entity_keys
from modelbox.server.graph.errors import ErrorCodes, with_codes
from modelbox.server.graph.experiments import Checkpoint, Experiment
from modelbox.server.graph.guard import OperationGuard
from modelbox.server.graph.models import Model, ModelVersion
from modelbox.server.graph.mutation import Mutation
from modelbox.server.graph.namespaces import Namespace
from modelbox.server.graph.query import Query
from modelbox.server.graph.relay import Node
from modelbox.server.graph.scalars import SCALARS
from modelbox.server.graph.shared import SharedExecutionContext
from modelbox.server.graph.subscription import DeletedNode, Subscription

# Both Apollo composition and The Guild's composer accept it (tests/test_federation.py).
FEDERATION_VERSION: Literal["2.9"] = "2.9"
SUBSCRIPTION_NEEDS_A_STREAM = GraphQLError(
    "subscriptions are served over WebSocket at /graphql (graphql-transport-ws or graphql-ws)",
    extensions={"code": BadUserInput.code},
)


class ModelBoxSchema(strawberry.federation.Schema):
    # Strawberry builds `_entities` from this signature: the annotations must stay theirs.
    def entities_resolver(
        self, info: strawberry.Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        if not hasattr(self, "_entity_keys"):
            self._entity_keys = entity_keys(self.schema_converter.type_map)
        check_representations(self._entity_keys, representations)
        return super().entities_resolver(info, representations)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Errors raised on purpose are answers, not incidents; ErrorCodes logs the rest.
        return None

    async def subscribe(self, *args: Any, **kwargs: Any) -> Any:
        # The legacy graphql-ws protocol sends every operation through `subscribe`; queries
        # and mutations run there too, as over graphql-transport-ws.
        return await self.stream(*args, **kwargs)

    async def execute(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        # A subscription needs a stream: one sent as a plain request is refused by name
        # instead of being run like a query.
        allowed = kwargs.get("allowed_operation_types")
        if allowed is not None:
            kwargs["allowed_operation_types"] = set(allowed) - {OperationType.SUBSCRIPTION}
        try:
            result = await super().execute(*args, **kwargs)
        except InvalidOperationTypeError as error:
            if error.operation_type != OperationType.SUBSCRIPTION:
                raise
            return ExecutionResult(data=None, errors=[SUBSCRIPTION_NEEDS_A_STREAM])
        # Syntax errors and the token limit end the operation before extensions see the
        # result, so codes are given here too (`with_codes` leaves coded errors alone).
        if result.errors:
            result.errors = with_codes(result.errors)
        return result


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
        lambda: OperationGuard(settings=settings),
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
        execution_context_class=SharedExecutionContext,
        config=StrawberryConfig(scalar_map=SCALARS),
    )


# The schema with default settings: what `schema.graphql` is exported from.
schema = make_schema(Settings())

__all__ = ["ModelBoxError", "make_schema", "schema"]
