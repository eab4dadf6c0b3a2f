"""Node type names that carry their record type, so that mypy checks field names on what
is loaded by name: `load_node(ctx, id, EXPERIMENT)` is an `ExperimentRecord`, while the
value is the plain `"Experiment"` that global ids and the loaders use."""

from __future__ import annotations

from typing import Generic

from modelbox.server.store.artifacts import ArtifactRecord
from modelbox.server.store.experiments import CheckpointRecord, ExperimentRecord
from modelbox.server.store.models import ModelRecord
from modelbox.server.store.namespaces import NamespaceRecord
from modelbox.server.store.policies import PolicyRecord
from modelbox.server.store.repository import R
from modelbox.server.store.versions import VersionRecord


class Kind(str, Generic[R]):
    """A node type's name; its parameter is the record type its loader hands up."""


EXPERIMENT: Kind[ExperimentRecord] = Kind("Experiment")
CHECKPOINT: Kind[CheckpointRecord] = Kind("Checkpoint")
MODEL: Kind[ModelRecord] = Kind("Model")
MODEL_VERSION: Kind[VersionRecord] = Kind("ModelVersion")
ARTIFACT: Kind[ArtifactRecord] = Kind("Artifact")
NAMESPACE: Kind[NamespaceRecord] = Kind("Namespace")
POLICY: Kind[PolicyRecord] = Kind("Policy")
