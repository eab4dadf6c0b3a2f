"""The objects of the graph. Fields read their record; anything that loads goes to resolvers/."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

# Not `metrics`: that is the name of the key/value metrics field of versions and checkpoints.
from modelbox.server.graph import metrics as metric_graph
from modelbox.server.graph.artifacts import Artifact, artifacts_field
from modelbox.server.graph.enums import AuditAction, ExperimentStatus, RoleName
from modelbox.server.graph.events import Event, events_field
from modelbox.server.graph.inputs import (
    AuditEventFilter,
    ExperimentFilter,
    ModelFilter,
    ModelVersionFilter,
    plain,
)
from modelbox.server.graph.relay import Connection, Node, connection, resolve_entity
from modelbox.server.resolvers import audit, experiments, models, namespaces
from modelbox.server.resolvers.context import Context
from modelbox.server.resolvers.ids import to_global_id
from modelbox.server.store import Record

Info = strawberry.Info[Context, None]


@strawberry.type
class Label:
    key: str
    value: str


@strawberry.type
class Dataset:
    name: str
    uri: str | None
    digest: str | None
    role: str | None


@strawberry.type
class MetricValue:
    key: str
    value: float


def _labels(record: Record) -> list[Label]:
    return [Label(key=item["key"], value=item["value"]) for item in record.get("labels") or []]


def _datasets(record: Record) -> list[Dataset]:
    return [
        Dataset(name=d["name"], uri=d.get("uri"), digest=d.get("digest"), role=d.get("role"))
        for d in record.get("datasets") or []
    ]


def _metrics(record: Record) -> list[MetricValue]:
    return [MetricValue(key=m["key"], value=m["value"]) for m in record.get("metrics") or []]


@strawberry.federation.type(keys=["name"])
class Namespace(Node):
    record: strawberry.Private[Record]
    name: str
    created_at: datetime

    events = events_field(namespace=True)

    @classmethod
    def from_record(cls, record: Record) -> Namespace:
        return cls(
            id=to_global_id("Namespace", record["name"]),
            record=record,
            name=record["name"],
            created_at=record["created_at"],
        )

    @classmethod
    async def resolve_reference(cls, info: Info, name: str) -> Namespace | None:
        record = await namespaces.namespace(info.context, name)
        return cls.from_record(record) if record else None

    @strawberry.field
    async def models(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: ModelFilter | None = None,
    ) -> Connection[Model]:
        listing = await namespaces.models_in(
            info.context, self.record, first, after, plain(filter) or {}
        )
        return connection(listing, Model.from_record)

    @strawberry.field
    async def model(self, info: Info, name: str) -> Model | None:
        record = await namespaces.model_named(info.context, self.record, name)
        return Model.from_record(record) if record else None

    @strawberry.field
    async def experiments(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: ExperimentFilter | None = None,
    ) -> Connection[Experiment]:
        listing = await namespaces.experiments_in(
            info.context, self.record, first, after, plain(filter) or {}
        )
        return connection(listing, Experiment.from_record)

    @strawberry.field
    async def experiment(self, info: Info, name: str) -> Experiment | None:
        record = await namespaces.experiment_named(info.context, self.record, name)
        return Experiment.from_record(record) if record else None

    @strawberry.field(description="Who changed what in this namespace, newest first (ADMIN only).")
    async def audit_events(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: AuditEventFilter | None = None,
    ) -> Connection[AuditEvent]:
        listing = await audit.audit_events(
            info.context, self.record, first, after, plain(filter) or {}
        )
        return connection(listing, AuditEvent.from_record)


@strawberry.federation.type(keys=["id"])
class Model(Node):
    record: strawberry.Private[Record]
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

    artifacts = artifacts_field()

    @classmethod
    def from_record(cls, r: Record) -> Model:
        return cls(
            id=to_global_id("Model", r["id"]),
            record=r,
            namespace_name=r["namespace"],
            name=r["name"],
            description=r.get("description"),
            task=r.get("task"),
            owner=r.get("owner"),
            labels=_labels(r),
            datasets=_datasets(r),
            metadata=r.get("metadata"),
            created_at=r["created_at"],
            updated_at=r["updated_at"],
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Model | None:
        return await resolve_entity(info, id, cls)

    @strawberry.field
    async def namespace(self, info: Info) -> Namespace:
        return await _namespace(info, self.namespace_name)

    @strawberry.field
    async def versions(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: ModelVersionFilter | None = None,
    ) -> Connection[ModelVersion]:
        listing = await models.versions_of(
            info.context, self.record, first, after, plain(filter) or {}
        )
        return connection(listing, ModelVersion.from_record)

    @strawberry.field
    async def version(self, info: Info, version: int) -> ModelVersion | None:
        record = await models.version_number(info.context, self.record, version)
        return ModelVersion.from_record(record) if record else None

    @strawberry.field
    async def latest_version(self, info: Info) -> ModelVersion | None:
        record = await models.latest_version(info.context, self.record)
        return ModelVersion.from_record(record) if record else None


@strawberry.federation.type(keys=["id"])
class ModelVersion(Node):
    record: strawberry.Private[Record]
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
    def from_record(cls, r: Record) -> ModelVersion:
        return cls(
            id=to_global_id("ModelVersion", r["id"]),
            record=r,
            version=r["version"],
            name=r.get("name"),
            description=r.get("description"),
            framework=r.get("framework"),
            labels=_labels(r),
            aliases=r.get("aliases") or [],
            datasets=_datasets(r),
            metadata=r.get("metadata"),
            metrics=_metrics(r),
            created_at=r["created_at"],
            updated_at=r["updated_at"],
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> ModelVersion | None:
        return await resolve_entity(info, id, cls)

    @strawberry.field
    async def model(self, info: Info) -> Model:
        record = await info.context.loaders.model.load(self.record["model_id"])
        assert record is not None, "a readable version's model is readable"
        return Model.from_record(record)

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


@strawberry.federation.type(keys=["id"])
class Experiment(Node):
    record: strawberry.Private[Record]
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
    def from_record(cls, r: Record) -> Experiment:
        return cls(
            id=to_global_id("Experiment", r["id"]),
            record=r,
            namespace_name=r["namespace"],
            name=r["name"],
            owner=r.get("owner"),
            framework=r.get("framework"),
            task=r.get("task"),
            external_id=r.get("external_id"),
            status=ExperimentStatus(r["status"]),
            hyperparameters=r.get("hyperparameters"),
            metadata=r.get("metadata"),
            labels=_labels(r),
            created_at=r["created_at"],
            updated_at=r["updated_at"],
            started_at=r.get("started_at"),
            ended_at=r.get("ended_at"),
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Experiment | None:
        return await resolve_entity(info, id, cls)

    @strawberry.field
    async def namespace(self, info: Info) -> Namespace:
        return await _namespace(info, self.namespace_name)

    @strawberry.field
    async def checkpoints(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Checkpoint]:
        listing = await experiments.checkpoints_of(info.context, self.record, first, after)
        return connection(listing, Checkpoint.from_record)

    @strawberry.field(description="Versions registered from this experiment, newest first.")
    async def model_versions(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[ModelVersion]:
        listing = await models.versions_of_experiment(info.context, self.record, first, after)
        return connection(listing, ModelVersion.from_record)

    @strawberry.field(description="Metric series logged in this run; all of them without keys.")
    async def metric_series(
        self, info: Info, keys: list[str] | None = None
    ) -> list[metric_graph.MetricSeries]:
        return await metric_graph.series_of(info, self.record, keys)

    @strawberry.field
    async def metric(self, info: Info, key: str) -> metric_graph.MetricSeries | None:
        return await metric_graph.one_series(info, self.record, key)


@strawberry.federation.type(keys=["id"])
class Checkpoint(Node):
    record: strawberry.Private[Record]
    epoch: int | None
    step: int
    metrics: list[MetricValue]
    metadata: JSON | None
    created_at: datetime

    events = events_field()

    artifacts = artifacts_field()

    @classmethod
    def from_record(cls, r: Record) -> Checkpoint:
        return cls(
            id=to_global_id("Checkpoint", r["id"]),
            record=r,
            epoch=r.get("epoch"),
            step=r["step"],
            metrics=_metrics(r),
            metadata=r.get("metadata"),
            created_at=r["created_at"],
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Checkpoint | None:
        return await resolve_entity(info, id, cls)

    @strawberry.field
    async def experiment(self, info: Info) -> Experiment:
        record = await info.context.loaders.experiment.load(self.record["experiment_id"])
        assert record is not None, "a readable checkpoint's experiment is readable"
        return Experiment.from_record(record)

    @strawberry.field(description="The version this checkpoint was promoted to, if any.")
    async def model_version(self, info: Info) -> ModelVersion | None:
        record = await models.version_of_checkpoint(info.context, self.record)
        return ModelVersion.from_record(record) if record else None


@strawberry.type
class RoleBinding:
    namespace: str
    role: RoleName


@strawberry.type(description="The caller: the API token a request was made with.")
class Principal:
    id: strawberry.ID
    name: str
    roles: list[RoleBinding]
    expires_at: datetime | None

    @classmethod
    def from_record(cls, r: Record) -> Principal:
        return cls(
            id=to_global_id("ApiToken", r["id"]),
            name=r["name"],
            roles=[
                RoleBinding(namespace=b["namespace"], role=RoleName(b["role"])) for b in r["roles"]
            ],
            expires_at=r.get("expires_at"),
        )


@strawberry.type
class AuditEvent(Node):
    namespace: str | None
    action: AuditAction
    object_type: str
    object_id: strawberry.ID
    actor: str
    client_address: str | None
    user_agent: str | None
    changes: JSON | None
    at: datetime

    @classmethod
    def from_record(cls, r: Record) -> AuditEvent:
        object_id = r["object_id"] if r["object_type"] != "Namespace" else r["namespace"]
        return cls(
            id=to_global_id("AuditEvent", r["id"]),
            namespace=r.get("namespace"),
            action=AuditAction(r["action"]),
            object_type=r["object_type"],
            object_id=to_global_id(r["object_type"], object_id),
            actor=r["actor"],
            client_address=r.get("client_address"),
            user_agent=r.get("user_agent"),
            changes=r.get("changes"),
            at=r["at"],
        )


async def _namespace(info: Info, name: str) -> Namespace:
    record = await info.context.loaders.namespace.load(name)
    assert record is not None, "an object's namespace exists and is readable with it"
    return Namespace.from_record(record)


NODE_TYPES: dict[str, Any] = {
    "Namespace": Namespace,
    "Model": Model,
    "ModelVersion": ModelVersion,
    "Experiment": Experiment,
    "Checkpoint": Checkpoint,
    "Artifact": Artifact,
    "Event": Event,
}
