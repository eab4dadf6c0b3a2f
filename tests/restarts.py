"""A database of the test's own, on a fixed port and data directory, to kill and restart."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from modelbox.server.embedded import EmbeddedDatabase


@asynccontextmanager
async def own_database(data_dir: Path) -> AsyncIterator[EmbeddedDatabase]:
    database = await asyncio.to_thread(EmbeddedDatabase(data_dir).start)
    try:
        yield database
    finally:
        await asyncio.to_thread(database.stop)


async def kill_and_restart(database: EmbeddedDatabase, down: float = 0.0) -> None:
    """kill -9 the database, then start it again on the same port and data."""
    pid = database.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await asyncio.to_thread(os.waitpid, pid, 0)
    await asyncio.sleep(down)
    await asyncio.to_thread(database.start)
