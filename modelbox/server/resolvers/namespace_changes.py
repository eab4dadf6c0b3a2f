"""`namespaceChanges`: models, versions, experiments, checkpoints (and artifacts) as they change.

Creates and updates come from the objects' own collections, with the document as it
now is. Deletes come from the audit trail, written in the same transaction as each
delete, because a deleted document no longer says which namespace it was in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from modelbox.server.access import Role
from modelbox.server.resolvers import validation
from modelbox.server.resolvers.context import Context
from modelbox.server.resolvers.live import watch
from modelbox.server.resolvers.permissions import require
from modelbox.server.store import AuditAction, Change, Record, Store
from modelbox.server.store.search import SUMMARIES


@dataclass(frozen=True)
class NamespaceChange:
    type: str  # CREATED, UPDATED or DELETED
    object_type: str
    object_id: str
    record: Record | None  # None for DELETED
    at: datetime


def watched(store: Store) -> dict[str, str]:
    """{collection: object type} of what a namespace watcher sees."""
    repositories = (
        store.models,
        store.versions,
        store.experiments,
        store.checkpoints,
        store.artifacts,
    )
    return {r.collection_name: r.object_type for r in repositories}


async def namespace_changes(ctx: Context, namespace: str) -> AsyncIterator[NamespaceChange]:
    validation.namespace_name(namespace)
    require(ctx, namespace, Role.VIEWER)
    types = watched(ctx.store)
    audit = ctx.store.audit.collection_name
    principal = ctx.principal

    def match(change: Change) -> bool:
        document = change.document
        if document is None or document.get("namespace") != namespace:
            return False
        if not principal.can(namespace, Role.VIEWER):
            return False
        if change.collection == audit:
            relevant = document["action"] == AuditAction.DELETED
            return relevant and document["object_type"] in types.values()
        # Logging metrics refreshes an experiment's search summaries: not news to watchers.
        return not change.updated or bool(change.updated - {SUMMARIES})

    async for change in watch(ctx, frozenset(types) | {audit}, match):
        document = change.document
        assert document is not None
        if change.collection == audit:
            yield NamespaceChange(
                "DELETED", document["object_type"], document["object_id"], None, change.at
            )
        else:
            kind = "CREATED" if change.operation == "insert" else "UPDATED"
            yield NamespaceChange(
                kind, types[change.collection], change.document_id, document, change.at
            )
