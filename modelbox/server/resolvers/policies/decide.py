"""One policy on one subject: decide by the rules, then record and act through the store.

Used alike by the change-driven engine, the schedule and `evaluatePolicy`. A decision
that fails to act is recorded as FAILED with its reason; nothing here raises past a
single evaluation except a refusal meant for a caller of `evaluatePolicy`.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from modelbox.server.access import Actor
from modelbox.server.errors import Conflict, DatabaseError, ModelBoxError
from modelbox.server.resolvers.policies import rules
from modelbox.server.resolvers.policies.webhooks import Webhooks
from modelbox.server.store import Record, Store
from modelbox.server.store.policies import PolicyEvaluationRecord, PolicyRecord
from modelbox.server.store.records import now
from modelbox.server.store.repository import Repository

log = logging.getLogger(__name__)

APPLIED, SKIPPED, DRY_RUN, FAILED = "APPLIED", "SKIPPED", "DRY_RUN", "FAILED"
LEASE = timedelta(minutes=5)
# A run asked for while one was going is run once more; bounded so a flood cannot pin it.
MAX_RERUNS = 5


@dataclass(frozen=True)
class Trigger:
    kind: str  # CHANGE, RESUME (a change missed while the stream was down), MANUAL or SCHEDULE
    # The subject's state the change showed (its updated_at): one record per state.
    state: str | None = None


MANUAL = Trigger("MANUAL")


def actor_of(policy: PolicyRecord | None) -> Actor:
    """Who a policy's writes are by in the audit trail (a deleted one's, by "deleted")."""
    return Actor(name=f"policy:{policy['name'] if policy else 'deleted'}")


def in_scope(policy: PolicyRecord, subject_type: str, subject: Record) -> bool:
    """Whether `subject` is one this policy is about (always within its namespace)."""
    if subject.get("namespace") != policy["namespace"]:
        return False
    kind = policy["kind"]
    if kind == "PROMOTION" and subject_type == "Checkpoint":
        return policy.get("experiment_id") in (None, subject.get("experiment_id"))
    if kind == "LABELING" and subject_type == "ModelVersion":
        return policy.get("model_id") in (None, subject.get("model_id"))
    if kind == "RETENTION" and subject_type == "ModelVersion":
        return policy.get("model_id") == subject.get("model_id")
    if kind == "RETENTION" and subject_type == "Checkpoint":
        return policy.get("experiment_id") == subject.get("experiment_id")
    return False


class Decider:
    def __init__(self, store: Store, webhooks: Webhooks, interval: float) -> None:
        self.store = store
        self.interval = interval  # seconds between scheduled retention runs
        self.actions = store.policy_actions
        self.webhooks = webhooks
        self.holder = uuid.uuid4().hex  # this process, as a lease holder

    def _evaluation(
        self,
        policy: PolicyRecord,
        subject_type: str,
        subject: Record,
        decision: str,
        reasons: list[str],
        trigger: Trigger,
        actions: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        evaluation: dict[str, Any] = {
            "policy_id": policy["id"],
            "namespace": policy["namespace"],
            "kind": policy["kind"],
            "subject_type": subject_type,
            "subject_id": subject["id"],
            "decision": decision,
            "reasons": reasons,
            "actions": actions or {},
            "trigger": trigger.kind,
        }
        if trigger.state is not None:
            evaluation["state"] = trigger.state
        url = policy.get("webhook_url")
        if decision == APPLIED and url:
            evaluation["webhook"] = Webhooks.pending(url)
        return evaluation

    async def _commit(
        self, policy: PolicyRecord, evaluation: dict[str, Any], act: Any = None
    ) -> PolicyEvaluationRecord | None:
        """Record (and act, through `act(evaluation)`), or record FAILED when acting fails."""
        try:
            record = await (
                act(evaluation) if act else self.actions.record(actor_of(policy), evaluation)
            )
        except ModelBoxError as error:
            log.warning(
                "policy %s failed on %s: %r (%r)",
                policy["name"],
                evaluation["subject_id"],
                error,
                error.__cause__ or error.__context__,
            )
            # A database's own message may name hosts: the record keeps only its kind.
            why = type(error).__name__ if isinstance(error, DatabaseError) else error.message
            failed = {**evaluation, "decision": FAILED, "reasons": [*evaluation["reasons"], why]}
            failed.pop("webhook", None)
            return await self.actions.record(actor_of(policy), failed)
        if record is not None and record.get("webhook"):
            self.webhooks.send(policy, record)
        return record

    async def _already(
        self, policy: PolicyRecord, subject_type: str, subject: Record, trigger: Trigger, what: str
    ) -> PolicyEvaluationRecord | None:
        """A subject this policy already acted on: said so when asked by hand, else silence."""
        claim = await self.store.policy_evaluations.claimed(policy["id"], subject["id"])
        if claim is None:
            return None
        if trigger.kind != "MANUAL":
            return claim
        version = (claim.get("actions") or {}).get("version")
        reason = f"already {what} to version {version}" if version else f"already {what}"
        evaluation = self._evaluation(policy, subject_type, subject, SKIPPED, [reason], trigger)
        return await self.actions.record(actor_of(policy), evaluation)

    async def _holders(self, policy: PolicyRecord, model_id: str) -> dict[str, Record | None]:
        aliases = {
            alias for c in policy.get("conditions") or [] if (alias := c.get("compare_to_alias"))
        }
        return {alias: await self.actions.alias_holder(model_id, alias) for alias in aliases}

    async def promotion(
        self,
        policy: PolicyRecord,
        checkpoint: Record,
        trigger: Trigger,
        dry_run: bool | None = None,
    ) -> PolicyEvaluationRecord | None:
        done = await self._already(policy, "Checkpoint", checkpoint, trigger, "promoted")
        if done is not None:
            return done if trigger.kind == "MANUAL" else None
        target_id = policy.get("target_model_id") or policy.get("model_id")
        model = await self.store.models.get(target_id) if target_id else None
        experiment = await self.store.experiments.get(checkpoint["experiment_id"])
        if model is None or experiment is None:
            evaluation = self._evaluation(
                policy,
                "Checkpoint",
                checkpoint,
                FAILED,
                ["the model or experiment is gone"],
                trigger,
            )
            return await self.actions.record(actor_of(policy), evaluation)
        # Checkpoints carry no labels of their own: required labels are their run's.
        subject = {**checkpoint, "labels": experiment.get("labels") or []}
        verdict = rules.check(
            policy.get("conditions") or [],
            policy.get("require_labels") or [],
            subject,
            await self._holders(policy, model["id"]),
        )
        actions = _label_actions(policy)
        if not verdict.holds or _dry(policy, dry_run):
            decision = DRY_RUN if verdict.holds else SKIPPED
            evaluation = self._evaluation(
                policy, "Checkpoint", checkpoint, decision, verdict.reasons, trigger, actions
            )
            return await self.actions.record(actor_of(policy), evaluation)
        fields = {
            "description": f"promoted by policy {policy['name']} from step {checkpoint['step']}",
            "framework": experiment.get("framework"),
            "metrics": checkpoint.get("metrics") or [],
            "metadata": checkpoint.get("metadata"),
            "labels": policy.get("add_labels") or [],
            "aliases": [policy["set_alias"]] if policy.get("set_alias") else [],
            "datasets": [],
        }
        evaluation = self._evaluation(
            policy, "Checkpoint", checkpoint, APPLIED, verdict.reasons, trigger, actions
        )
        return await self._commit(
            policy,
            evaluation,
            lambda e: self.actions.promote(actor_of(policy), e, model, checkpoint, fields),
        )

    async def labeling(
        self, policy: PolicyRecord, version: Record, trigger: Trigger, dry_run: bool | None = None
    ) -> PolicyEvaluationRecord | None:
        done = await self._already(policy, "ModelVersion", version, trigger, "labeled")
        if done is not None:
            return done if trigger.kind == "MANUAL" else None
        holders = await self._holders(policy, version["model_id"])
        verdict = rules.check(
            policy.get("conditions") or [], policy.get("require_labels") or [], version, holders
        )
        actions = _label_actions(policy)
        alias = policy.get("set_alias")
        if alias:
            holder = holders.get(alias) or await self.actions.alias_holder(
                version["model_id"], alias
            )
            actions["aliasFrom"] = holder["version"] if holder else None
        if not verdict.holds or _dry(policy, dry_run):
            decision = DRY_RUN if verdict.holds else SKIPPED
            evaluation = self._evaluation(
                policy, "ModelVersion", version, decision, verdict.reasons, trigger, actions
            )
            return await self.actions.record(actor_of(policy), evaluation)
        labels = list(version.get("labels") or [])
        labels += [label for label in policy.get("add_labels") or [] if label not in labels]
        changes: dict[str, Any] = {"labels": labels}
        if alias and alias not in (version.get("aliases") or []):
            changes["aliases"] = [*(version.get("aliases") or []), alias]
        evaluation = self._evaluation(
            policy, "ModelVersion", version, APPLIED, verdict.reasons, trigger, actions
        )
        return await self._commit(
            policy,
            evaluation,
            lambda e: self.actions.label(actor_of(policy), e, version, changes),
        )

    async def retention(
        self, policy: PolicyRecord, trigger: Trigger, dry_run: bool | None = None
    ) -> PolicyEvaluationRecord | None:
        """Run retention under the policy's lease; None when another run has it (it reruns)."""
        started = now()
        ran_before = None
        if trigger.kind == "SCHEDULE":
            ran_before = started - timedelta(seconds=self.interval)
        if not await self.store.policy_leases.take(policy["id"], self.holder, LEASE, ran_before):
            if trigger.kind == "MANUAL":
                raise Conflict("a run of this policy is going on; try again when it ends")
            if trigger.kind == "CHANGE":
                await self.store.policy_leases.ask_rerun(policy["id"])
            return None
        record = None
        for _ in range(MAX_RERUNS):
            try:
                record = await self._retain(policy, trigger, dry_run)
            finally:
                rerun = await self.store.policy_leases.release(policy["id"], self.holder, started)
            started = now()
            if not rerun or not await self.store.policy_leases.take(
                policy["id"], self.holder, LEASE
            ):
                break
        return record

    async def _retain(
        self, policy: PolicyRecord, trigger: Trigger, dry_run: bool | None
    ) -> PolicyEvaluationRecord | None:
        repository: Repository
        scope: Record | None
        if model_id := policy.get("model_id"):
            repository, parent_field, subject_type = self.store.versions, "model_id", "Model"
            scope = await self.store.models.get(model_id)
        else:
            repository, parent_field = self.store.checkpoints, "experiment_id"
            subject_type = "Experiment"
            experiment_id = policy.get("experiment_id")
            scope = await self.store.experiments.get(experiment_id) if experiment_id else None
        if scope is None:
            return None
        subjects = await self.actions.candidates(repository, parent_field, scope["id"])
        plan = rules.retention_plan(policy, subjects, now())
        number = "version" if subject_type == "Model" else "step"
        archive = policy.get("action") == "ARCHIVE"
        actions = {"archive" if archive else "delete": [s[number] for s in plan.remove]}
        if not plan.remove or _dry(policy, dry_run):
            decision = DRY_RUN if plan.remove else SKIPPED
            evaluation = self._evaluation(
                policy, subject_type, scope, decision, plan.reasons, trigger, actions
            )
            return await self.actions.record(actor_of(policy), evaluation)
        evaluation = self._evaluation(
            policy, subject_type, scope, APPLIED, plan.reasons, trigger, actions
        )

        async def act(e: dict[str, Any]) -> PolicyEvaluationRecord | None:
            ids = [s["id"] for s in plan.remove]
            await self.actions.remove(actor_of(policy), repository, ids, archive)
            return await self.actions.record(actor_of(policy), e)

        return await self._commit(policy, evaluation, act)


def _dry(policy: PolicyRecord, dry_run: bool | None) -> bool:
    return bool(policy.get("dry_run")) if dry_run is None else dry_run


def _label_actions(policy: PolicyRecord) -> dict[str, Any]:
    actions: dict[str, Any] = {}
    if policy.get("set_alias"):
        actions["setAlias"] = policy["set_alias"]
    if policy.get("add_labels"):
        actions["addLabels"] = policy["add_labels"]
    return actions
