"""Writing an upload's bytes in the GridFS layout (`fs.chunks`), as they arrive.

Not through `open_upload_stream`: PyMongo's GridIn holds up to 48 MB of chunks before each
insert (writing 128 MiB through it raised a process's peak RSS by ~190 MB) and stops
reading while it inserts; this writer keeps one small batch in flight while the next one
fills, so memory stays flat and the network and the database work side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection

from modelbox.server.store.database import Document

CHUNK_BYTES = 1024 * 1024
# Chunks per insert: one batch is written while the next one fills from the network.
BATCH_CHUNKS = 4


class ChunkWriter:
    """The chunks of one GridFS file, written in order with at most one batch in flight."""

    def __init__(self, chunks: AsyncCollection[Document], file_id: ObjectId) -> None:
        self.chunks = chunks
        self.file_id = file_id
        self.length = 0
        self._buffer = bytearray()
        self._batch: list[Document] = []
        self._count = 0
        self._in_flight: asyncio.Task[Any] | None = None

    async def write(self, data: bytes) -> None:
        self.length += len(data)
        self._buffer += data
        while len(self._buffer) >= CHUNK_BYTES:
            with memoryview(self._buffer) as view:
                chunk = bytes(view[:CHUNK_BYTES])
            del self._buffer[:CHUNK_BYTES]
            await self._add(chunk)

    async def finish(self) -> None:
        """Write what is left; every chunk is stored when this returns."""
        if self._buffer:
            await self._add(bytes(self._buffer))
            self._buffer.clear()
        if self._batch:
            await self._send()
        if self._in_flight is not None:
            await self._in_flight

    async def settle(self) -> None:
        """Wait for the write in flight, if any, so that nothing lands after a cleanup."""
        if self._in_flight is not None:
            with contextlib.suppress(Exception):
                await self._in_flight

    async def _add(self, chunk: bytes) -> None:
        self._batch.append({"files_id": self.file_id, "n": self._count, "data": chunk})
        self._count += 1
        if len(self._batch) >= BATCH_CHUNKS:
            await self._send()

    async def _send(self) -> None:
        if self._in_flight is not None:
            await self._in_flight
        batch, self._batch = self._batch, []
        self._in_flight = asyncio.ensure_future(self.chunks.insert_many(batch))
