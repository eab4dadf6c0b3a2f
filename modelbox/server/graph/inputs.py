"""Input types of the mutations and filters, and their conversion to plain dicts."""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from modelbox.server.graph.enums import AuditAction, ExperimentStatus, RoleName
from modelbox.server.graph.scalars import Long
from modelbox.server.graph.search import MetricFilterInput, ValueFilterInput


def plain(value: Any) -> Any:
    """A Strawberry input as plain data for the resolvers; fields left out are dropped."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not strawberry.UNSET
        }
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value


@strawberry.input
class LabelInput:
    key: str
    value: str


@strawberry.input
class DatasetInput:
    name: str
    uri: str | None = None
    digest: str | None = None
    role: str | None = strawberry.field(default=None, description="train, eval, test…")


@strawberry.input
class MetricValueInput:
    key: str
    value: float
    dataset: str | None = strawberry.field(
        default=None, description="The dataset it was measured on (a Dataset.name)."
    )


@strawberry.input
class CreateModelInput:
    namespace: str
    name: str
    description: str | None = None
    task: str | None = None
    owner: str | None = None
    labels: list[LabelInput] = strawberry.field(default_factory=list)
    datasets: list[DatasetInput] = strawberry.field(default_factory=list)
    metadata: JSON | None = None


@strawberry.input
class UpdateModelInput:
    id: strawberry.ID
    description: str | None = strawberry.UNSET
    task: str | None = strawberry.UNSET
    owner: str | None = strawberry.UNSET
    labels: list[LabelInput] | None = strawberry.UNSET
    datasets: list[DatasetInput] | None = strawberry.UNSET
    metadata: JSON | None = strawberry.UNSET


@strawberry.input
class CreateModelVersionInput:
    model_id: strawberry.ID
    name: str | None = None
    description: str | None = None
    framework: str | None = None
    labels: list[LabelInput] = strawberry.field(default_factory=list)
    aliases: list[str] = strawberry.field(
        default_factory=list,
        description="Taken from other versions of the model if they hold them.",
    )
    datasets: list[DatasetInput] = strawberry.field(default_factory=list)
    metadata: JSON | None = None
    metrics: list[MetricValueInput] = strawberry.field(default_factory=list)
    experiment_id: strawberry.ID | None = None
    checkpoint_id: strawberry.ID | None = None


@strawberry.input
class UpdateModelVersionInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    framework: str | None = strawberry.UNSET
    labels: list[LabelInput] | None = strawberry.UNSET
    aliases: list[str] | None = strawberry.field(
        default=strawberry.UNSET,
        description="The version's full alias list; each is moved here from any other version.",
    )
    datasets: list[DatasetInput] | None = strawberry.UNSET
    metadata: JSON | None = strawberry.UNSET
    metrics: list[MetricValueInput] | None = strawberry.UNSET
    experiment_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="An experiment of the same namespace."
    )
    checkpoint_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="A checkpoint of the same namespace; the version's experiment becomes its.",
    )


@strawberry.input
class CreateExperimentInput:
    namespace: str
    name: str
    owner: str | None = None
    framework: str | None = None
    task: str | None = None
    external_id: str | None = None
    hyperparameters: JSON | None = None
    metadata: JSON | None = None
    labels: list[LabelInput] = strawberry.field(default_factory=list)


@strawberry.input
class UpdateExperimentInput:
    id: strawberry.ID
    status: ExperimentStatus | None = strawberry.UNSET
    ended_at: datetime | None = strawberry.UNSET
    owner: str | None = strawberry.UNSET
    framework: str | None = strawberry.UNSET
    hyperparameters: JSON | None = strawberry.UNSET
    metadata: JSON | None = strawberry.UNSET
    labels: list[LabelInput] | None = strawberry.UNSET


@strawberry.input
class CreateCheckpointInput:
    experiment_id: strawberry.ID
    step: Long
    epoch: int | None = None
    metrics: list[MetricValueInput] = strawberry.field(default_factory=list)
    metadata: JSON | None = None


@strawberry.input
class UpdateCheckpointInput:
    id: strawberry.ID
    metrics: list[MetricValueInput] | None = strawberry.field(
        default=strawberry.UNSET,
        description="The checkpoint's full metric list, replacing the one it had (PROMOTION"
        " policies look again). null clears it, as [] does; left out, it is kept.",
    )
    metadata: JSON | None = strawberry.field(
        default=strawberry.UNSET,
        description="Replaces the checkpoint's metadata; null clears it; left out, it is kept.",
    )


@strawberry.input
class DeleteInput:
    id: strawberry.ID


@strawberry.input
class RoleBindingInput:
    namespace: str = strawberry.field(description='A namespace name, or "*" for all of them.')
    role: RoleName


@strawberry.input
class CreateApiTokenInput:
    name: str
    roles: list[RoleBindingInput]
    expires_at: datetime | None = None


@strawberry.input
class ModelFilter:
    task: str | None = strawberry.UNSET
    owner: str | None = strawberry.UNSET
    name_prefix: str | None = strawberry.UNSET
    labels: list[LabelInput] | None = strawberry.UNSET


@strawberry.input
class ModelVersionFilter:
    framework: str | None = strawberry.UNSET
    alias: str | None = strawberry.UNSET
    labels: list[LabelInput] | None = strawberry.UNSET
    aliases: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Versions holding every one of these aliases."
    )
    name_prefix: str | None = strawberry.UNSET
    metrics: list[MetricFilterInput] | None = strawberry.UNSET
    created_after: datetime | None = strawberry.UNSET
    created_before: datetime | None = strawberry.UNSET


@strawberry.input
class ExperimentFilter:
    status: ExperimentStatus | None = strawberry.UNSET
    owner: str | None = strawberry.UNSET
    labels: list[LabelInput] | None = strawberry.UNSET
    name_prefix: str | None = strawberry.UNSET
    hyperparameters: list[ValueFilterInput] | None = strawberry.UNSET
    metrics: list[MetricFilterInput] | None = strawberry.UNSET
    created_after: datetime | None = strawberry.UNSET
    created_before: datetime | None = strawberry.UNSET
    started_after: datetime | None = strawberry.UNSET
    started_before: datetime | None = strawberry.UNSET


@strawberry.input
class AuditEventFilter:
    actions: list[AuditAction] | None = strawberry.UNSET
    object_types: list[str] | None = strawberry.UNSET
    actors: list[str] | None = strawberry.UNSET
    since: datetime | None = strawberry.UNSET
    until: datetime | None = strawberry.UNSET
