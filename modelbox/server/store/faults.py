"""Which driver errors mean "the database is not there just now", and what the client hears.

The one mapping from the driver's errors to `DatabaseUnavailable` (DATABASE_UNAVAILABLE):
the GraphQL error codes, the artifact routes and token checks all ask here, so a database
that is down, restarting or electing a primary answers the same everywhere.
"""

from __future__ import annotations

from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from modelbox.server.errors import DatabaseUnavailable

# Server codes meaning "not now, elsewhere or later": shutting down, not (or no longer) the
# primary, a host unreachable during an election. MongoDB's own retryable-error list.
UNAVAILABLE_CODES = frozenset(
    {6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 50, 64}
)


def unavailable(error: BaseException) -> bool:
    """Whether `error` says the database could not be reached or could not serve, for now."""
    if isinstance(error, ConnectionFailure):
        # Network errors, timeouts, and no server selectable within serverSelectionTimeoutMS.
        return True
    if isinstance(error, OperationFailure) and error.code in UNAVAILABLE_CODES:
        return True
    return isinstance(error, PyMongoError) and error.has_error_label("RetryableWriteError")


def client_error(error: BaseException) -> DatabaseUnavailable | None:
    """The error to show a client for a driver error, if it is one it should retry."""
    return DatabaseUnavailable() if unavailable(error) else None
