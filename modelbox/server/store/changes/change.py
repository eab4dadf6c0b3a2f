"""`Change`: one write as the change stream reported it, one object for all its subscribers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from modelbox.server.store.records import Record, to_record


@dataclass(eq=False)
class Change:
    """One write, as the change stream reported it; one object for all its subscribers."""

    collection: str
    operation: str  # insert, update, replace or delete
    document_id: str
    # The whole document after the change; None for a delete, and for an update whose
    # document was deleted before the stream looked it up.
    document: Record | None
    at: datetime
    # The top-level fields an update set or removed (empty for other operations).
    updated: frozenset[str] = frozenset()
    # The change event's size in BSON: what it costs a queue to hold it.
    size: int = 0
    # What subscribers derive from the change, worked out once for all of them.
    memo: dict[Any, Any] = field(default_factory=dict, repr=False)
    # How many queues hold it (held_bytes counts it once while any does).
    holders: int = field(default=0, repr=False)

    @staticmethod
    def of(event: Mapping[str, Any], size: int = 0) -> Change:
        full = event.get("fullDocument")
        return Change(
            collection=event["ns"]["coll"],
            operation=event["operationType"],
            document_id=str(event["documentKey"]["_id"]),
            document=to_record(full) if full is not None else None,
            at=event.get("wallTime") or datetime.now(UTC),
            updated=frozenset(
                path.split(".", 1)[0]
                for part in ("updatedFields", "removedFields")
                for path in (event.get("updateDescription") or {}).get(part, ())
            ),
            size=size,
        )
