"""The errors ModelBox reports to clients, drawn in one place.

Every layer raises these; the GraphQL layer turns them into errors whose
`extensions.code` is the class's `code`, and the HTTP routes into statuses.
Anything else that escapes a resolver is a bug: it is logged and masked.
"""

from __future__ import annotations

from typing import Any


class ModelBoxError(Exception):
    code = "INTERNAL_SERVER_ERROR"
    http_status = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    @property
    def extensions(self) -> dict[str, Any]:
        # graphql-core copies an original error's `extensions` onto the GraphQLError.
        return {"code": self.code, **self.details}


class DatabaseError(ModelBoxError):
    """The database failed in a way that is neither the caller's doing nor an outage: a bug
    or a broken database. Answered INTERNAL_SERVER_ERROR with its message masked, and logged
    with the driver's error as its cause. The store raises it (and its subclasses) for every
    driver error that leaves it (`store/faults.py`)."""


class DatabaseUnavailable(DatabaseError):
    """The database cannot be reached just now (down, restarting, failing over).

    Nothing was changed by the request, or (a write whose commit was under way) it is
    unknown whether it was: retrying it is safe where it is idempotent, which is why
    `logMetrics` takes an `idempotencyKey`. The same code on GraphQL and on the artifact
    routes (503 with `Retry-After`).
    """

    code = "DATABASE_UNAVAILABLE"
    http_status = 503
    # Seconds a client should wait before retrying (the `Retry-After` of HTTP answers).
    retry_after = 1

    def __init__(self) -> None:
        super().__init__(
            "the database is unavailable; retry shortly",
            retryable=True,
            retryAfter=self.retry_after,
        )


class BadUserInput(ModelBoxError):
    code = "BAD_USER_INPUT"
    http_status = 400


class InvalidCursor(BadUserInput):
    """A cursor the list did not hand out (forged, altered, or another list's). Raised by the
    store, which knows no argument names; the connection field names its `after`."""


class Unsearchable(BadUserInput):
    """A search names what this kind of object cannot be searched by (an unknown attribute,
    hyperparameters of versions, a metric's dataset on experiments). Raised by the store;
    the search resolver names the argument (filter, query, orderBy) that asked for it."""


class SeriesKindClash(BadUserInput):
    """Values of one kind logged to a metric series that holds another. Raised by the store;
    `logMetrics` names its `series.key`."""

    def __init__(self, key: str, held: str, given: str) -> None:
        super().__init__(f"{key!r} holds {held} values; it cannot take {given} values")


class DigestMismatch(BadUserInput):
    """Uploaded bytes that do not hash to the sha256 the artifact declared. Raised by the
    store with the digest `received`; the upload names the artifact's `sha256`."""

    def __init__(self, declared: str, received: str) -> None:
        super().__init__(
            f"the bytes received hash to {received}, not the declared {declared}",
            received=received,
        )
        self.received = received


class NotFound(ModelBoxError):
    code = "NOT_FOUND"
    http_status = 404


class Conflict(ModelBoxError):
    code = "CONFLICT"
    http_status = 409


class KeyReused(Conflict):
    """An idempotency key sent again with another batch, or by another kind of request:
    not a retry, so nothing is stored. Raised by the store; the mutation names its key."""


class Unauthenticated(ModelBoxError):
    code = "UNAUTHENTICATED"
    http_status = 401


class Forbidden(ModelBoxError):
    code = "FORBIDDEN"
    http_status = 403


class PayloadTooLarge(ModelBoxError):
    code = "PAYLOAD_TOO_LARGE"
    http_status = 413


class RequestTimeout(ModelBoxError):
    """A request head or body that did not arrive in time (a slow or stalled client)."""

    code = "REQUEST_TIMEOUT"
    http_status = 408


class SubscriberTooSlow(ModelBoxError):
    """A subscription whose client fell further behind than its queue holds: it is closed."""

    code = "SUBSCRIBER_TOO_SLOW"
    http_status = 503


class LiveUpdatesInterrupted(ModelBoxError):
    """The database's change stream broke and could not be resumed: subscribe again."""

    code = "LIVE_UPDATES_INTERRUPTED"
    http_status = 503


__all__ = [
    "BadUserInput",
    "Conflict",
    "DatabaseError",
    "DatabaseUnavailable",
    "DigestMismatch",
    "Forbidden",
    "InvalidCursor",
    "LiveUpdatesInterrupted",
    "ModelBoxError",
    "NotFound",
    "PayloadTooLarge",
    "SeriesKindClash",
    "SubscriberTooSlow",
    "Unauthenticated",
    "Unsearchable",
]
