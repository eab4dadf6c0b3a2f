"""The root Subscription: live views fed by the process's change stream."""

from __future__ import annotations

import enum
from collections.abc import AsyncGenerator
from datetime import datetime
from functools import partial

import strawberry

from modelbox.server.graph import metrics as metric_series
from modelbox.server.graph.audit import AuditEvent
from modelbox.server.graph.events import Event
from modelbox.server.graph.policies import PolicyEvaluation
from modelbox.server.graph.relay import Info, Node, to_node
from modelbox.server.graph.scalars import Long
from modelbox.server.graph.shared import live, shared_form
from modelbox.server.resolvers import audit, events, namespace_changes
from modelbox.server.resolvers.ids import to_global_id
from modelbox.server.resolvers.live import Shared
from modelbox.server.resolvers.policies import live as policy_live
from modelbox.server.store.audit import AuditRecord
from modelbox.server.store.events import EventRecord


@strawberry.enum
class ChangeType(enum.Enum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"


@strawberry.type(description="What is left of a deleted object: the id it had, and its type.")
class DeletedNode(Node):
    type: str


@strawberry.type
class ChangeEvent:
    type: ChangeType
    node: Node = strawberry.field(
        description="The object as it is now; for DELETED, a DeletedNode with the id it had."
    )
    at: datetime


def _change_event(change: namespace_changes.NamespaceChange) -> ChangeEvent:
    if change.record is None:
        global_id = to_global_id(change.object_type, change.object_id)
        node: Node = DeletedNode(id=strawberry.ID(global_id), type=change.object_type)
    else:
        node = to_node(change.object_type, change.record)
    return ChangeEvent(type=ChangeType(change.type), node=node, at=change.at)


# An event's subject is read with the subscriber's loaders and access: a selection naming
# it is executed for each subscriber (the subject still read once for all of them).
SUBJECT = frozenset({"subject"})


def _event(update: Shared[EventRecord]) -> Event:
    return shared_form(update.forms, Event, lambda: Event.from_record(update.value), SUBJECT)


def _audit_event(update: Shared[AuditRecord]) -> AuditEvent:
    return shared_form(update.forms, AuditEvent, lambda: AuditEvent.from_record(update.value))


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Points logged to a subject's series (all, or those of `keys`) as they"
        " arrive (VIEWER). With fromStep, the stored points from that step come first, then"
        " live ones, with no gap and no repeat."
    )
    async def metrics_logged(
        self,
        info: Info,
        subject_id: strawberry.ID,
        keys: list[str] | None = None,
        from_step: Long | None = None,
    ) -> AsyncGenerator[metric_series.MetricUpdate, None]:
        async for update in metric_series.metrics_logged(info, subject_id, keys, from_step):
            yield update

    @strawberry.subscription(
        description="Events as they are logged: on one subject, in one namespace, or wherever"
        " the token may read (VIEWER); only those named in `names`, if given."
    )
    async def events(
        self,
        info: Info,
        subject_id: strawberry.ID | None = None,
        namespace: str | None = None,
        names: list[str] | None = None,
    ) -> AsyncGenerator[Event, None]:
        logged = partial(events.live_events, info.context, subject_id, namespace, names)
        async for event in live(logged, _event):
            yield event

    @strawberry.subscription(
        description="Audit events as they are written: of a namespace, or of every namespace"
        " the token administers (ADMIN)."
    )
    async def audit_events(
        self, info: Info, namespace: str | None = None
    ) -> AsyncGenerator[AuditEvent, None]:
        written = partial(audit.live_audit_events, info.context, namespace)
        async for event in live(written, _audit_event):
            yield event

    @strawberry.subscription(
        description="Models, versions, experiments, checkpoints and artifacts of a namespace "
        "as they are created, updated and deleted (VIEWER)."
    )
    async def namespace_changes(
        self, info: Info, namespace: str
    ) -> AsyncGenerator[ChangeEvent, None]:
        async for change in namespace_changes.namespace_changes(info.context, namespace):
            yield _change_event(change)

    @strawberry.subscription(
        description="Each decision of the namespace's policies as it is recorded (VIEWER)."
    )
    async def policy_evaluations(
        self, info: Info, namespace: str
    ) -> AsyncGenerator[PolicyEvaluation, None]:
        async for record in policy_live.policy_evaluations(info.context, namespace):
            yield PolicyEvaluation.from_record(record)
