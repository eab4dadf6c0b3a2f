"""Policy definitions: named per namespace, scoped to a model, an experiment or the namespace."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NotRequired, TypedDict, cast

from modelbox.server.access import Actor
from modelbox.server.store.audit import AuditLog
from modelbox.server.store.database import Database, Session
from modelbox.server.store.namespaces import Namespaces
from modelbox.server.store.paging import SortKey
from modelbox.server.store.records import LabelRecord, Record, now, object_id
from modelbox.server.store.repository import Repository

# Write-only: used to sign webhook calls, never returned and never in the audit trail.
SECRET = "webhook_secret"
REFERENCES = ("model_id", "experiment_id", "target_model_id")


def _stored(fields: dict[str, Any]) -> dict[str, Any]:
    document = dict(fields)
    for ref in REFERENCES:
        if document.get(ref) is not None:
            document[ref] = object_id(document[ref])
    if SECRET in document:
        # What the audit trail may say about the secret: that it is set, and when it changed.
        document["has_webhook_secret"] = document[SECRET] is not None
        document["webhook_secret_changed_at"] = now()
    return document


class ConditionRecord(TypedDict):
    """A metric condition: `op` against a `value`, or against the holder of an alias."""

    key: str
    op: str
    dataset: NotRequired[str | None]
    value: NotRequired[float | None]
    compare_to_alias: NotRequired[str | None]
    min_delta: NotRequired[float | None]


class PolicyRecord(TypedDict):
    """A policy as the store hands it up; which optional fields matter depends on `kind`
    (PROMOTION, LABELING: conditions, labels, alias; RETENTION: keep_*, action)."""

    id: str
    namespace: str
    name: str
    kind: str
    enabled: bool
    dry_run: bool
    has_webhook_secret: bool
    created_at: datetime
    updated_at: datetime
    model_id: NotRequired[str | None]
    experiment_id: NotRequired[str | None]
    target_model_id: NotRequired[str | None]
    conditions: NotRequired[list[ConditionRecord] | None]
    require_labels: NotRequired[list[LabelRecord] | None]
    set_alias: NotRequired[str | None]
    add_labels: NotRequired[list[LabelRecord] | None]
    webhook_url: NotRequired[str | None]
    # Signs webhook calls; the graph never shows it (only `has_webhook_secret`).
    webhook_secret: NotRequired[str | None]
    webhook_secret_changed_at: NotRequired[datetime]
    keep_last: NotRequired[int | None]
    keep_best: NotRequired[int | None]
    keep_best_by: NotRequired[str | None]
    keep_best_mode: NotRequired[str | None]
    max_age_days: NotRequired[float | None]
    protect_labels: NotRequired[list[LabelRecord] | None]
    action: NotRequired[str | None]


def policy_record(record: Record) -> PolicyRecord:
    """A record of the policies collection (from the change feed), typed."""
    return cast(PolicyRecord, record)


class Policies(Repository[PolicyRecord]):
    collection_name = "policies"
    object_type = "Policy"
    sort = SortKey("name")

    def __init__(self, database: Database, audit: AuditLog, namespaces: Namespaces) -> None:
        super().__init__(database, audit)
        self.namespaces = namespaces

    async def create(self, actor: Actor, fields: dict[str, Any]) -> PolicyRecord:
        document = {"has_webhook_secret": False, **_stored(fields)}
        return await self.namespaces.creating(
            actor,
            fields["namespace"],
            lambda session: self._insert(session, actor, document, unaudited=frozenset({SECRET})),
        )

    async def update(self, actor: Actor, id: str, changes: dict[str, Any]) -> PolicyRecord:
        stored = _stored(changes)
        secret = {SECRET: stored.pop(SECRET)} if SECRET in stored else None

        async def work(session: Session) -> PolicyRecord:
            record = await self._update(session, actor, id, stored)
            if secret is not None:
                await self.collection.update_one(
                    {"_id": object_id(id)}, {"$set": secret}, session=session
                )
            return record

        return await self.database.transaction(work)

    async def enabled(self) -> list[PolicyRecord]:
        """Every enabled policy, for the process that evaluates them."""
        return [self._record(d) async for d in self.collection.find({"enabled": True})]

    async def due(self, kind: str) -> list[PolicyRecord]:
        query = {"enabled": True, "kind": kind}
        return [self._record(d) async for d in self.collection.find(query)]
