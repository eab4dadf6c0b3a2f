"""The root Query."""

from __future__ import annotations

import asyncio

import strawberry

from modelbox.server.graph.audit import AuditEvent
from modelbox.server.graph.compare import MetricSeriesOf, compare_metrics
from modelbox.server.graph.experiments import Experiment
from modelbox.server.graph.inputs import AuditEventFilter, ExperimentFilter
from modelbox.server.graph.namespaces import Namespace
from modelbox.server.graph.relay import Info, Node, connection_field, to_node
from modelbox.server.graph.search import ExperimentOrder, QueryText
from modelbox.server.graph.tokens import ApiToken, Principal
from modelbox.server.resolvers import audit, namespaces, nodes, search, tokens


async def _node(info: Info, id: str) -> Node | None:
    found = await nodes.node(info.context, id)
    if found is None:
        return None
    type_name, record = found
    return to_node(type_name, record)


@strawberry.type
class Query:
    @strawberry.field(description="Any object by its global id; null if it is not yours to read.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await _node(info, id)

    @strawberry.field
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        # Gathered, so the loaders batch all the ids into one query per type.
        return list(await asyncio.gather(*(_node(info, id) for id in ids)))

    @strawberry.field
    async def namespace(self, info: Info, name: str) -> Namespace | None:
        record = await namespaces.namespace(info.context, name)
        return Namespace.from_record(record) if record else None

    namespaces = connection_field(
        Namespace,
        namespaces.namespaces,
        parent=None,
        description="The namespaces the caller holds a role in.",
    )

    experiments = connection_field(
        Experiment,
        search.experiments_listing,
        slim=True,
        parent=lambda root: None,
        description="Experiments of every namespace the caller reads, filtered and sorted as"
        " `Namespace.experiments`.",
        filter=ExperimentFilter | None,
        order_by=list[ExperimentOrder] | None,
        query=QueryText,
    )

    @strawberry.field(
        description="The series `keys` of many experiments or versions (VIEWER of each), for"
        " one chart: `downsampled(maxPoints)` on them is read for all subjects at once. Series"
        " a subject lacks are left out; at most 100 subjects and 20 keys."
    )
    async def compare_metrics(
        self, info: Info, subject_ids: list[strawberry.ID], keys: list[str], max_points: int
    ) -> list[MetricSeriesOf]:
        return await compare_metrics(info, subject_ids, keys, max_points)

    @strawberry.field
    async def viewer(self, info: Info) -> Principal:
        return Principal.from_record(await tokens.viewer(info.context))

    api_tokens = connection_field(
        ApiToken,
        tokens.api_tokens,
        parent=None,
        description="API tokens, newest first (ADMIN: of every namespace each names): name,"
        " roles, when created, expiring and last used; never the secret.",
        include_revoked=bool | None,
    )

    audit_events = connection_field(
        AuditEvent,
        audit.all_audit_events,
        parent=None,
        description="The whole audit trail, newest first, tokens for all namespaces included "
        '(ADMIN of "*" only; namespace admins read `Namespace.auditEvents`).',
        filter=AuditEventFilter | None,
    )
