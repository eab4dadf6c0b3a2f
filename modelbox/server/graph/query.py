"""The root Query."""

from __future__ import annotations

import asyncio
from typing import Annotated

import strawberry

from modelbox.server.graph.audit import AuditEvent
from modelbox.server.graph.experiments import Experiment
from modelbox.server.graph.inputs import AuditEventFilter, ExperimentFilter, plain
from modelbox.server.graph.namespaces import Namespace
from modelbox.server.graph.relay import Connection, Info, Node, connection, to_node
from modelbox.server.graph.search import QUERY_DESCRIPTION, ExperimentOrder
from modelbox.server.graph.tokens import Principal
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

    @strawberry.field(description="The namespaces the caller holds a role in.")
    async def namespaces(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Namespace]:
        listing = await namespaces.namespaces(info.context, first, after)
        return connection(listing, Namespace.from_record)

    @strawberry.field(
        description="Experiments of every namespace the caller reads, filtered and sorted as"
        " `Namespace.experiments`."
    )
    async def experiments(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: ExperimentFilter | None = None,
        order_by: list[ExperimentOrder] | None = None,
        query: Annotated[str | None, strawberry.argument(description=QUERY_DESCRIPTION)] = None,
    ) -> Connection[Experiment]:
        listing = await search.experiments_listing(
            info.context, None, first, after, plain(filter), plain(order_by), query
        )
        return connection(listing, lambda r: to_node("Experiment", r))

    @strawberry.field
    async def viewer(self, info: Info) -> Principal:
        return Principal.from_record(await tokens.viewer(info.context))

    @strawberry.field(
        description="The whole audit trail, newest first, tokens for all namespaces included "
        '(ADMIN of "*" only; namespace admins read `Namespace.auditEvents`).'
    )
    async def audit_events(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: AuditEventFilter | None = None,
    ) -> Connection[AuditEvent]:
        listing = await audit.all_audit_events(info.context, first, after, plain(filter) or {})
        return connection(listing, AuditEvent.from_record)
