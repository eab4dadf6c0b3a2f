"""Models and their versions: found by path (`namespace/model:3`, `namespace/model@alias`)
or id, registered from a checkpoint, aliased and labeled."""

from __future__ import annotations

from typing import Any

from modelbox.client import _queries as q
from modelbox.client._base import key_values, split_path
from modelbox.client._exceptions import ConfigError, NotFound
from modelbox.client._experiments import Experiments


class Registry(Experiments):
    def model(self, ref: str) -> dict[str, Any]:
        namespace, name = split_path(ref, "model")
        found = (self.graphql(q.MODEL_BY_NAME, ns=namespace, name=name)["namespace"] or {}).get(
            "model"
        )
        return self._found(found, f"model {ref!r}")

    def models(self, namespace: str, limit: int | None = None) -> list[dict[str, Any]]:
        return list(self._pages(q.MODELS, ["namespace", "models"], limit, ns=namespace))

    def versions(self, model: str, limit: int | None = None) -> list[dict[str, Any]]:
        """A model's versions, newest first."""
        return list(
            self._pages(q.MODEL_VERSIONS, ["node", "versions"], limit, id=self.model(model)["id"])
        )

    def version(self, ref: str) -> dict[str, Any]:
        """`namespace/model:3`, `namespace/model@alias` or a version's id."""
        found: Any
        if "/" not in ref:
            found = self.graphql(q.VERSION_BY_ID, id=ref)["node"]
        elif "@" in ref:
            path, alias = ref.rsplit("@", 1)
            namespace, name = split_path(path, "model")
            model = (
                self.graphql(q.VERSION_BY_ALIAS, ns=namespace, name=name, alias=alias)["namespace"]
                or {}
            ).get("model")
            edges = (model or {}).get("versions", {}).get("edges", [])
            found = edges[0]["node"] if edges else None
        else:
            path, _, number = ref.rpartition(":")
            if not number.isdigit():
                raise ConfigError(
                    f"{ref!r}: name a version as namespace/model:N or namespace/model@alias"
                )
            namespace, name = split_path(path, "model")
            model = (
                self.graphql(q.VERSION_BY_NUMBER, ns=namespace, name=name, v=int(number))[
                    "namespace"
                ]
                or {}
            ).get("model")
            found = (model or {}).get("version")
        return self._found(found, f"model version {ref!r}")

    def register_version(
        self,
        model: str,
        from_checkpoint: str | None = None,
        experiment: str | None = None,
        aliases: list[str] | None = None,
        labels: dict[str, str] | None = None,
        metrics: dict[str, float] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A new version of `namespace/model` (created if it does not exist), linked to the
        checkpoint (and its experiment) it came from; the checkpoint's metrics by default."""
        try:
            model_id = self.model(model)["id"]
        except NotFound:
            namespace, name = split_path(model, "model")
            model_id = self.graphql(q.CREATE_MODEL, input={"namespace": namespace, "name": name})[
                "createModel"
            ]["id"]
        if from_checkpoint is not None and (metrics is None or experiment is None):
            found = self.graphql(q.CHECKPOINT_SOURCE, id=from_checkpoint)["node"] or {}
            if metrics is None:
                metrics = {m["key"]: m["value"] for m in found.get("metrics", [])}
            experiment = experiment or (found.get("experiment") or {}).get("id")
        return self._mutate(
            q.CREATE_VERSION,
            "createModelVersion",
            modelId=model_id,
            checkpointId=from_checkpoint,
            experimentId=self.experiment_id(experiment) if experiment is not None else None,
            aliases=aliases or [],
            labels=[{"key": k, "value": v} for k, v in (labels or {}).items()],
            metrics=key_values(metrics),
            **fields,
        )

    def set_alias(self, version: str, alias: str) -> dict[str, Any]:
        """Give `alias` to a version (moved from whichever version held it)."""
        found = self.version(version)
        aliases = sorted({*found["aliases"], alias})
        return self._mutate(q.UPDATE_VERSION, "updateModelVersion", id=found["id"], aliases=aliases)

    def set_labels(self, version: str, labels: dict[str, str]) -> dict[str, Any]:
        """Add or change labels of a version (the others stay)."""
        found = self.version(version)
        merged = {label["key"]: label["value"] for label in found["labels"]} | labels
        listed = [{"key": k, "value": v} for k, v in merged.items()]
        return self._mutate(q.UPDATE_VERSION, "updateModelVersion", id=found["id"], labels=listed)
