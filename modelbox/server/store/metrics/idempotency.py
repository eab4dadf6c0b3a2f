"""What aborts a request's transaction: a repeated idempotency key, or a key that holds
another kind of value; both are told apart by the unique index the write ran into.

The keys of logMetrics and logEvents requests are kept in one collection, unique per
subject, in the transaction of the request they stand for. A key belongs to the kind of
request that first used it (`metrics` or `events`) and to the digest of its batch: a key
sent again is a retry only when both match (keys stored before digests match any batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from modelbox.server.errors import KeyReused, SeriesKindClash
from modelbox.server.store.database import Document
from modelbox.server.store.metrics.columns import SeriesPoints

DUPLICATE_KEY = 11000
SERIES_INDEX = "subject_key_unique"
REQUEST_INDEX = "subject_request_unique"
REQUESTS = "metric_requests"
METRICS = "metrics"
EVENTS = "events"


@dataclass(frozen=True)
class Request:
    """A request's idempotency key and the digest of the batch it was sent with."""

    key: str
    digest: str

    def document(self, subject: ObjectId, kind: str, stamp: datetime, **answer: Any) -> Document:
        """The key as stored in its request's transaction, with what it answers a retry."""
        return {
            "subject_id": subject,
            "idempotency_key": self.key,
            "kind": kind,
            "digest": self.digest,
            "created_at": stamp,
            **answer,
        }


async def first_request(
    requests: AsyncCollection[Document], subject: ObjectId, request: Request, kind: str
) -> Document:
    """The stored request that `request` repeats (empty if it just expired); `KeyReused`
    when the key was first used by another kind of request or with another batch."""
    stored = await requests.find_one({"subject_id": subject, "idempotency_key": request.key})
    if stored is None:
        return {}
    # Keys stored before kinds were: an events request's key holds the ids it stored.
    held = stored.get("kind") or (EVENTS if "events" in stored else METRICS)
    if held != kind:
        raise KeyReused(f"this key was first used to log {held}, not {kind}")
    if stored.get("digest", request.digest) != request.digest:
        raise KeyReused("this key was first sent with another batch; use a new key")
    return stored


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
