"""Experiments and checkpoints."""

from __future__ import annotations

from typing import Any

from modelbox.server.access import Role
from modelbox.server.errors import BadUserInput
from modelbox.server.resolvers import validation
from modelbox.server.resolvers.context import Context
from modelbox.server.resolvers.fields import clean_fields
from modelbox.server.resolvers.kinds import CHECKPOINT, EXPERIMENT
from modelbox.server.resolvers.listing import Listing, children
from modelbox.server.resolvers.permissions import load_node, require
from modelbox.server.store.experiments import CheckpointRecord, ExperimentRecord


async def create_experiment(ctx: Context, fields: dict[str, Any]) -> ExperimentRecord:
    validation.namespace_name(fields["namespace"])
    validation.object_name(fields["name"])
    require(ctx, fields["namespace"], Role.WRITER)
    return await ctx.store.experiments.create(ctx.actor, clean_fields(ctx, fields))


async def update_experiment(
    ctx: Context, global_id: str, changes: dict[str, Any]
) -> ExperimentRecord:
    target = await load_node(ctx, global_id, EXPERIMENT, Role.WRITER)
    return await ctx.store.experiments.update(ctx.actor, target, clean_fields(ctx, changes))


async def delete_experiment(ctx: Context, global_id: str) -> str:
    target = await load_node(ctx, global_id, EXPERIMENT, Role.ADMIN)
    await ctx.store.experiments.delete(ctx.actor, target["id"])
    return target["id"]


async def create_checkpoint(ctx: Context, fields: dict[str, Any]) -> CheckpointRecord:
    fields = dict(fields)
    parent = await load_node(
        ctx, fields.pop("experiment_id"), EXPERIMENT, Role.WRITER, "experimentId"
    )
    if fields["step"] < 0:
        raise BadUserInput("step: must not be negative", field="step")
    return await ctx.store.checkpoints.create(ctx.actor, parent, clean_fields(ctx, fields))


async def update_checkpoint(
    ctx: Context, global_id: str, changes: dict[str, Any]
) -> CheckpointRecord:
    target = await load_node(ctx, global_id, CHECKPOINT, Role.WRITER)
    return await ctx.store.checkpoints.update(ctx.actor, target, clean_fields(ctx, changes))


async def checkpoints_of(
    ctx: Context, parent: ExperimentRecord, first: int | None, after: str | None
) -> Listing:
    return await children(
        ctx, ctx.store.checkpoints, "experiment_id", parent["id"], first, after, {}
    )
