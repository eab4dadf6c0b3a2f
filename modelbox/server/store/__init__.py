"""The store: everything that talks to MongoDB, and nothing that knows about GraphQL."""

from __future__ import annotations

from collections.abc import Sequence

from pymongo.monitoring import CommandListener

from modelbox.server.store.artifacts import Artifacts
from modelbox.server.store.audit import AuditAction, AuditLog
from modelbox.server.store.changes import Change, ChangeFeed, ConnectionLoss
from modelbox.server.store.database import Database
from modelbox.server.store.events import Events
from modelbox.server.store.experiments import Checkpoints, Experiments
from modelbox.server.store.faults import boundary
from modelbox.server.store.metrics import Metrics
from modelbox.server.store.models import Models
from modelbox.server.store.namespaces import Namespaces
from modelbox.server.store.paging import Page
from modelbox.server.store.policies import Policies, PolicyActions, PolicyEvaluations, PolicyLeases
from modelbox.server.store.records import Record
from modelbox.server.store.search_backfill import backfill
from modelbox.server.store.search_index import SearchIndex
from modelbox.server.store.tokens import ApiTokens
from modelbox.server.store.uploads import DEFAULT_LEASE_SECONDS
from modelbox.server.store.versions import ModelVersions

# The store's boundary: what these raise is the project's errors, never the driver's.
for repository in (
    ApiTokens,
    Artifacts,
    AuditLog,
    Checkpoints,
    Events,
    Experiments,
    Metrics,
    Models,
    ModelVersions,
    Namespaces,
    Policies,
    PolicyActions,
    PolicyEvaluations,
    PolicyLeases,
):
    boundary(repository)


class Store:
    """The repositories of one database, sharing one client."""

    def __init__(
        self,
        uri: str,
        database: str,
        event_listeners: Sequence[CommandListener] = (),
        *,
        upload_lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        # The change feed learns from the driver when connections were lost.
        connection_loss = ConnectionLoss()
        self.database = Database(uri, database, event_listeners=[*event_listeners, connection_loss])
        self.audit = AuditLog(self.database)
        self.namespaces = Namespaces(self.database, self.audit)
        self.models = Models(self.database, self.audit, self.namespaces)
        self.versions = ModelVersions(self.database, self.audit, self.models)
        self.search_index = SearchIndex(self.database, connection_loss)
        self.experiments = Experiments(
            self.database, self.audit, self.namespaces, self.search_index
        )
        self.checkpoints = Checkpoints(self.database, self.audit)
        self.tokens = ApiTokens(self.database, self.audit)
        # Everything that hangs off a deleted object goes in the transaction deleting it,
        # each audited as its own repository audits deletes.
        self.models.on_delete.append(self.versions.children_of("model_id"))
        self.experiments.on_delete.append(self.checkpoints.children_of("experiment_id"))
        self.metrics = Metrics(self.database)
        # An experiment's or a version's metric points go in the transaction that deletes it.
        self.experiments.on_delete.append(self.metrics.delete_subjects)
        self.versions.on_delete.append(self.metrics.delete_subjects)
        self.changes = ChangeFeed(self.database, connection_loss=connection_loss)
        self.artifacts = Artifacts(self.database, self.audit, upload_lease_seconds)
        # Artifacts (and their bytes) go in the transaction that deletes what they are of.
        for subjects in (self.models, self.versions, self.experiments, self.checkpoints):
            subjects.on_delete.append(self.artifacts.delete_subjects)
        self.events = Events(self.database, self.audit)
        for subjects in (self.models, self.versions, self.experiments, self.checkpoints):
            subjects.on_delete.append(self.events.delete_subjects)
        self.policies = Policies(self.database, self.audit, self.namespaces)
        self.policy_evaluations = PolicyEvaluations(self.database, self.audit)
        self.policy_leases = PolicyLeases(self.database)
        self.policy_actions = PolicyActions(self.policy_evaluations, self.versions, self.artifacts)
        # A policy goes with the model or experiment it is about; its records go with it.
        for field in ("model_id", "target_model_id"):
            self.models.on_delete.append(self.policies.children_of(field))
        self.experiments.on_delete.append(self.policies.children_of("experiment_id"))
        self.policies.on_delete.append(self.policy_evaluations.delete_of_policies)
        self.policies.on_delete.append(self.policy_leases.delete_of_policies)

    async def open(self, cursor_secret: str | None = None) -> None:
        await self.database.ensure_indexes()
        await self.database.open_cursors(cursor_secret)
        await backfill(self.database, self.experiments.values)

    async def close(self) -> None:
        await self.changes.close()
        await self.search_index.close()
        await self.database.close()


# Callers above the store may pass `CommandListener`s to watch its commands without
# importing the driver; its errors are `modelbox.server.errors`'s (see faults.py).
__all__ = ["AuditAction", "Change", "ChangeFeed", "CommandListener", "Page", "Record", "Store"]
