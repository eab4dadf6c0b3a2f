"""Models and model versions."""

from __future__ import annotations

from typing import Any, cast

from modelbox.server.access import Role
from modelbox.server.errors import BadUserInput
from modelbox.server.resolvers import validation
from modelbox.server.resolvers.context import Context
from modelbox.server.resolvers.fields import clean_fields
from modelbox.server.resolvers.kinds import CHECKPOINT, EXPERIMENT, MODEL, MODEL_VERSION
from modelbox.server.resolvers.listing import Listing, children
from modelbox.server.resolvers.permissions import load_link, load_node, require
from modelbox.server.store.experiments import CheckpointRecord, ExperimentRecord
from modelbox.server.store.models import ModelRecord
from modelbox.server.store.versions import VersionRecord


async def create_model(ctx: Context, fields: dict[str, Any]) -> ModelRecord:
    validation.namespace_name(fields["namespace"])
    validation.object_name(fields["name"])
    require(ctx, fields["namespace"], Role.WRITER)
    return await ctx.store.models.create(ctx.actor, clean_fields(ctx, fields))


async def update_model(ctx: Context, global_id: str, changes: dict[str, Any]) -> ModelRecord:
    target = await load_node(ctx, global_id, MODEL, Role.WRITER)
    return await ctx.store.models.update(ctx.actor, target["id"], clean_fields(ctx, changes))


async def delete_model(ctx: Context, global_id: str) -> str:
    target = await load_node(ctx, global_id, MODEL, Role.ADMIN)
    await ctx.store.models.delete(ctx.actor, target["id"])
    return target["id"]


async def _lineage(ctx: Context, namespace: str, fields: dict[str, Any]) -> dict[str, Any]:
    """Resolve the experiment and checkpoint a version came from: readable by the caller,
    and in the version's own namespace."""
    fields = dict(fields)
    checkpoint_id = fields.pop("checkpoint_id", None)
    experiment_id = fields.pop("experiment_id", None)
    if checkpoint_id is not None:
        checkpoint = await load_link(ctx, checkpoint_id, CHECKPOINT, namespace, "checkpointId")
        fields["checkpoint_id"] = checkpoint["id"]
        fields["experiment_id"] = checkpoint["experiment_id"]
    if experiment_id is not None:
        experiment = await load_link(ctx, experiment_id, EXPERIMENT, namespace, "experimentId")
        if fields.get("experiment_id", experiment["id"]) != experiment["id"]:
            raise BadUserInput(
                "experimentId: the checkpoint belongs to another experiment", field="experimentId"
            )
        fields["experiment_id"] = experiment["id"]
    return fields


async def create_model_version(ctx: Context, fields: dict[str, Any]) -> VersionRecord:
    fields = dict(fields)
    parent = await load_node(ctx, fields.pop("model_id"), MODEL, Role.WRITER, "modelId")
    if fields.get("name") is not None:
        validation.object_name(fields["name"])
    fields = await _lineage(ctx, parent["namespace"], clean_fields(ctx, fields))
    return await ctx.store.versions.create(ctx.actor, parent, fields)


async def update_model_version(
    ctx: Context, global_id: str, changes: dict[str, Any]
) -> VersionRecord:
    target = await load_node(ctx, global_id, MODEL_VERSION, Role.WRITER)
    changes = await _lineage(ctx, target["namespace"], clean_fields(ctx, changes))
    return await ctx.store.versions.update(ctx.actor, target, changes)


async def delete_model_version(ctx: Context, global_id: str) -> str:
    target = await load_node(ctx, global_id, MODEL_VERSION, Role.ADMIN)
    await ctx.store.versions.delete(ctx.actor, target["id"])
    return target["id"]


async def versions_of(
    ctx: Context,
    parent: ModelRecord,
    first: int | None,
    after: str | None,
    filters: dict[str, Any],
) -> Listing:
    query = ctx.store.versions.query(**filters)
    return await children(ctx, ctx.store.versions, "model_id", parent["id"], first, after, query)


async def version_number(ctx: Context, parent: ModelRecord, number: int) -> VersionRecord | None:
    return await ctx.loaders.version_by_number.load((parent["id"], number))


async def latest_version(ctx: Context, parent: ModelRecord) -> VersionRecord | None:
    return _first_version(await versions_of(ctx, parent, 1, None, {}))


async def versions_of_experiment(
    ctx: Context, experiment: ExperimentRecord, first: int | None, after: str | None
) -> Listing:
    store = ctx.store
    return await children(ctx, store.versions, "experiment_id", experiment["id"], first, after, {})


async def versions_of_checkpoint(
    ctx: Context, checkpoint: CheckpointRecord, first: int | None, after: str | None
) -> Listing:
    store = ctx.store
    return await children(ctx, store.versions, "checkpoint_id", checkpoint["id"], first, after, {})


async def version_of_checkpoint(ctx: Context, checkpoint: CheckpointRecord) -> VersionRecord | None:
    """The newest version made from the checkpoint (`modelVersions` lists them all)."""
    return _first_version(await versions_of_checkpoint(ctx, checkpoint, 1, None))


def _first_version(listing: Listing) -> VersionRecord | None:
    # Pages hold untyped records; this one is a page of the versions collection.
    return cast(VersionRecord, listing.page.records[0]) if listing.page.records else None
