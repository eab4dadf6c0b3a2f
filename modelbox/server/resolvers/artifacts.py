"""Artifacts: creating, tracking and deleting them, and who may move their bytes.

The bytes themselves travel over plain HTTP (`modelbox/artifacts_http.py`): these functions
authorize those requests exactly as the API does and write their audit events.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from modelbox.server.access import Role
from modelbox.server.errors import BadUserInput, DigestMismatch, NotFound, PayloadTooLarge
from modelbox.server.resolvers import validation
from modelbox.server.resolvers.context import Context
from modelbox.server.resolvers.fields import clean_fields
from modelbox.server.resolvers.ids import from_global_id, to_global_id
from modelbox.server.resolvers.kinds import ARTIFACT
from modelbox.server.resolvers.listing import Listing, children
from modelbox.server.resolvers.nodes import owner
from modelbox.server.resolvers.permissions import load_for, load_node, load_typed
from modelbox.server.store import Record
from modelbox.server.store.artifacts import (
    AVAILABLE,
    EXTERNAL,
    GRIDFS,
    PENDING,
    ArtifactRecord,
)

# Where the bytes of an artifact are PUT and fetched: `{base}/artifacts/{artifact id}`.
ARTIFACTS_PATH = "/artifacts"
SUBJECT_TYPES = ("Experiment", "Checkpoint", "Model", "ModelVersion")
# Where tracked artifacts may live; anything else (javascript:, data:…) is refused.
URI_SCHEMES = frozenset(
    {"s3", "gs", "az", "abfs", "abfss", "wasbs", "hdfs", "http", "https", "file"}
)
# A relative path of plain segments: `model.pt`, `weights/epoch-3.safetensors`; never `..`.
ARTIFACT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*")
MAX_NAME = 255
SHA256 = re.compile(r"[0-9a-f]{64}")
CONTENT_TYPE = re.compile(r"[A-Za-z0-9!#$&^_.+-]+/[A-Za-z0-9!#$&^_.+-]+(\s*;.*)?")
MAX_URI = 2048


async def artifact(ctx: Context, global_id: str, role: Role = Role.VIEWER) -> ArtifactRecord:
    return await load_node(ctx, global_id, ARTIFACT, role)


async def subject_of(ctx: Context, record: ArtifactRecord) -> tuple[str, Record]:
    return record["subject_type"], await owner(ctx, record["subject_type"], record["subject_id"])


def _checked(ctx: Context, fields: dict[str, Any]) -> dict[str, Any]:
    fields = dict(fields)
    # Checked by track_artifact: longer than the other short texts may be.
    uri = fields.pop("uri", None)
    name = validation.check_pattern("name", fields["name"], ARTIFACT_NAME, "artifact path")
    validation.text(name, "name", MAX_NAME)
    if fields.get("sha256") is not None:
        fields["sha256"] = validation.check_pattern(
            "sha256", fields["sha256"].lower(), SHA256, "sha256 (64 hex digits)"
        )
    if fields.get("content_type") is not None:
        validation.check_pattern("contentType", fields["content_type"], CONTENT_TYPE, "MIME type")
    if fields.get("size") is not None and fields["size"] < 0:
        raise BadUserInput("size: must not be negative", field="size")
    return {**clean_fields(ctx, fields), **({"uri": uri} if uri is not None else {})}


async def _create(ctx: Context, fields: dict[str, Any], state: dict[str, Any]) -> ArtifactRecord:
    fields = dict(fields)
    type_name, subject = await load_typed(
        ctx, fields.pop("subject_id"), *SUBJECT_TYPES, role=Role.WRITER, field="subjectId"
    )
    return await ctx.store.artifacts.create(
        ctx.actor, type_name, subject, {**_checked(ctx, fields), **state}
    )


async def create_artifact(ctx: Context, fields: dict[str, Any]) -> ArtifactRecord:
    """A PENDING artifact whose bytes are then PUT to its upload URL."""
    state = {"storage": GRIDFS, "state": PENDING, "size": None, "uri": None}
    return await _create(ctx, fields, state)


async def track_artifact(ctx: Context, fields: dict[str, Any]) -> ArtifactRecord:
    """An artifact stored elsewhere, AVAILABLE at once."""
    uri = fields["uri"]
    parts = urlsplit(uri) if len(uri) <= MAX_URI else None
    if parts is None or parts.scheme.lower() not in URI_SCHEMES:
        allowed = ", ".join(sorted(URI_SCHEMES))
        raise BadUserInput(
            f"uri: {uri[:80]!r} is not a URI with one of the schemes {allowed}"
            f" (at most {MAX_URI} characters)",
            field="uri",
        )
    if not (parts.netloc or (parts.scheme.lower() == "file" and parts.path)):
        raise BadUserInput(f"uri: {uri[:80]!r} names no location", field="uri")
    return await _create(ctx, fields, {"storage": EXTERNAL, "state": AVAILABLE})


async def delete_artifact(ctx: Context, global_id: str) -> str:
    """ADMIN, like every delete: a writer (a training job) cannot destroy a stored file."""
    target = await artifact(ctx, global_id, Role.ADMIN)
    await ctx.store.artifacts.delete(ctx.actor, target["id"])
    return target["id"]


async def artifacts_of(
    ctx: Context, subject: Record, first: int | None, after: str | None
) -> Listing:
    return await children(ctx, ctx.store.artifacts, "subject_id", subject["id"], first, after, {})


def transfer_url(ctx: Context, record: ArtifactRecord) -> str:
    """`{base}/artifacts/{id}`, on `public_url` if set, else where the request came in."""
    base = ctx.settings.public_url or ctx.base_url or ""
    # A WebSocket's base is ws(s)://; the bytes go over http(s).
    if base.startswith("ws"):
        base = "http" + base[2:]
    return f"{base.rstrip('/')}{ARTIFACTS_PATH}/{to_global_id('Artifact', record['id'])}"


def upload_url(ctx: Context, record: ArtifactRecord) -> str | None:
    pending = record["storage"] == GRIDFS and record["state"] == PENDING
    return transfer_url(ctx, record) if pending else None


def download_url(ctx: Context, record: ArtifactRecord) -> str | None:
    available = record["storage"] == GRIDFS and record["state"] == AVAILABLE
    return transfer_url(ctx, record) if available else None


async def _for_transfer(ctx: Context, global_id: str, role: Role) -> ArtifactRecord:
    """The artifact a URL names; a path that names none of yours is simply not found."""
    ctx.principal  # noqa: B018 - refuse an unauthenticated caller before anything else
    decoded = from_global_id(global_id)
    if decoded is None or decoded[0] != "Artifact":
        raise NotFound("artifact does not exist")
    return await load_for(ctx, ctx.loaders.artifact, decoded[1], role, "artifact")


async def upload(
    ctx: Context, global_id: str, body: AsyncIterator[bytes], declared_length: int | None
) -> ArtifactRecord:
    """Store the bytes of a PENDING artifact (WRITER); audited as UPLOADED when it succeeds."""
    target = await _for_transfer(ctx, global_id, Role.WRITER)
    limit = ctx.settings.max_artifact_bytes
    if declared_length is not None and declared_length > limit:
        raise PayloadTooLarge(
            f"Content-Length {declared_length} is over the limit of {limit} bytes"
            " (max_artifact_bytes)",
            limit=limit,
        )
    try:
        return await ctx.store.artifacts.upload(ctx.actor, target["id"], body, limit)
    except DigestMismatch as mismatch:
        raise BadUserInput(
            f"sha256: {mismatch.message}", field="sha256", received=mismatch.received
        ) from None


async def downloadable(ctx: Context, global_id: str) -> ArtifactRecord:
    """An artifact whose bytes the caller may read (VIEWER)."""
    target = await _for_transfer(ctx, global_id, Role.VIEWER)
    if target["storage"] != GRIDFS:
        raise NotFound(f"artifact is stored outside ModelBox, at {target['uri']}")
    if target["state"] != AVAILABLE:
        raise NotFound("artifact has no bytes yet: it is PENDING until an upload completes")
    return target


async def record_download(ctx: Context, target: ArtifactRecord, changes: dict[str, Any]) -> None:
    await ctx.store.artifacts.record_download(ctx.actor, target, changes)


def content(ctx: Context, record: ArtifactRecord, start: int, end: int) -> AsyncIterator[bytes]:
    """Bytes `start` to `end` (inclusive) of a record `downloadable` returned."""
    return ctx.store.artifacts.read(record["file_id"], start, end)
