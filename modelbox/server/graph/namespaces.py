"""Namespaces in the graph: the `Namespace` root of models, experiments and the audit trail.

Model and Experiment point back at their Namespace, so they are referred to lazily here
(`strawberry.lazy`) and converted through the node registry: imports go one way only.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from modelbox.server.graph.audit import AuditEvent
from modelbox.server.graph.events import events_field
from modelbox.server.graph.inputs import AuditEventFilter, ExperimentFilter, ModelFilter
from modelbox.server.graph.policies import policies_field
from modelbox.server.graph.relay import Info, Node, connection_field, node_type, to_node
from modelbox.server.graph.search import ExperimentOrder, QueryText
from modelbox.server.resolvers import audit, namespaces, search
from modelbox.server.resolvers.ids import to_global_id
from modelbox.server.resolvers.kinds import NAMESPACE
from modelbox.server.resolvers.nodes import owner
from modelbox.server.store.namespaces import NamespaceRecord

if TYPE_CHECKING:
    from modelbox.server.graph.experiments import Experiment
    from modelbox.server.graph.models import Model

LazyModel = Annotated["Model", strawberry.lazy("modelbox.server.graph.models")]
LazyExperiment = Annotated["Experiment", strawberry.lazy("modelbox.server.graph.experiments")]


@node_type
@strawberry.federation.type(keys=["name"])
class Namespace(Node):
    record: strawberry.Private[NamespaceRecord]
    name: str
    created_at: datetime

    events = events_field(namespace=True)

    policies = policies_field("namespace")

    @classmethod
    def from_record(cls, record: NamespaceRecord) -> Namespace:
        return cls(
            id=to_global_id("Namespace", record["name"]),
            record=record,
            name=record["name"],
            created_at=record["created_at"],
        )

    @classmethod
    async def resolve_reference(cls, info: Info, name: str) -> Namespace | None:
        record = await namespaces.namespace(info.context, name)
        return cls.from_record(record) if record else None

    models = connection_field(LazyModel, namespaces.models_in, filter=ModelFilter | None)

    @strawberry.field
    async def model(self, info: Info, name: str) -> LazyModel | None:
        record = await namespaces.model_named(info.context, self.record, name)
        return to_node("Model", record) if record else None

    experiments = connection_field(
        LazyExperiment,
        search.experiments_listing,
        slim=True,
        filter=ExperimentFilter | None,
        order_by=list[ExperimentOrder] | None,
        query=QueryText,
    )

    @strawberry.field
    async def experiment(self, info: Info, name: str) -> LazyExperiment | None:
        record = await namespaces.experiment_named(info.context, self.record, name)
        return to_node("Experiment", record) if record else None

    audit_events = connection_field(
        AuditEvent,
        audit.audit_events,
        description="Who changed what in this namespace, newest first (ADMIN only).",
        filter=AuditEventFilter | None,
    )


async def namespace_of(info: Info, name: str) -> Namespace:
    """The namespace of an object read with it (through the authorizing loader)."""
    return Namespace.from_record(await owner(info.context, NAMESPACE, name))
