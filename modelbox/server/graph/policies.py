"""Policies in the schema: the Policy and PolicyEvaluation nodes, their inputs and fields.

`namespaces` and `models` add `policies` with `policies_field`; the types this module
points back to (Namespace, Model, Experiment) are referred to lazily.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry.scalars import JSON

from modelbox.server.graph.common import Label
from modelbox.server.graph.enums import Comparison
from modelbox.server.graph.inputs import LabelInput, plain
from modelbox.server.graph.relay import Info, Node, connection_field, node_type, to_node
from modelbox.server.resolvers.ids import to_global_id
from modelbox.server.resolvers.nodes import node
from modelbox.server.resolvers.policies import crud
from modelbox.server.resolvers.policies.webhooks import public_actions
from modelbox.server.store.policies import PolicyEvaluationRecord, PolicyRecord
from modelbox.server.store.records import LabelRecord

if TYPE_CHECKING:
    from modelbox.server.graph.experiments import Experiment
    from modelbox.server.graph.models import Model
    from modelbox.server.graph.namespaces import Namespace

LazyNamespace = Annotated["Namespace", strawberry.lazy("modelbox.server.graph.namespaces")]
LazyModel = Annotated["Model", strawberry.lazy("modelbox.server.graph.models")]
LazyExperiment = Annotated["Experiment", strawberry.lazy("modelbox.server.graph.experiments")]


@strawberry.enum
class PolicyKind(enum.Enum):
    PROMOTION = "PROMOTION"
    LABELING = "LABELING"
    RETENTION = "RETENTION"


@strawberry.enum
class RetentionAction(enum.Enum):
    DELETE = "DELETE"
    ARCHIVE = "ARCHIVE"


@strawberry.enum
class PolicyDecision(enum.Enum):
    APPLIED = "APPLIED"
    SKIPPED = "SKIPPED"
    DRY_RUN = "DRY_RUN"
    FAILED = "FAILED"


@strawberry.input(description="A metric condition: a value, or better than the alias holder.")
class MetricConditionInput:
    key: str
    op: Comparison
    dataset: str | None = strawberry.field(default=None, description="Measured on this dataset.")
    value: float | None = None
    compare_to_alias: str | None = strawberry.field(
        default=None,
        description="Better than the version holding this alias; the direction is `op`'s.",
    )
    min_delta: float | None = strawberry.field(default=None, description="Better by this much.")


@strawberry.type
class MetricCondition:
    key: str
    dataset: str | None
    op: Comparison
    value: float | None
    compare_to_alias: str | None
    min_delta: float | None


@strawberry.input
class CreatePolicyInput:
    namespace: str
    name: str
    kind: PolicyKind
    model_id: strawberry.ID | None = None
    experiment_id: strawberry.ID | None = None
    enabled: bool = True
    dry_run: bool = strawberry.field(default=False, description="Evaluate and record only.")
    conditions: list[MetricConditionInput] | None = None
    require_labels: list[LabelInput] | None = None
    target_model_id: strawberry.ID | None = strawberry.field(
        default=None, description="PROMOTION: the model that gets the versions (else modelId)."
    )
    set_alias: str | None = None
    add_labels: list[LabelInput] | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = strawberry.field(
        default=None, description="Signs webhook calls (HMAC-SHA256); never readable back."
    )
    keep_last: int | None = None
    keep_best: int | None = None
    keep_best_by: str | None = None
    keep_best_mode: str | None = strawberry.field(default=None, description='"max" or "min".')
    max_age_days: float | None = None
    protect_labels: list[LabelInput] | None = None
    action: RetentionAction = RetentionAction.DELETE


@strawberry.input
class UpdatePolicyInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET
    dry_run: bool | None = strawberry.UNSET
    conditions: list[MetricConditionInput] | None = strawberry.UNSET
    require_labels: list[LabelInput] | None = strawberry.UNSET
    set_alias: str | None = strawberry.UNSET
    add_labels: list[LabelInput] | None = strawberry.UNSET
    webhook_url: str | None = strawberry.UNSET
    webhook_secret: str | None = strawberry.UNSET
    keep_last: int | None = strawberry.UNSET
    keep_best: int | None = strawberry.UNSET
    keep_best_by: str | None = strawberry.UNSET
    keep_best_mode: str | None = strawberry.UNSET
    max_age_days: float | None = strawberry.UNSET
    protect_labels: list[LabelInput] | None = strawberry.UNSET
    action: RetentionAction | None = strawberry.UNSET


@strawberry.input
class EvaluatePolicyInput:
    policy_id: strawberry.ID
    subject_id: strawberry.ID | None = strawberry.field(
        default=None, description="A Checkpoint (PROMOTION) or ModelVersion (LABELING)."
    )
    dry_run: bool | None = strawberry.field(default=None, description="Default: the policy's.")


@strawberry.type(description="How a policy's webhook call went.")
class WebhookDelivery:
    url: str | None = strawberry.field(description="Shown to ADMINs only.")
    status: str = strawberry.field(description="PENDING, DELIVERED or FAILED.")
    attempts: int
    response_status: int | None
    last_error: str | None


def _labels(values: list[LabelRecord] | None) -> list[Label]:
    return [Label(key=v["key"], value=v["value"]) for v in values or []]


async def _load(info: Info, type_name: str, raw: str | None) -> Any:
    """The node a policy or evaluation points to, if it still exists and may be read."""
    found = await node(info.context, to_global_id(type_name, raw)) if raw else None
    return to_node(*found) if found else None


@node_type
@strawberry.type(description="A rule the server applies to checkpoints or versions itself.")
class Policy(Node):
    record: strawberry.Private[PolicyRecord]
    name: str
    kind: PolicyKind
    enabled: bool
    dry_run: bool
    conditions: list[MetricCondition]
    set_alias: str | None

    @strawberry.field(description="Where APPLIED decisions are POSTed (shown to ADMINs only).")
    def webhook_url(self, info: Info) -> str | None:
        return crud.webhook_url(info.context, self.record, self.record.get("webhook_url"))

    has_webhook_secret: bool
    keep_last: int | None
    keep_best: int | None
    keep_best_by: str | None
    keep_best_mode: str | None
    max_age_days: float | None
    action: RetentionAction | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_record(cls, r: PolicyRecord) -> Policy:
        return cls(
            id=to_global_id("Policy", r["id"]),
            record=r,
            name=r["name"],
            kind=PolicyKind(r["kind"]),
            enabled=r["enabled"],
            dry_run=r["dry_run"],
            conditions=[
                MetricCondition(
                    key=c["key"],
                    dataset=c.get("dataset"),
                    op=Comparison(c["op"]),
                    value=c.get("value"),
                    compare_to_alias=c.get("compare_to_alias"),
                    min_delta=c.get("min_delta"),
                )
                for c in r.get("conditions") or []
            ],
            set_alias=r.get("set_alias"),
            has_webhook_secret=bool(r.get("has_webhook_secret")),
            keep_last=r.get("keep_last"),
            keep_best=r.get("keep_best"),
            keep_best_by=r.get("keep_best_by"),
            keep_best_mode=r.get("keep_best_mode"),
            max_age_days=r.get("max_age_days"),
            action=RetentionAction(r["action"]) if r["kind"] == "RETENTION" else None,
            created_at=r["created_at"],
            updated_at=r["updated_at"],
        )

    @strawberry.field
    def require_labels(self) -> list[Label]:
        return _labels(self.record.get("require_labels"))

    @strawberry.field
    def add_labels(self) -> list[Label]:
        return _labels(self.record.get("add_labels"))

    @strawberry.field
    def protect_labels(self) -> list[Label]:
        return _labels(self.record.get("protect_labels"))

    @strawberry.field
    async def namespace(self, info: Info) -> LazyNamespace:
        found = await _load(info, "Namespace", self.record["namespace"])
        assert found is not None, "a readable policy's namespace is readable"
        return found  # type: ignore[no-any-return]

    @strawberry.field(description="The model it is about, if it is about one.")
    async def model(self, info: Info) -> LazyModel | None:
        return await _load(info, "Model", self.record.get("model_id"))  # type: ignore[no-any-return]

    @strawberry.field(description="The experiment it is about, if it is about one.")
    async def experiment(self, info: Info) -> LazyExperiment | None:
        return await _load(info, "Experiment", self.record.get("experiment_id"))  # type: ignore[no-any-return]

    @strawberry.field(description="PROMOTION: the model that gets the promoted versions.")
    async def target_model(self, info: Info) -> LazyModel | None:
        return await _load(info, "Model", self.record.get("target_model_id"))  # type: ignore[no-any-return]

    evaluations = connection_field(
        Annotated["PolicyEvaluation", strawberry.lazy("modelbox.server.graph.policies")],
        crud.evaluations_of,
        description="Every decision it took, newest first.",
    )


@node_type
@strawberry.type(description="One decision of a policy about one subject, and what it did.")
class PolicyEvaluation(Node):
    record: strawberry.Private[PolicyEvaluationRecord]
    decision: PolicyDecision
    reasons: list[str]
    actions: JSON
    trigger: str = strawberry.field(
        description="CHANGE, RESUME (created while the change stream was down), MANUAL or SCHEDULE."
    )
    at: datetime

    @classmethod
    def from_record(cls, r: PolicyEvaluationRecord) -> PolicyEvaluation:
        return cls(
            id=to_global_id("PolicyEvaluation", r["id"]),
            record=r,
            decision=PolicyDecision(r["decision"]),
            reasons=r["reasons"],
            actions=cast(JSON, public_actions(r.get("actions") or {})),
            trigger=r["trigger"],
            at=r["at"],
        )

    @strawberry.field
    async def policy(self, info: Info) -> Policy:
        record = await info.context.loaders.policy.load(self.record["policy_id"])
        assert record is not None, "a readable evaluation's policy is readable"
        return Policy.from_record(record)

    @strawberry.field(description="The checkpoint, version, model or experiment; null once gone.")
    async def subject(self, info: Info) -> Node | None:
        return await _load(info, self.record["subject_type"], self.record["subject_id"])  # type: ignore[no-any-return]

    @strawberry.field
    def webhook(self, info: Info) -> WebhookDelivery | None:
        delivery = self.record.get("webhook")
        if not delivery:
            return None
        return WebhookDelivery(
            url=crud.webhook_url(info.context, self.record, delivery["url"]),
            status=delivery["status"],
            attempts=delivery["attempts"],
            response_status=delivery.get("response_status"),
            last_error=delivery.get("last_error"),
        )


def policies_field(parent_field: str) -> Any:
    """`policies(first, after)` of a Namespace (by name) or a Model (by id), by name."""
    load = crud.policies_in_namespace if parent_field == "namespace" else crud.policies_of_model
    return connection_field(Policy, load, description="Policies about this, by name.")


async def create_policy(info: Info, input: CreatePolicyInput) -> Policy:
    return Policy.from_record(await crud.create_policy(info.context, plain(input)))


async def update_policy(info: Info, input: UpdatePolicyInput) -> Policy:
    changes = plain(input)
    global_id = changes.pop("id")
    return Policy.from_record(await crud.update_policy(info.context, global_id, changes))


async def evaluate_policy(info: Info, input: EvaluatePolicyInput) -> list[PolicyEvaluation]:
    records = await crud.evaluate_policy(
        info.context, input.policy_id, input.subject_id, input.dry_run
    )
    return [PolicyEvaluation.from_record(r) for r in records]
