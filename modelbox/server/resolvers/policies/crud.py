"""Policies as objects: created, changed and deleted by ADMINs of their namespace."""

from __future__ import annotations

from typing import Any

from modelbox.server.access import Role
from modelbox.server.errors import BadUserInput
from modelbox.server.resolvers.context import Context
from modelbox.server.resolvers.fields import refuse_nulls
from modelbox.server.resolvers.kinds import POLICY
from modelbox.server.resolvers.listing import Listing, children
from modelbox.server.resolvers.permissions import load_link, load_node, load_typed, require
from modelbox.server.resolvers.policies.checks import camel, check_policy, check_webhook_host
from modelbox.server.resolvers.policies.decide import MANUAL, in_scope
from modelbox.server.store import Record
from modelbox.server.store.policies import PolicyEvaluationRecord, PolicyRecord

LINKS = {"model_id": "Model", "target_model_id": "Model", "experiment_id": "Experiment"}


async def _links(ctx: Context, fields: dict[str, Any]) -> dict[str, Any]:
    linked = dict(fields)
    for field, type_name in LINKS.items():
        if fields.get(field) is not None:
            record = await load_link(
                ctx, fields[field], type_name, fields["namespace"], camel(field)
            )
            linked[field] = record["id"]
    return linked


def _defaults(fields: dict[str, Any]) -> dict[str, Any]:
    policy = {**fields}
    if policy["kind"] == "PROMOTION":
        policy.setdefault("target_model_id", None)
        policy["target_model_id"] = policy["target_model_id"] or policy.get("model_id")
    if policy["kind"] == "RETENTION":
        policy["keep_best_mode"] = policy.get("keep_best_mode") or "max"
    return policy


async def create_policy(ctx: Context, fields: dict[str, Any]) -> PolicyRecord:
    check_policy(fields)
    check_webhook_host(fields, ctx.settings.webhook_hosts)
    require(ctx, fields["namespace"], Role.ADMIN)
    policy = await _links(ctx, _defaults(fields))
    return await ctx.store.policies.create(ctx.actor, policy)


async def update_policy(ctx: Context, global_id: str, changes: dict[str, Any]) -> PolicyRecord:
    policy = await load_node(ctx, global_id, POLICY, Role.ADMIN)
    refuse_nulls(changes)
    merged = {**policy, **changes}
    for field in ("model_id", "target_model_id", "experiment_id"):
        merged[field] = policy.get(field)
    check_policy(merged)
    check_webhook_host(changes, ctx.settings.webhook_hosts)
    return await ctx.store.policies.update(ctx.actor, policy["id"], changes)


async def delete_policy(ctx: Context, global_id: str) -> str:
    policy = await load_node(ctx, global_id, POLICY, Role.ADMIN)
    await ctx.store.policies.delete(ctx.actor, policy["id"])
    return str(policy["id"])


async def evaluate_policy(
    ctx: Context, global_id: str, subject_id: str | None, dry_run: bool | None
) -> list[PolicyEvaluationRecord]:
    """Run one policy by hand, now: on a subject, or (RETENTION) over its whole scope."""
    policy = await load_node(ctx, global_id, POLICY, Role.ADMIN, "policyId")
    assert ctx.policies is not None, "the app runs a policy engine"
    decider = ctx.policies.decider
    if policy["kind"] == "RETENTION":
        if subject_id is not None:
            raise BadUserInput(
                "subjectId: a RETENTION policy runs over its whole model or experiment",
                field="subjectId",
            )
        record = await decider.retention(policy, MANUAL, dry_run)
        return [record] if record else []
    if subject_id is None:
        raise BadUserInput(f"subjectId: a {policy['kind']} policy needs one", field="subjectId")
    wanted = "Checkpoint" if policy["kind"] == "PROMOTION" else "ModelVersion"
    subject_type, subject = await load_typed(
        ctx, subject_id, wanted, role=Role.VIEWER, field="subjectId"
    )
    if not in_scope(policy, subject_type, subject):
        raise BadUserInput(f"subjectId: not a {wanted} this policy is about", field="subjectId")
    decide = decider.promotion if policy["kind"] == "PROMOTION" else decider.labeling
    record = await decide(policy, subject, MANUAL, dry_run)
    return [record] if record else []


async def policies_in_namespace(
    ctx: Context, namespace: Record, first: int | None, after: str | None
) -> Listing:
    store = ctx.store
    return await children(ctx, store.policies, "namespace", namespace["name"], first, after, {})


async def policies_of_model(
    ctx: Context, model: Record, first: int | None, after: str | None
) -> Listing:
    return await children(ctx, ctx.store.policies, "model_id", model["id"], first, after, {})


async def evaluations_of(
    ctx: Context, policy: PolicyRecord, first: int | None, after: str | None
) -> Listing:
    store = ctx.store
    return await children(
        ctx, store.policy_evaluations, "policy_id", policy["id"], first, after, {}
    )


def webhook_url(ctx: Context, record: Record, url: str | None) -> str | None:
    """A webhook URL (which may carry a secret of the receiver's) is shown to ADMINs only."""
    return url if ctx.principal.can(record["namespace"], Role.ADMIN) else None
