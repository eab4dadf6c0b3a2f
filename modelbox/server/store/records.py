"""What repositories hand upwards: plain dicts with string ids, no BSON types.

Stored documents use `_id` and ObjectId references; callers above the store see
`id` and hex strings, so nothing MongoDB-shaped leaks out of this package.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NotRequired, TypedDict

from bson import ObjectId
from bson.errors import InvalidId

from modelbox.server.store.keys import from_stored

# A record of no particular kind; a domain's records have a TypedDict of their own
# (`ExperimentRecord`...), so that readers above the store are checked by name.
Record = Mapping[str, Any]


class LabelRecord(TypedDict):
    key: str
    value: str


class DatasetRecord(TypedDict):
    name: str
    uri: NotRequired[str | None]
    digest: NotRequired[str | None]
    role: NotRequired[str | None]


class MetricValueRecord(TypedDict):
    """A key/value metric of a checkpoint or a version, on a dataset if one is named."""

    key: str
    value: float
    dataset: NotRequired[str | None]


def object_id(value: str | ObjectId) -> ObjectId | None:
    """The ObjectId for a public id, or None when the id cannot be one."""
    if isinstance(value, ObjectId):
        return value
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


def object_ids(values: list[str]) -> list[ObjectId]:
    return [oid for oid in map(object_id, values) if oid is not None]


def to_record(document: dict[str, Any]) -> Record:
    """A stored document as callers see it: `id`, hex ids, user maps' keys decoded."""
    record: dict[str, Any] = {}
    for key, value in from_stored(document).items():
        if key == "_id":
            key = "id"
        record[key] = str(value) if isinstance(value, ObjectId) else value
    return record


def now() -> datetime:
    # MongoDB keeps milliseconds; trimming here keeps what we return equal to what we stored.
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
