"""What the `query:` text may name as attributes of experiments and of model versions."""

from __future__ import annotations

from modelbox.search.grammar import AttributeSpec

STATUSES = frozenset({"RUNNING", "FINISHED", "FAILED", "KILLED"})


def _aliases(spec: AttributeSpec, *names: str) -> dict[str, AttributeSpec]:
    return {name: spec for name in (spec.name, *names)}


# MLflow's names (run_name, user_id, start_time...) beside ModelBox's own.
EXPERIMENT_ATTRIBUTES: dict[str, AttributeSpec] = {
    **_aliases(AttributeSpec("status", "choice", STATUSES), "run_status"),
    **_aliases(AttributeSpec("name"), "run_name"),
    **_aliases(AttributeSpec("owner"), "user_id", "user"),
    **_aliases(AttributeSpec("framework")),
    **_aliases(AttributeSpec("task")),
    **_aliases(AttributeSpec("external_id"), "externalid"),
    **_aliases(AttributeSpec("namespace")),
    **_aliases(AttributeSpec("created_at", "time"), "createdat", "created", "creation_time"),
    **_aliases(AttributeSpec("started_at", "time"), "startedat", "start_time"),
    **_aliases(AttributeSpec("ended_at", "time"), "endedat", "end_time"),
}

VERSION_ATTRIBUTES: dict[str, AttributeSpec] = {
    **_aliases(AttributeSpec("name")),
    **_aliases(AttributeSpec("version", "number")),
    **_aliases(AttributeSpec("framework")),
    **_aliases(AttributeSpec("aliases", "tags"), "alias"),
    **_aliases(AttributeSpec("created_at", "time"), "createdat", "created", "creation_timestamp"),
    **_aliases(AttributeSpec("updated_at", "time"), "updatedat", "last_updated_timestamp"),
}
