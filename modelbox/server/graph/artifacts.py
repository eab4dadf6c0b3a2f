"""Artifacts in the graph: the type, its inputs, and the `artifacts` connection field."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from modelbox.server.graph.relay import (
    Info,
    Node,
    connection_field,
    from_fields,
    node_type,
    resolve_entity,
    to_node,
)
from modelbox.server.graph.scalars import Long
from modelbox.server.resolvers import artifacts
from modelbox.server.store.artifacts import ArtifactRecord


@strawberry.enum
class ArtifactStorage(enum.Enum):
    GRIDFS = "GRIDFS"
    EXTERNAL = "EXTERNAL"


@strawberry.enum
class ArtifactState(enum.Enum):
    PENDING = "PENDING"
    AVAILABLE = "AVAILABLE"


@strawberry.input
class CreateArtifactInput:
    subject_id: strawberry.ID = strawberry.field(
        description="The Experiment, Checkpoint, Model or ModelVersion it belongs to."
    )
    name: str = strawberry.field(description="A relative path: `model.pt`, `weights/best.bin`.")
    kind: str | None = strawberry.field(default=None, description="model, checkpoint, dataset…")
    content_type: str | None = None
    sha256: str | None = strawberry.field(
        default=None, description="If given, an upload whose bytes hash otherwise is refused."
    )
    metadata: JSON | None = None


@strawberry.input
class TrackArtifactInput:
    subject_id: strawberry.ID
    name: str
    uri: str = strawberry.field(description="s3://, gs://, az://, abfss://, hdfs://, https://…")
    size: Long | None = None
    sha256: str | None = None
    kind: str | None = None
    content_type: str | None = None
    metadata: JSON | None = None


@node_type
@strawberry.federation.type(
    keys=["id"],
    description="A file: uploaded into ModelBox (GRIDFS) or stored elsewhere and tracked by URI.",
)
class Artifact(Node):
    record: strawberry.Private[ArtifactRecord]
    name: str
    kind: str | None
    storage: ArtifactStorage
    state: ArtifactState
    uri: str | None = strawberry.field(description="Where an EXTERNAL artifact is stored.")
    size: Long | None
    sha256: str | None = strawberry.field(
        description="Hex; computed by the server on upload, declared by the client before it."
    )
    content_type: str | None
    metadata: JSON | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_record(cls, r: ArtifactRecord) -> Artifact:
        return from_fields(
            cls, r, storage=ArtifactStorage(r["storage"]), state=ArtifactState(r["state"])
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Artifact | None:
        return await resolve_entity(info, id, cls)

    @strawberry.field(description="Where to PUT the bytes while the artifact is PENDING.")
    def upload_url(self, info: Info) -> str | None:
        return artifacts.upload_url(info.context, self.record)

    @strawberry.field(description="Where to GET the bytes of an uploaded, AVAILABLE artifact.")
    def download_url(self, info: Info) -> str | None:
        return artifacts.download_url(info.context, self.record)

    @strawberry.field(description="The experiment, checkpoint, model or version it belongs to.")
    async def subject(self, info: Info) -> Node:
        type_name, record = await artifacts.subject_of(info.context, self.record)
        return to_node(type_name, record)


def artifacts_field() -> Any:
    """The `artifacts(first, after)` connection of an experiment, checkpoint, model or version."""
    return connection_field(
        Artifact, artifacts.artifacts_of, description="Its files, newest first."
    )
