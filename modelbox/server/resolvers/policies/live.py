"""`policyEvaluations(namespace)`: each decision of the namespace's policies, as it is recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator

from modelbox.server.access import Role
from modelbox.server.resolvers import validation
from modelbox.server.resolvers.context import Context
from modelbox.server.resolvers.live import watch
from modelbox.server.resolvers.permissions import require
from modelbox.server.store import Change
from modelbox.server.store.policies import PolicyEvaluationRecord, evaluation_record


async def policy_evaluations(ctx: Context, namespace: str) -> AsyncIterator[PolicyEvaluationRecord]:
    validation.namespace_name(namespace)
    require(ctx, namespace, Role.VIEWER)
    principal = ctx.principal

    def match(change: Change) -> bool:
        document = change.document
        return (
            change.operation == "insert"
            and document is not None
            and document.get("namespace") == namespace
            and principal.can(namespace, Role.VIEWER)
        )

    collection = ctx.store.policy_evaluations.collection_name
    async for change in watch(ctx, frozenset({collection}), match):
        assert change.document is not None
        yield evaluation_record(change.document)
