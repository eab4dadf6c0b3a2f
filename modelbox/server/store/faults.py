"""The one place driver errors become the project's errors (`modelbox/server/errors.py`).

The store's public coroutines (`boundary`, applied to each repository in `store/__init__`)
raise no driver error: a unique index refusing a write is `Conflict`, a database that is
down, restarting or electing a primary is `DatabaseUnavailable` (DATABASE_UNAVAILABLE),
anything else `DatabaseError` (masked INTERNAL_SERVER_ERROR). Inside the store, calls between
repositories still see the driver's errors: transactions retry on their labels.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure, PyMongoError

from modelbox.server.errors import Conflict, DatabaseError, DatabaseUnavailable, ModelBoxError
from modelbox.server.store.indexes import conflict_message

log = logging.getLogger(__name__)
C = TypeVar("C", bound=type)
# True while a store method runs: the store's own calls between repositories are not the
# boundary, and must see the driver's errors.
_inside = ContextVar("inside_store", default=False)

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


def translated(error: PyMongoError) -> ModelBoxError:
    """The project's error for a driver error."""
    if isinstance(error, DuplicateKeyError):
        return Conflict(conflict_message(error))
    if unavailable(error) or error.has_error_label("TransientTransactionError"):
        # Down or restarting, or a write conflict that outlasted the transaction retries (the
        # transactions of a killed server hold their documents until they expire, a minute on
        # MongoDB): the client retries, nothing here is a bug.
        log.warning("the database is unavailable: %r", error)
        return DatabaseUnavailable()
    return DatabaseError(f"database error: {type(error).__name__}")


def _coroutine(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def guarded(*args: Any, **kwargs: Any) -> Any:
        if _inside.get():
            return await method(*args, **kwargs)
        entered = _inside.set(True)
        try:
            return await method(*args, **kwargs)
        except PyMongoError as error:
            raise translated(error) from error
        finally:
            _inside.reset(entered)

    return guarded


def _generator(method: Callable[..., AsyncIterator[Any]]) -> Callable[..., Any]:
    # A generator runs in its consumer's context between items, so it sets no flag.
    @functools.wraps(method)
    async def guarded(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        try:
            async for item in method(*args, **kwargs):
                yield item
        except PyMongoError as error:
            raise translated(error) from error

    return guarded


def boundary(cls: C) -> C:
    """Make `cls`'s public coroutines and async generators (inherited ones included) raise
    the project's errors instead of the driver's."""
    for name in dir(cls):
        method = getattr(cls, name)
        if name.startswith("_") or getattr(method, "__wrapped__", None) is not None:
            continue
        if inspect.iscoroutinefunction(method):
            setattr(cls, name, _coroutine(method))
        elif inspect.isasyncgenfunction(method):
            setattr(cls, name, _generator(method))
    return cls
