"""Experiments (training runs) and their checkpoints."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, NotRequired, TypedDict

from modelbox.server.access import Actor
from modelbox.server.store.audit import AuditLog
from modelbox.server.store.database import Database, Session
from modelbox.server.store.indexed import Indexed
from modelbox.server.store.keys import encode_map
from modelbox.server.store.namespaces import Namespaces
from modelbox.server.store.paging import Page, SortKey
from modelbox.server.store.ranked import Ranked, sort_key
from modelbox.server.store.records import LabelRecord, MetricValueRecord, now, object_id
from modelbox.server.store.repository import Repository
from modelbox.server.store.search import Fields, Plan, Searchable
from modelbox.server.store.search_index import SearchIndex
from modelbox.server.store.search_values import SearchValues

RUNNING = "RUNNING"
FINISHED_STATES = frozenset({"FINISHED", "FAILED", "KILLED"})
# The fields a search may name (filter, orderBy, query attributes).
EXPERIMENT_FIELDS = frozenset(
    {"status", "name", "owner", "framework", "task", "external_id", "namespace"}
    | {"created_at", "started_at", "ended_at"}
)


class ExperimentRecord(TypedDict):
    """An experiment as the store hands it up."""

    id: str
    namespace: str
    name: str
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    created_at: datetime
    updated_at: datetime
    owner: NotRequired[str | None]
    framework: NotRequired[str | None]
    task: NotRequired[str | None]
    external_id: NotRequired[str | None]
    hyperparameters: NotRequired[Any]
    metadata: NotRequired[Any]
    labels: NotRequired[list[LabelRecord]]
    # Per metric key: count, min, max and the last point of FLOAT series (for search).
    metric_summaries: NotRequired[dict[str, Any]]


class CheckpointRecord(TypedDict):
    """A checkpoint of an experiment, as the store hands it up."""

    id: str
    namespace: str
    experiment_id: str
    step: int
    created_at: datetime
    updated_at: datetime
    epoch: NotRequired[int | None]
    metrics: NotRequired[list[MetricValueRecord]]
    metadata: NotRequired[Any]


# A search of more namespaces than this (Query.experiments) is one aggregation.
MAX_SPANNED = 16


class Experiments(Repository[ExperimentRecord], Searchable):
    collection_name = "experiments"
    object_type = "Experiment"
    parent = True
    search_fields = Fields(EXPERIMENT_FIELDS, "hyperparameters", object_name="experiment")

    def __init__(
        self, database: Database, audit: AuditLog, namespaces: Namespaces, index: SearchIndex
    ) -> None:
        super().__init__(database, audit)
        self.namespaces = namespaces
        self.values = SearchValues(database)
        self.on_delete.append(self.values.delete_subjects)
        self.indexed = Indexed(index, self.collection, database)
        self.ranked = Ranked(self.values, self.collection, database)

    async def search(
        self, plan: Plan, first: int, after: str | None, *, slim: bool = False
    ) -> Page:
        # One namespace's search may take its candidates from the search values.
        namespace = plan.base.get("namespace")
        if isinstance(namespace, str) and self.values.ready:
            mine = await self.indexed.documents(
                plan, plan.search, namespace, first, after, slim=slim
            )
            page = None if mine is None else plan.page(mine, first, self.database.cursors)
            if page is None:
                page = await self.ranked.page(plan, plan.search, namespace, first, after)
            if page is not None:
                return page
        spanned = await self._spanned(plan)
        if spanned is not None:
            # A few namespaces: each one's page from the index, merged in the plan's order;
            # the index is caught up once for all of them.
            found: list[dict[str, Any]] = []
            since = time.monotonic()
            for name in spanned:
                scoped = self.search_plan(plan.search, {"namespace": name})
                documents = await self.indexed.documents(
                    scoped, plan.search, name, first, after, slim=slim, since=since
                )
                if documents is None or self.indexed.index.strained:
                    break
                found += documents
            else:
                found = sorted(found, key=sort_key(plan))[: first + 1]
                return plan.page(found, first, self.database.cursors)
        return await super().search(plan, first, after)

    async def _spanned(self, plan: Plan) -> list[str] | None:
        """The namespaces a search of several spans (its base names them, or is every one),
        when the index is ready and they are few enough to search one by one."""
        if not self.values.ready or self.indexed.index.strained:
            return None  # too many to hold at once: each would evict another, every time
        base = plan.base
        if not base:
            names = await self.namespaces.names(MAX_SPANNED + 1)
        elif list(base) == ["namespace"] and list(base["namespace"]) == ["$in"]:
            names = list(base["namespace"]["$in"])
        else:
            return None
        return names if len(names) <= MAX_SPANNED else None

    async def search_first_pages(
        self, plan: Plan, parent_field: str, parents: list[Any], first: int, *, slim: bool = False
    ) -> list[Page]:
        if parent_field == "namespace" and len(parents) == 1 and self.values.ready:
            scoped = self.search_plan(plan.search, {parent_field: parents[0]})
            return [await self.search(scoped, first, None, slim=slim)]
        return await super().search_first_pages(plan, parent_field, parents, first)

    async def search_count(self, plan: Plan) -> int:
        # One namespace's count, or a few's, may come from the index with no document read.
        namespace = plan.base.get("namespace")
        spanned = [namespace] if isinstance(namespace, str) else await self._spanned(plan)
        if spanned is not None and self.values.ready:
            counts: list[int] = []
            since = time.monotonic()
            for name in spanned:
                found = await self.indexed.count(plan.search, name, since)
                if found is None or (len(spanned) > 1 and self.indexed.index.strained):
                    break
                counts.append(found)
            else:
                return sum(counts)
        return await super().search_count(plan)

    async def search_counts(self, plan: Plan, parent_field: str, parents: list[Any]) -> list[int]:
        if parent_field == "namespace" and len(parents) == 1 and self.values.ready:
            return [
                await self.search_count(self.search_plan(plan.search, {parent_field: parents[0]}))
            ]
        return await super().search_counts(plan, parent_field, parents)

    async def create(self, actor: Actor, fields: dict[str, Any]) -> ExperimentRecord:
        document = {"status": RUNNING, "started_at": now(), "ended_at": None, **fields}

        async def insert(session: Session) -> ExperimentRecord:
            record = await self._insert(session, actor, document)
            await self._index_hyperparameters(session, record, fields, replace=False)
            return record

        return await self.namespaces.creating(actor, fields["namespace"], insert)

    async def update(
        self, actor: Actor, experiment: ExperimentRecord, changes: dict[str, Any]
    ) -> ExperimentRecord:
        # A run that reaches a final state is stamped with its end unless the client gave one.
        if changes.get("status") in FINISHED_STATES and not experiment.get("ended_at"):
            changes = {"ended_at": now(), **changes}

        async def work(session: Session) -> ExperimentRecord:
            record = await self._update(session, actor, experiment["id"], changes)
            if "hyperparameters" in changes:
                await self._index_hyperparameters(session, record, changes, replace=True)
            return record

        return await self.database.transaction(work)

    async def _index_hyperparameters(
        self, session: Session, record: ExperimentRecord, fields: dict[str, Any], *, replace: bool
    ) -> None:
        stored = encode_map(fields.get("hyperparameters") or {})
        experiment = object_id(record["id"])
        assert experiment is not None
        await self.values.write_hyperparameters(
            session, experiment, record["namespace"], stored, replace=replace
        )


class Checkpoints(Repository[CheckpointRecord]):
    collection_name = "checkpoints"
    object_type = "Checkpoint"
    parent = True
    sort = SortKey("step")

    async def create(
        self, actor: Actor, experiment: ExperimentRecord, fields: dict[str, Any]
    ) -> CheckpointRecord:
        document = {
            **fields,
            "experiment_id": object_id(experiment["id"]),
            "namespace": experiment["namespace"],
        }
        return await self._create_under(actor, "Experiment", experiment["id"], document)

    async def update(
        self, actor: Actor, checkpoint: CheckpointRecord, changes: dict[str, Any]
    ) -> CheckpointRecord:
        return await self.database.transaction(
            lambda s: self._update(s, actor, checkpoint["id"], changes)
        )
