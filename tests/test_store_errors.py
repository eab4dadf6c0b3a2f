"""The store's boundary: driver errors leave it as the project's errors (store/faults.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pymongo.errors import DuplicateKeyError, OperationFailure, PyMongoError

from modelbox.server.errors import Conflict, DatabaseError, DatabaseUnavailable
from modelbox.server.store.audit import AuditLog
from modelbox.server.store.database import Database
from modelbox.server.store.faults import boundary
from modelbox.server.store.namespaces import Namespaces


async def test_an_unreachable_database_is_database_unavailable() -> None:
    # Nothing listens on port 1; the driver gives up after the selection timeout.
    database = Database("mongodb://127.0.0.1:1", "none", server_selection_timeout_ms=200)
    namespaces = Namespaces(database, AuditLog(database))
    try:
        with pytest.raises(DatabaseUnavailable) as raised:
            await namespaces.get_by_names(["vision"])
        assert isinstance(raised.value.__cause__, PyMongoError)
        assert raised.value.extensions["code"] == "DATABASE_UNAVAILABLE"
    finally:
        await database.close()


@boundary
class Nested:
    """Calls between store methods see driver errors; only the outermost translates."""

    async def inner(self, error: PyMongoError) -> None:
        raise error

    async def outer(self, error: PyMongoError) -> str:
        try:
            await self.inner(error)
        except PyMongoError as raw:
            return type(raw).__name__
        return "nothing raised"

    async def rows(self) -> AsyncIterator[int]:
        yield 1
        raise OperationFailure("broken", code=2)


async def test_only_the_outermost_store_call_translates() -> None:
    nested = Nested()
    assert await nested.outer(OperationFailure("x", code=2)) == "OperationFailure"
    with pytest.raises(DatabaseError) as raised:
        await nested.inner(OperationFailure("x", code=2))
    assert raised.value.extensions == {"code": "INTERNAL_SERVER_ERROR"}
    with pytest.raises(Conflict):
        await nested.inner(DuplicateKeyError("E11000 duplicate key"))
    with pytest.raises(DatabaseError):
        [row async for row in nested.rows()]
