"""Experiments in the graph: `Experiment` (a training run) and its `Checkpoint`s.

A run's registered versions are referred to lazily (`models` imports this module).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from modelbox.server.graph import metrics as metric_graph
from modelbox.server.graph.artifacts import artifacts_field
from modelbox.server.graph.common import Label, MetricValue, labels_of, metric_values_of
from modelbox.server.graph.enums import ExperimentStatus
from modelbox.server.graph.events import events_field
from modelbox.server.graph.namespaces import Namespace, namespace_of
from modelbox.server.graph.relay import (
    Info,
    Node,
    connection_field,
    from_fields,
    node_type,
    resolve_entity,
    to_node,
)

# Not `metrics`: that is the name of the key/value metrics field of checkpoints.
from modelbox.server.graph.scalars import Long
from modelbox.server.resolvers import experiments, models
from modelbox.server.resolvers.kinds import EXPERIMENT
from modelbox.server.resolvers.nodes import owner
from modelbox.server.store.experiments import CheckpointRecord, ExperimentRecord

if TYPE_CHECKING:
    from modelbox.server.graph.models import ModelVersion

LazyModelVersion = Annotated["ModelVersion", strawberry.lazy("modelbox.server.graph.models")]
# Declared below Experiment, whose `checkpoints` field is made before the class exists.
LazyCheckpoint = Annotated["Checkpoint", strawberry.lazy("modelbox.server.graph.experiments")]


@node_type
@strawberry.federation.type(keys=["id"])
class Experiment(Node):
    record: strawberry.Private[ExperimentRecord]
    namespace_name: strawberry.Private[str]
    name: str
    owner: str | None
    framework: str | None
    task: str | None
    external_id: str | None
    status: ExperimentStatus
    hyperparameters: JSON | None
    metadata: JSON | None
    labels: list[Label]
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    ended_at: datetime | None

    events = events_field()

    artifacts = artifacts_field()

    @classmethod
    def from_record(cls, r: ExperimentRecord) -> Experiment:
        # A slim record (relay.SLIM_FIELDS: a search read no document) has no status.
        status = r.get("status")
        return from_fields(
            cls,
            r,
            namespace_name=r["namespace"],
            status=status and ExperimentStatus(status),
            labels=labels_of(r),
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Experiment | None:
        return await resolve_entity(info, id, cls)

    @strawberry.field
    async def namespace(self, info: Info) -> Namespace:
        return await namespace_of(info, self.namespace_name)

    checkpoints = connection_field(LazyCheckpoint, experiments.checkpoints_of)

    model_versions = connection_field(
        LazyModelVersion,
        models.versions_of_experiment,
        description="Versions registered from this experiment, newest first.",
    )

    @strawberry.field(description="Metric series logged in this run; all of them without keys.")
    async def metric_series(
        self, info: Info, keys: list[str] | None = None
    ) -> list[metric_graph.MetricSeries]:
        return await metric_graph.series_of(info, self.record, keys)

    @strawberry.field
    async def metric(self, info: Info, key: str) -> metric_graph.MetricSeries | None:
        return await metric_graph.one_series(info, self.record, key)


@node_type
@strawberry.federation.type(keys=["id"])
class Checkpoint(Node):
    record: strawberry.Private[CheckpointRecord]
    epoch: int | None
    step: Long
    metrics: list[MetricValue]
    metadata: JSON | None
    created_at: datetime

    events = events_field()

    artifacts = artifacts_field()

    @classmethod
    def from_record(cls, r: CheckpointRecord) -> Checkpoint:
        return from_fields(cls, r, metrics=metric_values_of(r))

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Checkpoint | None:
        return await resolve_entity(info, id, cls)

    @strawberry.field
    async def experiment(self, info: Info) -> Experiment:
        record = await owner(info.context, EXPERIMENT, self.record["experiment_id"])
        return Experiment.from_record(record)

    @strawberry.field(description="The version this checkpoint was promoted to, if any.")
    async def model_version(self, info: Info) -> LazyModelVersion | None:
        record = await models.version_of_checkpoint(info.context, self.record)
        return to_node("ModelVersion", record) if record else None

    model_versions = connection_field(
        LazyModelVersion,
        models.versions_of_checkpoint,
        description="Every version made from this checkpoint (by hand or by policy), newest first.",
    )
