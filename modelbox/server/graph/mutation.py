"""The root Mutation: each takes one `input` and changes nothing when it fails."""

from __future__ import annotations

import strawberry

from modelbox.server.graph import events as event_graph
from modelbox.server.graph import metrics as metric_series
from modelbox.server.graph import policies as policy_graph
from modelbox.server.graph.artifacts import Artifact, CreateArtifactInput, TrackArtifactInput
from modelbox.server.graph.experiments import Checkpoint, Experiment
from modelbox.server.graph.inputs import (
    CreateApiTokenInput,
    CreateCheckpointInput,
    CreateExperimentInput,
    CreateModelInput,
    CreateModelVersionInput,
    DeleteInput,
    UpdateCheckpointInput,
    UpdateExperimentInput,
    UpdateModelInput,
    UpdateModelVersionInput,
    plain,
)
from modelbox.server.graph.models import Model, ModelVersion
from modelbox.server.graph.relay import Info
from modelbox.server.graph.tokens import Principal
from modelbox.server.resolvers import artifacts, experiments, models, tokens
from modelbox.server.resolvers.ids import to_global_id
from modelbox.server.resolvers.policies import crud as policies


@strawberry.type
class DeletePayload:
    deleted_id: strawberry.ID


@strawberry.type
class CreateApiTokenPayload:
    token: str = strawberry.field(description="Shown this once; only its hash is stored.")
    principal: Principal


def _changes(input: object) -> tuple[str, dict[str, object]]:
    fields = plain(input)
    return fields.pop("id"), fields


def _deleted(type_name: str, raw_id: str) -> DeletePayload:
    return DeletePayload(deleted_id=to_global_id(type_name, raw_id))


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_model(self, info: Info, input: CreateModelInput) -> Model:
        return Model.from_record(await models.create_model(info.context, plain(input)))

    @strawberry.mutation
    async def update_model(self, info: Info, input: UpdateModelInput) -> Model:
        return Model.from_record(await models.update_model(info.context, *_changes(input)))

    @strawberry.mutation(description="Deletes the model and all its versions.")
    async def delete_model(self, info: Info, input: DeleteInput) -> DeletePayload:
        return _deleted("Model", await models.delete_model(info.context, input.id))

    @strawberry.mutation
    async def create_model_version(
        self, info: Info, input: CreateModelVersionInput
    ) -> ModelVersion:
        record = await models.create_model_version(info.context, plain(input))
        return ModelVersion.from_record(record)

    @strawberry.mutation
    async def update_model_version(
        self, info: Info, input: UpdateModelVersionInput
    ) -> ModelVersion:
        record = await models.update_model_version(info.context, *_changes(input))
        return ModelVersion.from_record(record)

    @strawberry.mutation
    async def delete_model_version(self, info: Info, input: DeleteInput) -> DeletePayload:
        return _deleted("ModelVersion", await models.delete_model_version(info.context, input.id))

    @strawberry.mutation
    async def create_experiment(self, info: Info, input: CreateExperimentInput) -> Experiment:
        record = await experiments.create_experiment(info.context, plain(input))
        return Experiment.from_record(record)

    @strawberry.mutation
    async def update_experiment(self, info: Info, input: UpdateExperimentInput) -> Experiment:
        record = await experiments.update_experiment(info.context, *_changes(input))
        return Experiment.from_record(record)

    @strawberry.mutation(description="Deletes the experiment and its checkpoints.")
    async def delete_experiment(self, info: Info, input: DeleteInput) -> DeletePayload:
        return _deleted("Experiment", await experiments.delete_experiment(info.context, input.id))

    @strawberry.mutation
    async def create_checkpoint(self, info: Info, input: CreateCheckpointInput) -> Checkpoint:
        record = await experiments.create_checkpoint(info.context, plain(input))
        return Checkpoint.from_record(record)

    @strawberry.mutation(description="Set a checkpoint's metrics or metadata (WRITER).")
    async def update_checkpoint(self, info: Info, input: UpdateCheckpointInput) -> Checkpoint:
        record = await experiments.update_checkpoint(info.context, *_changes(input))
        return Checkpoint.from_record(record)

    @strawberry.mutation(
        description="Events on an experiment, checkpoint, model or version: all or none."
    )
    async def log_events(
        self, info: Info, input: event_graph.LogEventsInput
    ) -> list[event_graph.Event]:
        return await event_graph.log_events(info, input)

    @strawberry.mutation(description="Log metric points against an experiment or a version.")
    async def log_metrics(
        self, info: Info, input: metric_series.LogMetricsInput
    ) -> metric_series.LogMetricsPayload:
        return await metric_series.log_metrics(info, input)

    @strawberry.mutation
    async def create_api_token(
        self, info: Info, input: CreateApiTokenInput
    ) -> CreateApiTokenPayload:
        fields = plain(input)
        record, token = await tokens.create_api_token(
            info.context, fields["name"], fields["roles"], fields.get("expires_at")
        )
        return CreateApiTokenPayload(token=token, principal=Principal.from_record(record))

    @strawberry.mutation
    async def revoke_api_token(self, info: Info, input: DeleteInput) -> DeletePayload:
        return _deleted("ApiToken", await tokens.revoke_api_token(info.context, input.id))

    @strawberry.mutation(description="A PENDING artifact: PUT its bytes to `uploadUrl`.")
    async def create_artifact(self, info: Info, input: CreateArtifactInput) -> Artifact:
        return Artifact.from_record(await artifacts.create_artifact(info.context, plain(input)))

    @strawberry.mutation(description="An artifact stored elsewhere, by URI: AVAILABLE at once.")
    async def track_artifact(self, info: Info, input: TrackArtifactInput) -> Artifact:
        return Artifact.from_record(await artifacts.track_artifact(info.context, plain(input)))

    @strawberry.mutation(description="Deletes the artifact and its stored bytes (ADMIN).")
    async def delete_artifact(self, info: Info, input: DeleteInput) -> DeletePayload:
        return _deleted("Artifact", await artifacts.delete_artifact(info.context, input.id))

    @strawberry.mutation(description="A policy the server applies itself (ADMIN).")
    async def create_policy(
        self, info: Info, input: policy_graph.CreatePolicyInput
    ) -> policy_graph.Policy:
        return await policy_graph.create_policy(info, input)

    @strawberry.mutation(description="Change a policy; its kind and what it is about stay.")
    async def update_policy(
        self, info: Info, input: policy_graph.UpdatePolicyInput
    ) -> policy_graph.Policy:
        return await policy_graph.update_policy(info, input)

    @strawberry.mutation(description="Deletes the policy and its evaluations (ADMIN).")
    async def delete_policy(self, info: Info, input: DeleteInput) -> DeletePayload:
        return _deleted("Policy", await policies.delete_policy(info.context, input.id))

    @strawberry.mutation(description="Evaluate a policy now, on a subject or its whole scope.")
    async def evaluate_policy(
        self, info: Info, input: policy_graph.EvaluatePolicyInput
    ) -> list[policy_graph.PolicyEvaluation]:
        return await policy_graph.evaluate_policy(info, input)
