"""Models in the graph: `Model` and its `ModelVersion`s."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

# Not `metrics`: that is the name of the key/value metrics field of versions.
from modelbox.server.graph import metrics as metric_graph
from modelbox.server.graph.artifacts import artifacts_field
from modelbox.server.graph.common import (
    Dataset,
    Label,
    MetricValue,
    datasets_of,
    labels_of,
    metric_values_of,
)
from modelbox.server.graph.events import events_field
from modelbox.server.graph.experiments import Checkpoint, Experiment
from modelbox.server.graph.inputs import ModelVersionFilter
from modelbox.server.graph.namespaces import Namespace, namespace_of
from modelbox.server.graph.policies import policies_field
from modelbox.server.graph.relay import (
    Info,
    Node,
    connection_field,
    from_fields,
    node_type,
    resolve_entity,
)
from modelbox.server.graph.search import ModelVersionOrder, QueryText
from modelbox.server.resolvers import models, search
from modelbox.server.resolvers.kinds import MODEL
from modelbox.server.resolvers.nodes import owner
from modelbox.server.store.models import ModelRecord
from modelbox.server.store.versions import VersionRecord

# Declared below Model, whose `versions` field is made before the class exists.
LazyModelVersion = Annotated["ModelVersion", strawberry.lazy("modelbox.server.graph.models")]


@node_type
@strawberry.federation.type(keys=["id"])
class Model(Node):
    record: strawberry.Private[ModelRecord]
    namespace_name: strawberry.Private[str]
    name: str
    description: str | None
    task: str | None
    owner: str | None
    labels: list[Label]
    datasets: list[Dataset]
    metadata: JSON | None
    created_at: datetime
    updated_at: datetime

    events = events_field()

    policies = policies_field("model_id")

    artifacts = artifacts_field()

    @classmethod
    def from_record(cls, r: ModelRecord) -> Model:
        return from_fields(
            cls, r, namespace_name=r["namespace"], labels=labels_of(r), datasets=datasets_of(r)
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Model | None:
        return await resolve_entity(info, id, cls)

    @strawberry.field
    async def namespace(self, info: Info) -> Namespace:
        return await namespace_of(info, self.namespace_name)

    versions = connection_field(
        LazyModelVersion,
        search.versions_listing,
        filter=ModelVersionFilter | None,
        order_by=list[ModelVersionOrder] | None,
        query=QueryText,
    )

    @strawberry.field
    async def version(self, info: Info, version: int) -> ModelVersion | None:
        record = await models.version_number(info.context, self.record, version)
        return ModelVersion.from_record(record) if record else None

    @strawberry.field
    async def latest_version(self, info: Info) -> ModelVersion | None:
        record = await models.latest_version(info.context, self.record)
        return ModelVersion.from_record(record) if record else None


@node_type
@strawberry.federation.type(keys=["id"])
class ModelVersion(Node):
    record: strawberry.Private[VersionRecord]
    version: int
    name: str | None
    description: str | None
    framework: str | None
    labels: list[Label]
    aliases: list[str]
    datasets: list[Dataset]
    metadata: JSON | None
    metrics: list[MetricValue]
    created_at: datetime
    updated_at: datetime

    events = events_field()

    artifacts = artifacts_field()

    @classmethod
    def from_record(cls, r: VersionRecord) -> ModelVersion:
        return from_fields(
            cls,
            r,
            labels=labels_of(r),
            aliases=r.get("aliases") or [],
            datasets=datasets_of(r),
            metrics=metric_values_of(r),
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> ModelVersion | None:
        return await resolve_entity(info, id, cls)

    @strawberry.field
    async def model(self, info: Info) -> Model:
        return Model.from_record(await owner(info.context, MODEL, self.record["model_id"]))

    @strawberry.field(description="The experiment this version was trained in, if recorded.")
    async def experiment(self, info: Info) -> Experiment | None:
        raw = self.record.get("experiment_id")
        record = await info.context.loaders.experiment.load(raw) if raw else None
        return Experiment.from_record(record) if record else None

    @strawberry.field(description="The checkpoint this version was promoted from, if recorded.")
    async def checkpoint(self, info: Info) -> Checkpoint | None:
        raw = self.record.get("checkpoint_id")
        record = await info.context.loaders.checkpoint.load(raw) if raw else None
        return Checkpoint.from_record(record) if record else None

    @strawberry.field(description="Metric series logged against this version; all without keys.")
    async def metric_series(
        self, info: Info, keys: list[str] | None = None
    ) -> list[metric_graph.MetricSeries]:
        return await metric_graph.series_of(info, self.record, keys)

    @strawberry.field
    async def metric(self, info: Info, key: str) -> metric_graph.MetricSeries | None:
        return await metric_graph.one_series(info, self.record, key)
