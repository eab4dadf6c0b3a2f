"""Experiments and their checkpoints, by `namespace/name` or id."""

from __future__ import annotations

from typing import Any

from modelbox.client import _queries as q
from modelbox.client._base import Base, key_values, split_path


class Unchanged:
    """What an update leaves out: the field keeps its value (None clears it)."""


UNCHANGED: Any = Unchanged()


class Experiments(Base):
    def experiment(self, ref: str) -> dict[str, Any]:
        if "/" in ref:
            namespace, name = split_path(ref, "experiment")
            found = (
                self.graphql(q.EXPERIMENT_BY_NAME, ns=namespace, name=name)["namespace"] or {}
            ).get("experiment")
        else:
            found = self.graphql(q.NODE, id=ref)["node"]
            found = found if found and found.get("__typename") == "Experiment" else None
        return self._found(found, f"experiment {ref!r}")

    def experiment_id(self, ref: str) -> str:
        """The id of `namespace/name`; an id as it is."""
        return str(self.experiment(ref)["id"]) if "/" in ref else ref

    def experiments(
        self, namespace: str, limit: int | None = None, **filter: Any
    ) -> list[dict[str, Any]]:
        """Experiments of a namespace; filter by status=, owner=, labels=[{key, value}]."""
        found = {k: v for k, v in filter.items() if v is not None}
        return list(
            self._pages(
                q.EXPERIMENTS,
                ["namespace", "experiments"],
                limit,
                ns=namespace,
                filter=found or None,
            )
        )

    def create_experiment(self, namespace: str, name: str, **fields: Any) -> dict[str, Any]:
        return self._mutate(
            q.CREATE_EXPERIMENT, "createExperiment", namespace=namespace, name=name, **fields
        )

    def update_experiment(self, experiment_id: str, **changes: Any) -> dict[str, Any]:
        return self._mutate(q.UPDATE_EXPERIMENT, "updateExperiment", id=experiment_id, **changes)

    def checkpoints(self, experiment: str) -> list[dict[str, Any]]:
        """An experiment's checkpoints in step order."""
        experiment_id = self.experiment_id(experiment)
        return list(self._pages(q.CHECKPOINTS, ["node", "checkpoints"], id=experiment_id))

    def create_checkpoint(
        self,
        experiment_id: str,
        step: int,
        epoch: int | None = None,
        metrics: dict[str, float] | None = None,
        metadata: Any = None,
    ) -> dict[str, Any]:
        return self._mutate(
            q.CREATE_CHECKPOINT,
            "createCheckpoint",
            experimentId=experiment_id,
            step=step,
            epoch=epoch,
            metrics=key_values(metrics),
            metadata=metadata,
        )

    def update_checkpoint(
        self,
        checkpoint_id: str,
        *,
        metrics: dict[str, float] | None = UNCHANGED,
        metadata: Any = UNCHANGED,
    ) -> dict[str, Any]:
        """Change a checkpoint after the fact (an evaluation that finished later): `metrics`
        replaces its whole metric list, and PROMOTION policies look again; `metadata`
        replaces its metadata. None (or `{}`) clears; a field left out stays as it is."""
        changes: dict[str, Any] = {}
        if metrics is not UNCHANGED:
            changes["metrics"] = key_values(metrics)
        if metadata is not UNCHANGED:
            changes["metadata"] = metadata
        return self._mutate(q.UPDATE_CHECKPOINT, "updateCheckpoint", id=checkpoint_id, **changes)
