"""`Client`: the registry, artifacts, events and metric series, for what is not a run.

Objects are named by their global id or by path: `namespace/experiment`,
`namespace/model`, `namespace/model:3` (a version) or `namespace/model@production` (the
version holding an alias). Objects come back as the API's JSON (dicts).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from modelbox.client import _artifacts
from modelbox.client import _queries as q
from modelbox.client._columns import points_of
from modelbox.client._config import credentials
from modelbox.client._exceptions import ConfigError, NotFound
from modelbox.client._series import Point, Series
from modelbox.client._transport import Transport
from modelbox.client._watch import subscribe

PAGE_SIZE = 100
POINTS_PER_PAGE = 100_000


def split_path(ref: str, what: str) -> tuple[str, str]:
    namespace, _, name = ref.partition("/")
    if not namespace or not name:
        raise ConfigError(f"{ref!r} is neither an id nor namespace/{what}")
    return namespace, name


class Client:
    """A connection to one ModelBox server; `url` and `token` default to `MODELBOX_URL`
    and `MODELBOX_TOKEN`, then to what `modelbox login` saved."""

    def __init__(self, url: str | None = None, token: str | None = None) -> None:
        found = credentials(url, token)
        self.url, self.token = found.url, found.token
        self.transport = Transport(self.url, self.token)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        """Any GraphQL operation; its `data`."""
        return self.transport.graphql(query, variables)

    def _pages(
        self, query: str, path: list[str], limit: int | None = None, **variables: Any
    ) -> Iterator[dict[str, Any]]:
        """The nodes of a connection at `path` in the answer, page after page."""
        after, seen = None, 0
        while True:
            data: Any = self.graphql(query, first=PAGE_SIZE, after=after, **variables)
            for step in path:
                data = (data or {}).get(step)
            if data is None:
                return
            for edge in data["edges"]:
                yield edge["node"]
                seen += 1
                if limit is not None and seen >= limit:
                    return
            if not data["pageInfo"]["hasNextPage"]:
                return
            after = data["pageInfo"]["endCursor"]

    # Experiments and checkpoints

    def experiment(self, ref: str) -> dict[str, Any]:
        if "/" in ref:
            namespace, name = split_path(ref, "experiment")
            found = (
                self.graphql(q.EXPERIMENT_BY_NAME, ns=namespace, name=name)["namespace"] or {}
            ).get("experiment")
        else:
            found = self.graphql(q.NODE, id=ref)["node"]
            found = found if found and found.get("__typename") == "Experiment" else None
        if not found:
            raise NotFound(f"no experiment {ref!r} (or not yours to read)")
        return dict(found)

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
        data = self.graphql(
            q.CREATE_EXPERIMENT, input={"namespace": namespace, "name": name, **fields}
        )
        return dict(data["createExperiment"])

    def update_experiment(self, experiment_id: str, **changes: Any) -> dict[str, Any]:
        data = self.graphql(q.UPDATE_EXPERIMENT, input={"id": experiment_id, **changes})
        return dict(data["updateExperiment"])

    def checkpoints(self, experiment: str) -> list[dict[str, Any]]:
        """An experiment's checkpoints in step order."""
        experiment_id = self.experiment(experiment)["id"] if "/" in experiment else experiment
        return list(self._pages(q.CHECKPOINTS, ["node", "checkpoints"], id=experiment_id))

    def create_checkpoint(
        self,
        experiment_id: str,
        step: int,
        epoch: int | None = None,
        metrics: dict[str, float] | None = None,
        metadata: Any = None,
    ) -> dict[str, Any]:
        values = [{"key": k, "value": float(v)} for k, v in (metrics or {}).items()]
        data = self.graphql(
            q.CREATE_CHECKPOINT,
            input={
                "experimentId": experiment_id,
                "step": step,
                "epoch": epoch,
                "metrics": values,
                "metadata": metadata,
            },
        )
        return dict(data["createCheckpoint"])

    # Models and versions

    def model(self, ref: str) -> dict[str, Any]:
        namespace, name = split_path(ref, "model")
        found = (self.graphql(q.MODEL_BY_NAME, ns=namespace, name=name)["namespace"] or {}).get(
            "model"
        )
        if not found:
            raise NotFound(f"no model {ref!r} (or not yours to read)")
        return dict(found)

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
        if not found:
            raise NotFound(f"no model version {ref!r} (or not yours to read)")
        return dict(found)

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
        values = [{"key": k, "value": float(v)} for k, v in (metrics or {}).items()]
        if experiment is not None and "/" in experiment:
            experiment = self.experiment(experiment)["id"]
        data = self.graphql(
            q.CREATE_VERSION,
            input={
                "modelId": model_id,
                "checkpointId": from_checkpoint,
                "experimentId": experiment,
                "aliases": aliases or [],
                "labels": [{"key": k, "value": v} for k, v in (labels or {}).items()],
                "metrics": values,
                **fields,
            },
        )
        return dict(data["createModelVersion"])

    def set_alias(self, version: str, alias: str) -> dict[str, Any]:
        """Give `alias` to a version (moved from whichever version held it)."""
        found = self.version(version)
        aliases = sorted({*found["aliases"], alias})
        return dict(
            self.graphql(q.UPDATE_VERSION, input={"id": found["id"], "aliases": aliases})[
                "updateModelVersion"
            ]
        )

    def set_labels(self, version: str, labels: dict[str, str]) -> dict[str, Any]:
        """Add or change labels of a version (the others stay)."""
        found = self.version(version)
        merged = {label["key"]: label["value"] for label in found["labels"]} | labels
        update = {"id": found["id"], "labels": [{"key": k, "value": v} for k, v in merged.items()]}
        return dict(self.graphql(q.UPDATE_VERSION, input=update)["updateModelVersion"])

    # Artifacts

    def artifacts(self, subject_id: str) -> list[dict[str, Any]]:
        return list(self._pages(q.ARTIFACTS, ["node", "artifacts"], id=subject_id))

    def artifact(self, artifact_id: str) -> dict[str, Any]:
        found = self.graphql(q.ARTIFACT_BY_ID, id=artifact_id)["node"]
        if not found:
            raise NotFound(f"no artifact {artifact_id!r} (or not yours to read)")
        return dict(found)

    def upload_artifact(
        self,
        subject_id: str,
        path: str | Path,
        name: str | None = None,
        progress: bool | None = None,
    ) -> list[dict[str, Any]]:
        """Upload a file (as `name`, default its file name) or a directory (each file under
        `name/`); the server checks each upload against the sha256 computed here."""
        path = Path(path)
        uploaded = []
        for file, relative in _artifacts.files_of(path):
            given = relative if name is None else (name if path.is_file() else f"{name}/{relative}")
            artifact_name = _artifacts.artifact_name(given)
            created = self.graphql(
                q.CREATE_ARTIFACT,
                input={
                    "subjectId": subject_id,
                    "name": artifact_name,
                    "sha256": _artifacts.sha256_of(file),
                    "metadata": {"path": given} if given != artifact_name else None,
                },
            )["createArtifact"]
            _artifacts.upload(self.transport, created["uploadUrl"], file, progress)
            uploaded.append(self.artifact(created["id"]))
        return uploaded

    def download_artifact(
        self, artifact: str | dict[str, Any], dest: str | Path, progress: bool | None = None
    ) -> Path:
        """Download into `dest` (a file path, or an existing directory to put it in by name)."""
        found = self.artifact(artifact) if isinstance(artifact, str) else artifact
        target = Path(dest)
        if target.is_dir():
            target = inside(target, found["name"])
        return _artifacts.download(self.transport, found, target, progress)

    # Events

    def log_events(self, subject_id: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return list(
            self.graphql(q.LOG_EVENTS, input={"subjectId": subject_id, "events": events})[
                "logEvents"
            ]
        )

    def events(
        self, subject_id: str, names: list[str] | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        event_filter = {"names": names} if names else None
        return list(
            self._pages(q.EVENTS, ["node", "events"], limit, id=subject_id, filter=event_filter)
        )

    def watch_events(
        self,
        subject_id: str | None = None,
        namespace: str | None = None,
        names: list[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Events as they are logged, until the connection ends."""
        variables = {"id": subject_id, "ns": namespace, "names": names}
        for data in subscribe(self.url, self.token, q.WATCH_EVENTS, variables):
            yield data["events"]

    # Metrics

    def metrics(self, subject: str, keys: list[str] | None = None) -> dict[str, Series]:
        """Every point of an experiment's (or version's) series, by key, as Python lists."""
        subject_id = self.experiment(subject)["id"] if "/" in subject else subject
        node = self.graphql(q.SERIES, id=subject_id, keys=keys)["node"] or {}
        return {s["key"]: self._series(subject_id, s["key"]) for s in node.get("metricSeries", [])}

    def _series(self, subject_id: str, key: str) -> Series:
        series: Series | None = None
        from_step = None
        while True:
            node = self.graphql(
                q.POINTS_PAGE,
                id=subject_id,
                key=key,
                **{"from": from_step, "limit": POINTS_PER_PAGE},
            )["node"]
            metric = node["metric"]
            points = metric["points"]
            values = points_of(metric["kind"], points)
            series = series or Series(key, metric["kind"])
            steps = points["steps"]
            full = len(steps) == POINTS_PER_PAGE and steps[0] != steps[-1]
            # A full page may cut through points sharing its last step: fetch that step again.
            keep = steps.index(steps[-1]) if full else len(steps)
            series.extend(steps[:keep], points["wallclocks"][:keep], values[:keep])
            if not full:
                return series
            from_step = steps[-1]

    def metrics_dataframe(self, subject: str, keys: list[str] | None = None) -> Any:
        """The series as one pandas DataFrame (key, step, wallclock, value); needs pandas."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("metrics_dataframe needs pandas: pip install pandas") from None
        frames = [s.to_pandas() for s in self.metrics(subject, keys).values()]
        if not frames:
            return pd.DataFrame(columns=["key", "step", "wallclock", "value"])
        return pd.concat(frames, ignore_index=True)

    def watch_metrics(
        self, subject: str, keys: list[str] | None = None, from_step: int | None = None
    ) -> Iterator[Point]:
        """Points as they are logged (with from_step, the stored ones from there first, with no
        gap and no repeat), until the connection ends."""
        subject_id = self.experiment(subject)["id"] if "/" in subject else subject
        variables = {"id": subject_id, "keys": keys, "from": from_step}
        for data in subscribe(self.url, self.token, q.WATCH_METRICS, variables):
            update = data["metricsLogged"]
            points = update["points"]
            values = points_of(update["kind"], points)
            for step, wallclock, value in zip(
                points["steps"], points["wallclocks"], values, strict=True
            ):
                yield Point(update["key"], step, wallclock, value)

    # Tokens

    def viewer(self) -> dict[str, Any]:
        return dict(self.graphql(q.VIEWER)["viewer"])

    def create_token(
        self, name: str, roles: dict[str, str], expires_at: str | None = None
    ) -> dict[str, Any]:
        """A new API token (ADMIN); the secret is in the answer's `token`, shown this once."""
        bindings = [{"namespace": ns, "role": role.upper()} for ns, role in roles.items()]
        data = self.graphql(
            q.CREATE_TOKEN, input={"name": name, "roles": bindings, "expiresAt": expires_at}
        )
        return dict(data["createApiToken"])

    def tokens(self) -> list[dict[str, Any]]:
        return list(self._pages(q.TOKENS, ["apiTokens"]))

    def revoke_token(self, token_id: str) -> str:
        return str(
            self.graphql(q.REVOKE_TOKEN, input={"id": token_id})["revokeApiToken"]["deletedId"]
        )


def inside(directory: Path, name: str) -> Path:
    """`directory/name`, refusing a name that would land outside the directory."""
    target = directory / name
    if not target.resolve().is_relative_to(directory.resolve()):
        raise ConfigError(f"artifact name {name!r} points outside {directory}")
    return target
