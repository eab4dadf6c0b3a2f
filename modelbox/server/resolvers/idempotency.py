"""Idempotency keys of logMetrics and logEvents: each request's key with the digest of
its batch as given (before defaults such as the server's time are filled in), so that a
retry matches its first sending and the same key with another batch does not (the key's
length is checked by `validation.idempotency_key`)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from modelbox.server.errors import Conflict, KeyReused
from modelbox.server.store.events import utc
from modelbox.server.store.metrics.columns import pack
from modelbox.server.store.metrics.idempotency import Request


def metrics_request(key: str | None, series: list[dict[str, Any]]) -> Request | None:
    """A logMetrics request's key and digest; the points go in packed, not as text, so
    a request of 100,000 points costs milliseconds to digest."""
    if key is None:
        return None
    digest = hashlib.sha256()
    for item in series:
        typed = (("q", item["steps"]), ("d", item.get("wallclocks")), ("d", item.get("values")))
        packed = [b"-" if c is None else pack(t, c) for t, c in typed]
        raw = item.get("bytes")
        packed.append(b"-" if raw is None else b"".join(_framed(value) for value in raw))
        head = [item["key"], item.get("tensors"), item.get("non_finite")]
        for part in (_canonical(head), *packed):
            digest.update(_framed(part))
    return Request(key, digest.hexdigest())


def events_request(key: str | None, events: list[dict[str, Any]]) -> Request | None:
    """A logEvents request's key and the digest of its events (payload keys in any order)."""
    if key is None:
        return None
    return Request(key, hashlib.sha256(_canonical(events)).hexdigest())


@contextmanager
def named_key() -> Iterator[None]:
    """Name the `idempotencyKey` argument in the error of a key that is not a retry."""
    try:
        yield
    except KeyReused as error:
        raise Conflict(f"idempotencyKey: {error.message}", field="idempotencyKey") from None


def _framed(part: bytes) -> bytes:
    # Each part after its length, so two batches never run together into the same bytes.
    return len(part).to_bytes(8, "big") + part


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_instant).encode()


def _instant(value: Any) -> str:
    """A time as the instant stored, whatever its offset."""
    if not isinstance(value, datetime):
        raise TypeError(f"{type(value).__name__} is not part of a batch")
    return utc(value).isoformat()
