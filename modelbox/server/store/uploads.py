"""Upload leases, and the bytes of uploads that died, deleted in the background.

An upload holds a lease on its PENDING artifact, a document of its own in `artifact_uploads`
(`{_id: artifact id, file_id, expires_at}`), so that the artifact itself only changes when
an upload completes. The lease is taken and released atomically: of two concurrent PUTs one
is refused. A running upload renews it as bytes arrive; an upload whose server was killed
leaves a lease that expires, and `sweep` (run by every API process every half lease)
deletes the chunks it wrote, whether or not anyone uploads to that artifact again.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from modelbox.server.errors import Conflict
from modelbox.server.store.database import Database, Session
from modelbox.server.store.records import now

log = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 60.0
TAKEN_OVER = "the upload was taken over or the artifact deleted while it ran"


class Uploads:
    """The leases of running uploads and the GridFS files they write into."""

    def __init__(
        self, database: Database, bucket: str, lease_seconds: float = DEFAULT_LEASE_SECONDS
    ) -> None:
        self.leases = database["artifact_uploads"]
        self.files = database[f"{bucket}.files"]
        self.chunks = database[f"{bucket}.chunks"]
        self.lease = timedelta(seconds=lease_seconds)
        # A running upload renews this often; one that stalls for a whole lease loses it.
        self.renew_seconds = lease_seconds / 4

    async def take(self, artifact_id: ObjectId) -> ObjectId:
        """A lease for a new file of `artifact_id`; CONFLICT while another upload holds one."""
        file_id = ObjectId()
        stamp = now()
        try:
            # Takes a free or expired lease; a live one makes the upsert's insert collide.
            before = await self.leases.find_one_and_update(
                {"_id": artifact_id, "expires_at": {"$lte": stamp}},
                {"$set": {"file_id": file_id, "expires_at": stamp + self.lease}},
                upsert=True,
                return_document=ReturnDocument.BEFORE,
            )
        except DuplicateKeyError:
            raise Conflict("another upload of this artifact is in progress") from None
        if before is not None:
            # A lease that expired belonged to an upload that died: delete what it left.
            await self.delete_files([before["file_id"]])
        return file_id

    async def renew(self, artifact_id: ObjectId, file_id: ObjectId) -> None:
        result = await self.leases.update_one(
            {"_id": artifact_id, "file_id": file_id},
            {"$set": {"expires_at": now() + self.lease}},
        )
        if result.matched_count == 0:
            raise Conflict(TAKEN_OVER)

    async def release(
        self, artifact_id: ObjectId, file_id: ObjectId, session: Session | None = None
    ) -> bool:
        """Give the lease up; False when it was no longer this upload's."""
        lease = {"_id": artifact_id, "file_id": file_id}
        return (await self.leases.delete_one(lease, session=session)).deleted_count == 1

    async def delete_files(self, file_ids: list[ObjectId], session: Session | None = None) -> None:
        if file_ids:
            await self.chunks.delete_many({"files_id": {"$in": file_ids}}, session=session)
            await self.files.delete_many({"_id": {"$in": file_ids}}, session=session)

    async def drop(self, artifact_ids: list[ObjectId], session: Session) -> list[ObjectId]:
        """The leases of deleted artifacts go; the files they were writing are returned."""
        query = {"_id": {"$in": artifact_ids}}
        leases = await self.leases.find(query, session=session).to_list()
        await self.leases.delete_many(query, session=session)
        return [lease["file_id"] for lease in leases]

    async def sweep(self) -> int:
        """Delete what expired leases' uploads wrote, then the leases; the number swept.

        The chunks go first, so a sweep cut short is simply done again. A lease taken over
        meanwhile has a new `file_id` and is left alone.
        """
        swept = 0
        async for lease in self.leases.find({"expires_at": {"$lte": now()}}):
            await self.delete_files([lease["file_id"]])
            expired = {**lease, "expires_at": {"$lte": now()}}
            swept += (await self.leases.delete_one(expired)).deleted_count
        return swept

    async def sweep_forever(self) -> None:
        """`sweep` every half lease until cancelled; a database away just skips a round."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 2)
            try:
                swept = await self.sweep()
            except PyMongoError as error:
                log.warning("sweeping expired uploads failed (%r); trying again later", error)
                continue
            if swept:
                log.info("deleted the partial bytes of %d upload(s) whose lease expired", swept)
