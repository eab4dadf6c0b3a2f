"""Every index ModelBox relies on, and what a violation of a unique one means to a user."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from modelbox.server.store.guards import COLLECTION as GUARDS
from modelbox.server.store.guards import SEALED_SECONDS


@dataclass(frozen=True)
class IndexSpec:
    name: str
    keys: list[tuple[str, int]]
    options: dict[str, Any] = field(default_factory=dict)
    # Shown to the client when a unique index refuses a write; formatted with the key values.
    conflict: str | None = None


def _unique(name: str, keys: list[tuple[str, int]], conflict: str, **options: Any) -> IndexSpec:
    return IndexSpec(name, keys, {"unique": True, **options}, conflict)


# The policies' catch-up after a lost change stream: checkpoints and versions of some
# namespaces created since a moment, oldest first (PolicyActions.created_since).
CREATED_IN_NAMESPACE = IndexSpec(
    "namespace_created", [("namespace", ASCENDING), ("created_at", ASCENDING)]
)

INDEXES: dict[str, list[IndexSpec]] = {
    "namespaces": [
        _unique("name_unique", [("name", ASCENDING)], "namespace {name!r} already exists"),
    ],
    "models": [
        _unique(
            "namespace_name_unique",
            [("namespace", ASCENDING), ("name", ASCENDING)],
            "a model named {name!r} already exists in namespace {namespace!r}",
        ),
    ],
    # `_id` is the model's; created with the model so transactions only ever update it.
    "model_version_counters": [],
    "model_versions": [
        _unique(
            "model_version_unique",
            [("model_id", ASCENDING), ("version", ASCENDING)],
            "version {version} of this model already exists",
        ),
        _unique(
            "model_alias_unique",
            [("model_id", ASCENDING), ("aliases", ASCENDING)],
            "alias {aliases!r} is already on another version of this model",
            # Versions without aliases index nothing, so they never collide.
            partialFilterExpression={"aliases.0": {"$exists": True}},
        ),
        IndexSpec("experiment", [("experiment_id", ASCENDING), ("version", DESCENDING)]),
        IndexSpec("checkpoint", [("checkpoint_id", ASCENDING)]),
        CREATED_IN_NAMESPACE,
    ],
    "experiments": [
        _unique(
            "namespace_name_unique",
            [("namespace", ASCENDING), ("name", ASCENDING)],
            "an experiment named {name!r} already exists in namespace {namespace!r}",
        ),
        IndexSpec("namespace_newest", [("namespace", ASCENDING), ("_id", DESCENDING)]),
    ],
    # store/search_values.py: ranges of one field's values, a field's sample slice, and an
    # experiment's values (rewritten with its hyperparameters, dropped with it).
    "search_values": [
        IndexSpec("field_value", [("ns", ASCENDING), ("f", ASCENDING), ("v", ASCENDING)]),
        IndexSpec("field_sample", [("ns", ASCENDING), ("f", ASCENDING), ("s", ASCENDING)]),
        IndexSpec("experiment_field", [("e", ASCENDING), ("f", ASCENDING)]),
    ],
    "checkpoints": [
        _unique(
            "experiment_step_unique",
            [("experiment_id", ASCENDING), ("step", ASCENDING)],
            "this experiment already has a checkpoint at step {step}",
        ),
        CREATED_IN_NAMESPACE,
    ],
    "api_tokens": [
        _unique("hash_unique", [("hash", ASCENDING)], "that token already exists"),
    ],
    "audit_events": [
        IndexSpec("scope_newest", [("scopes", ASCENDING), ("_id", DESCENDING)]),
    ],
    "artifacts": [
        _unique(
            "subject_name_unique",
            [("subject_id", ASCENDING), ("name", ASCENDING)],
            "an artifact named {name!r} is already attached to this object",
        ),
        IndexSpec("subject_newest", [("subject_id", ASCENDING), ("_id", DESCENDING)]),
    ],
    # A parent's guard, by the parent's id; a deleted parent's guard expires (store/guards.py).
    GUARDS: [
        IndexSpec(
            "sealed_expire", [("sealed_at", ASCENDING)], {"expireAfterSeconds": SEALED_SECONDS}
        )
    ],
    # Upload leases, by artifact id: only `_id` is looked up.
    "artifact_uploads": [],
    # GridFS's own indexes, under the names GridFS clients give them.
    "fs.files": [
        IndexSpec("filename_1_uploadDate_1", [("filename", ASCENDING), ("uploadDate", ASCENDING)])
    ],
    "fs.chunks": [
        _unique("files_id_1_n_1", [("files_id", ASCENDING), ("n", ASCENDING)], "chunk exists"),
    ],
    # `order` is wallclock then id: timelines per subject and per namespace, and time ranges.
    "events": [
        IndexSpec("subject_order", [("subject_id", ASCENDING), ("order", ASCENDING)]),
        # The previous (or next) event of the same name, for `since_previous_same`.
        IndexSpec(
            "subject_name_order",
            [("subject_id", ASCENDING), ("name", ASCENDING), ("order", ASCENDING)],
        ),
        IndexSpec("namespace_order", [("namespace", ASCENDING), ("order", ASCENDING)]),
    ],
    "event_timelines": [],
    "policies": [
        _unique(
            "namespace_name_unique",
            [("namespace", ASCENDING), ("name", ASCENDING)],
            "a policy named {name!r} already exists in namespace {namespace!r}",
        ),
        IndexSpec("model", [("model_id", ASCENDING), ("name", ASCENDING)]),
        IndexSpec("target_model", [("target_model_id", ASCENDING)]),
        IndexSpec("experiment", [("experiment_id", ASCENDING)]),
    ],
    "policy_evaluations": [
        # One record per state of a subject a change showed, however many processes saw it.
        _unique(
            "policy_subject_state_unique",
            [("policy_id", ASCENDING), ("subject_id", ASCENDING), ("state", ASCENDING)],
            "this change was already evaluated",
            partialFilterExpression={"state": {"$exists": True}},
        ),
        # A subject is promoted (or labeled) at most once per policy.
        _unique(
            "policy_subject_claim_unique",
            [("policy_id", ASCENDING), ("subject_id", ASCENDING)],
            "this policy already acted on this object",
            partialFilterExpression={"claimed": True},
        ),
        IndexSpec("policy_newest", [("policy_id", ASCENDING), ("_id", DESCENDING)]),
    ],
    # Retention leases, by policy id: only `_id` is looked up.
    "policy_leases": [],
    "metric_series": [
        _unique(
            "subject_key_unique",
            [("subject_id", ASCENDING), ("key", ASCENDING)],
            "metric series {key!r} already exists with another kind",
        ),
    ],
    "metric_buckets": [
        IndexSpec(
            "subject_key_step",
            [("subject_id", ASCENDING), ("key", ASCENDING), ("first_step", ASCENDING)],
        ),
    ],
    # Plot tiles of a series by level and start; writers find the ones their steps fall in.
    "metric_tiles": [
        _unique(
            "series_level_start_unique",
            [
                ("subject_id", ASCENDING),
                ("key", ASCENDING),
                ("level", ASCENDING),
                ("start", ASCENDING),
            ],
            "a plot tile was built twice",
        ),
    ],
    "metric_requests": [
        _unique(
            "subject_request_unique",
            [("subject_id", ASCENDING), ("idempotency_key", ASCENDING)],
            "this idempotency key was already used",
        ),
        # A client retries within minutes; a week of keys covers any retry loop.
        IndexSpec("expire", [("created_at", ASCENDING)], {"expireAfterSeconds": 7 * 24 * 3600}),
    ],
}


def conflict_message(error: DuplicateKeyError) -> str:
    details = error.details or {}
    key_value: dict[str, Any] = details.get("keyValue") or {}
    message = str(details.get("errmsg", ""))
    for collection, specs in INDEXES.items():
        for spec in specs:
            if spec.conflict and f".{collection} index: {spec.name} " in message:
                try:
                    return spec.conflict.format(**key_value)
                except (KeyError, IndexError):
                    return spec.conflict.split("{")[0].strip() or "already exists"
    return "an object with these unique values already exists"
