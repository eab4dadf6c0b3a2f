"""Events: the `Event` node, `logEvents`'s input, and the `events` connections' filter.

Each subject and Namespace get an `events` field with `events_field`; this module finds
an event's subject through the node registry instead of importing their modules back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from modelbox.server.graph.inputs import plain
from modelbox.server.graph.relay import (
    Info,
    Node,
    connection_field,
    from_fields,
    node_type,
    to_node,
)
from modelbox.server.resolvers import events
from modelbox.server.resolvers.nodes import owner
from modelbox.server.store.events import EventRecord


@strawberry.input
class EventInput:
    name: str
    source: str | None = None
    wallclock: datetime | None = strawberry.field(default=None, description="Default: now.")
    payload: JSON | None = None


@strawberry.input
class LogEventsInput:
    subject_id: strawberry.ID = strawberry.field(
        description="An Experiment, Checkpoint, Model or ModelVersion."
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="The same key sent again with the same events logs nothing more and"
        " answers the events the first request logged; with other events, or a logMetrics"
        " key of the subject, it is refused (CONFLICT). Keys are per subject and kept a week.",
    )
    events: list[EventInput]


@strawberry.input
class EventFilter:
    names: list[str] | None = strawberry.UNSET
    source: str | None = strawberry.UNSET
    since: datetime | None = strawberry.field(default=strawberry.UNSET, description="Inclusive.")
    until: datetime | None = strawberry.field(default=strawberry.UNSET, description="Exclusive.")


@node_type
@strawberry.type(description="Something an external system reported about a subject.")
class Event(Node):
    record: strawberry.Private[EventRecord]
    name: str
    source: str | None
    wallclock: datetime
    payload: JSON | None
    since_previous: float | None = strawberry.field(
        description="Seconds since the previous event of the same subject; null for its first."
    )
    since_previous_same_name: float | None = strawberry.field(
        description="Seconds since the previous event of the same subject and name "
        "(an epoch's duration, whatever came between); null for the first of its name."
    )
    created_at: datetime

    @classmethod
    def from_record(cls, r: EventRecord) -> Event:
        return from_fields(cls, r, since_previous_same_name=r.get("since_previous_same"))

    @strawberry.field(description="The Experiment, Checkpoint, Model or ModelVersion.")
    async def subject(self, info: Info) -> Node:
        r = self.record
        subject = await owner(info.context, r["subject_type"], r["subject_id"])
        return to_node(r["subject_type"], subject)


def events_field(namespace: bool = False) -> Any:
    """The `events(first, after, filter)` timeline of a subject, or of a whole namespace."""
    parent_field, key = ("namespace", "name") if namespace else ("subject_id", "id")
    return connection_field(
        Event,
        lambda ctx, record, first, after, filter: events.events_of(
            ctx, parent_field, record[key], first, after, filter or {}
        ),
        description="Events reported about this, in wallclock order.",
        filter=EventFilter | None,
    )


async def log_events(info: Info, input: LogEventsInput) -> list[Event]:
    fields = plain(input)
    records = await events.log_events(
        info.context, fields["subject_id"], fields["events"], fields["idempotency_key"]
    )
    return [Event.from_record(record) for record in records]
