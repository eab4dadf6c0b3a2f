"""Events: logged in batches on a subject, read as timelines of a subject or a namespace."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from modelbox.server.access import Role
from modelbox.server.errors import BadUserInput
from modelbox.server.resolvers import validation
from modelbox.server.resolvers.context import Context
from modelbox.server.resolvers.idempotency import events_request, named_key
from modelbox.server.resolvers.listing import Listing, children
from modelbox.server.resolvers.live import Shared, watch_shared
from modelbox.server.resolvers.permissions import load_typed, require
from modelbox.server.store import Change, Record
from modelbox.server.store.events import EARLIEST, LATEST, EventRecord, event_record, utc
from modelbox.server.store.records import now

SUBJECT_TYPES = ("Experiment", "Checkpoint", "Model", "ModelVersion")


async def subject(ctx: Context, global_id: str, role: Role, field: str = "subjectId") -> Record:
    """The Experiment, Checkpoint, Model or ModelVersion behind `global_id`, as `role`.

    Its type is kept in the record as `type`.
    """
    type_name, record = await load_typed(ctx, global_id, *SUBJECT_TYPES, role=role, field=field)
    return {**record, "type": type_name}


def _clean(ctx: Context, index: int, event: dict[str, Any]) -> dict[str, Any]:
    field = f"events[{index}]"
    validation.object_name(event["name"], f"{field}.name")
    validation.text(event.get("source"), f"{field}.source", validation.MAX_SHORT_TEXT)
    limit = ctx.settings.max_event_payload_bytes
    validation.json_value(
        event.get("payload"), f"{field}.payload", limit, "max_event_payload_bytes"
    )
    wallclock = utc(event["wallclock"]) if event.get("wallclock") is not None else now()
    if not EARLIEST <= wallclock < LATEST:
        raise BadUserInput(
            f"{field}.wallclock: must be between {EARLIEST:%Y} and {LATEST:%Y}",
            field=f"{field}.wallclock",
        )
    return {**event, "wallclock": wallclock}


async def log_events(
    ctx: Context, subject_id: str, events: list[dict[str, Any]], idempotency_key: str | None
) -> list[EventRecord]:
    """Check every event first: a batch with one bad event stores none."""
    target = await subject(ctx, subject_id, Role.WRITER)
    validation.idempotency_key(idempotency_key)
    limit = ctx.settings.max_events_per_request
    if not events:
        raise BadUserInput("events: give at least one event", field="events")
    if len(events) > limit:
        raise BadUserInput(
            f"events: {len(events)} events, over the limit of {limit} per request "
            "(max_events_per_request)",
            field="events",
            limit=limit,
        )
    cleaned = [_clean(ctx, i, event) for i, event in enumerate(events)]
    request = events_request(idempotency_key, events)
    with named_key():
        return await ctx.store.events.log(target["type"], target, cleaned, request)


async def events_of(
    ctx: Context,
    parent_field: str,
    parent: str,
    first: int | None,
    after: str | None,
    filters: dict[str, Any],
) -> Listing:
    """Events of a subject (`subject_id`) or a namespace (`namespace`), in wallclock order."""
    for name in filters.get("names") or []:
        validation.text(name, "filter.names", validation.MAX_SHORT_TEXT)
    times = {key: utc(filters[key]) for key in ("since", "until") if filters.get(key)}
    query = ctx.store.events.query(**{**filters, **times})
    return await children(ctx, ctx.store.events, parent_field, parent, first, after, query)


async def live_events(
    ctx: Context,
    subject_id: str | None,
    namespace: str | None,
    names: list[str] | None,
    push: Callable[[Shared[EventRecord]], bool] | None = None,
) -> AsyncIterator[Shared[EventRecord]]:
    """Events as they are logged: of one subject, of one namespace, or all the caller may
    read; each one object for all its subscribers (`push`: see `watch_shared`)."""
    principal = ctx.principal
    subject_raw = (await subject(ctx, subject_id, Role.VIEWER))["id"] if subject_id else None
    if namespace is not None:
        validation.namespace_name(namespace)
        require(ctx, namespace, Role.VIEWER)
    wanted = frozenset(names or ())

    def match(change: Change) -> bool:
        event = change.document
        return (
            change.operation == "insert"
            and event is not None
            and (subject_raw is None or event["subject_id"] == subject_raw)
            and (namespace is None or event["namespace"] == namespace)
            and (not wanted or event["name"] in wanted)
            and principal.can(event["namespace"], Role.VIEWER)
        )

    collections = frozenset({ctx.store.events.collection_name})
    async for event in watch_shared(ctx, collections, match, event_record, push):
        yield event
