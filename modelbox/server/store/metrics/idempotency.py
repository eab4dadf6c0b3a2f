"""What aborts a request's transaction: a repeated idempotency key, or a key that holds
another kind of value; both are told apart by the unique index the write ran into.

The keys of logMetrics and logEvents requests are kept in one collection, unique per
subject, in the transaction of the request they stand for."""

from __future__ import annotations

from collections.abc import Sequence

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from modelbox.server.errors import SeriesKindClash
from modelbox.server.store.database import Document
from modelbox.server.store.metrics.columns import SeriesPoints

DUPLICATE_KEY = 11000
SERIES_INDEX = "subject_key_unique"
REQUEST_INDEX = "subject_request_unique"
REQUESTS = "metric_requests"


def repeated_request(error: Exception) -> bool:
    """True when a write failed because its request's idempotency key was seen before."""
    return REQUEST_INDEX in (duplicate_index(error) or "")


def duplicate_index(error: Exception) -> str | None:
    """The name of the unique index a failed write ran into, if that is why it failed."""
    if isinstance(error, DuplicateKeyError):
        return str((error.details or {}).get("errmsg", ""))
    if isinstance(error, BulkWriteError):
        for write_error in error.details.get("writeErrors", []):
            if write_error.get("code") == DUPLICATE_KEY:
                return str(write_error.get("errmsg", ""))
    return None


async def kind_clash(
    summaries: AsyncCollection[Document], subject: ObjectId, series: Sequence[SeriesPoints]
) -> SeriesKindClash | None:
    """The error for a request that logs another kind of value to an existing series."""
    wanted = {s.key: s.kind for s in series}
    async for doc in summaries.find({"subject_id": subject, "key": {"$in": list(wanted)}}):
        if doc["kind"] != wanted[doc["key"]]:
            return SeriesKindClash(doc["key"], doc["kind"], wanted[doc["key"]])
    return None
