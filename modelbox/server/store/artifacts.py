"""Artifacts: file records, with their bytes in GridFS (uploaded) or elsewhere (tracked by URI).

Uploaded bytes are stored in the GridFS layout (`fs.files`, `fs.chunks`) by `ChunkWriter`
(store/chunks.py, which says why not `open_upload_stream`), and read back through
`AsyncGridFSBucket`.

An upload holds a lease on its PENDING artifact (store/uploads.py): of two concurrent PUTs
one is refused, and what an upload whose server died wrote is deleted once its lease expires.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any, NotRequired, TypedDict

from bson import Int64, ObjectId
from gridfs import AsyncGridFSBucket
from pymongo import ReturnDocument

from modelbox.server.access import Actor
from modelbox.server.errors import (
    Conflict,
    DigestMismatch,
    ModelBoxError,
    NotFound,
    PayloadTooLarge,
)
from modelbox.server.store.audit import AuditAction, AuditLog
from modelbox.server.store.chunks import CHUNK_BYTES, ChunkWriter
from modelbox.server.store.database import Database, Document, Session
from modelbox.server.store.records import Record, now, object_id, object_ids
from modelbox.server.store.repository import Repository
from modelbox.server.store.uploads import DEFAULT_LEASE_SECONDS, TAKEN_OVER, Uploads

GRIDFS = "GRIDFS"
EXTERNAL = "EXTERNAL"
PENDING = "PENDING"
AVAILABLE = "AVAILABLE"

BUCKET = "fs"
# Chunks a download reads ahead of the client: about one getMore batch (16 MiB), so the
# next batch is fetched while the client receives this one.
READ_AHEAD = 16


class ArtifactRecord(TypedDict):
    """An artifact as the store hands it up: GRIDFS bytes (PENDING until uploaded) or an
    EXTERNAL `uri`."""

    id: str
    namespace: str
    subject_type: str
    subject_id: str
    name: str
    storage: str
    state: str
    created_at: datetime
    updated_at: datetime
    kind: NotRequired[str | None]
    uri: NotRequired[str | None]
    size: NotRequired[int | None]
    sha256: NotRequired[str | None]
    content_type: NotRequired[str | None]
    metadata: NotRequired[Any]
    # The GridFS file of its bytes (hex), once uploaded; shared by copies.
    file_id: NotRequired[str]
    # The artifact it was copied from (a promotion shares the bytes).
    copied_from: NotRequired[str]


class Artifacts(Repository[ArtifactRecord]):
    collection_name = "artifacts"
    object_type = "Artifact"

    def __init__(
        self,
        database: Database,
        audit: AuditLog,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        super().__init__(database, audit)
        self.bucket = AsyncGridFSBucket(database.db, BUCKET, chunk_size_bytes=CHUNK_BYTES)
        self.files = database[f"{BUCKET}.files"]
        self.chunks = database[f"{BUCKET}.chunks"]
        self.uploads = Uploads(database, BUCKET, lease_seconds)

    async def create(
        self,
        actor: Actor,
        subject_type: str,
        subject: Record,
        fields: dict[str, Any],
    ) -> ArtifactRecord:
        document = {
            **fields,
            "namespace": subject["namespace"],
            "subject_type": subject_type,
            "subject_id": object_id(subject["id"]),
        }
        return await self._create_under(actor, subject_type, subject["id"], document)

    async def upload(
        self, actor: Actor, id: str, body: AsyncIterator[bytes], limit: int
    ) -> ArtifactRecord:
        """Stream `body` into GridFS and make the artifact AVAILABLE, or leave no trace.

        On any failure (a sha256 mismatch, more than `limit` bytes, the client gone) the
        chunks written so far are deleted and the artifact is PENDING again.
        """
        artifact, file_id = await self._take_lease(id)
        writer = ChunkWriter(self.chunks, file_id)
        digest = hashlib.sha256()
        renewed = time.monotonic()
        try:
            async for data in body:
                if writer.length + len(data) > limit:
                    raise PayloadTooLarge(
                        f"artifact is over the limit of {limit} bytes (max_artifact_bytes)",
                        limit=limit,
                    )
                digest.update(data)
                await writer.write(data)
                if time.monotonic() - renewed > self.uploads.renew_seconds:
                    await self.uploads.renew(artifact["_id"], file_id)
                    renewed = time.monotonic()
            sha256 = digest.hexdigest()
            declared = artifact.get("sha256")
            if declared is not None and declared != sha256:
                raise DigestMismatch(declared, sha256)
            await writer.finish()
            file = {
                "_id": file_id,
                "length": Int64(writer.length),
                "chunkSize": CHUNK_BYTES,
                "uploadDate": now(),
                "filename": artifact["name"],
                "metadata": {"artifact_id": artifact["_id"]},
            }
            return await self.database.transaction(
                lambda s: self._complete(s, actor, artifact, file, sha256)
            )
        except BaseException:
            # Shielded: a cancelled request still cleans up after itself.
            await asyncio.shield(self._abandon(artifact["_id"], writer))
            raise

    async def _take_lease(self, id: str) -> tuple[Document, ObjectId]:
        oid = object_id(id)
        if oid is None:
            raise NotFound("artifact does not exist")
        file_id = await self.uploads.take(oid)
        artifact = await self.collection.find_one({"_id": oid})
        refusal: ModelBoxError | None = None
        if artifact is None:
            refusal = NotFound("artifact does not exist")
        elif artifact["storage"] != GRIDFS:
            refusal = Conflict("artifact is tracked by URI: its bytes are not kept in ModelBox")
        elif artifact["state"] == AVAILABLE:
            refusal = Conflict("artifact is already uploaded and cannot change: create a new one")
        if refusal is not None:
            await self.uploads.release(oid, file_id)
            raise refusal
        assert artifact is not None
        return artifact, file_id

    async def _complete(
        self, session: Session, actor: Actor, artifact: Document, file: Document, sha256: str
    ) -> ArtifactRecord:
        """The file's entry, the state change and its audit event, in one transaction."""
        released = await self.uploads.release(artifact["_id"], file["_id"], session)
        await self.files.insert_one(file, session=session)
        after = await self.collection.find_one_and_update(
            {"_id": artifact["_id"], "state": PENDING},
            {
                "$set": {
                    "state": AVAILABLE,
                    "size": int(file["length"]),
                    "sha256": sha256,
                    "file_id": file["_id"],
                    "updated_at": now(),
                }
            },
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        if not released or after is None:
            raise Conflict(TAKEN_OVER)
        uploaded = {"size": int(file["length"]), "sha256": sha256}
        await self._audit(session, actor, AuditAction.UPLOADED, artifact, uploaded)
        return self._record(after)

    async def _abandon(self, oid: ObjectId, writer: ChunkWriter) -> None:
        await writer.settle()
        await self.uploads.delete_files([writer.file_id])
        await self.uploads.release(oid, writer.file_id)

    async def read(self, file_id: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes `start` to `end` (inclusive) of a stored file, a chunk at a time.

        A reader task keeps up to READ_AHEAD chunks ready, so the database works on the
        next chunks while the client receives this one.
        """
        ready: asyncio.Queue[bytes | None] = asyncio.Queue()
        slots = asyncio.Semaphore(READ_AHEAD)

        async def fetch() -> None:
            stream = await self.bucket.open_download_stream(object_id(file_id))
            try:
                await stream.seek(start)
                remaining = end - start + 1
                while remaining > 0:
                    await slots.acquire()
                    chunk = await stream.readchunk()
                    if not chunk:
                        break
                    ready.put_nowait(chunk[:remaining])
                    remaining -= min(len(chunk), remaining)
            finally:
                await stream.close()

        reader = asyncio.ensure_future(fetch())
        # However the reader ends (done, failed, cancelled), the loop below stops.
        reader.add_done_callback(lambda _: ready.put_nowait(None))
        try:
            while (piece := await ready.get()) is not None:
                slots.release()
                yield piece
            # A failed read fails the response too: it ends short of its Content-Length.
            reader.result()
        finally:
            reader.cancel()

    async def record_download(
        self, actor: Actor, artifact: Record, changes: dict[str, Any]
    ) -> None:
        await self._audit(None, actor, AuditAction.DOWNLOADED, artifact, changes)

    async def delete(self, actor: Actor, id: str) -> ArtifactRecord:
        """Delete the record (audited) and its bytes in one transaction."""

        async def work(session: Session) -> ArtifactRecord:
            record = await self._delete(session, actor, id)
            await self._delete_with_bytes(session, [record])
            return record

        return await self.database.transaction(work)

    async def delete_subjects(
        self, session: Session, actor: Actor, subject_ids: list[ObjectId]
    ) -> None:
        """The artifacts of deleted objects go, bytes and all, audited, in the same transaction."""
        docs = await self._delete_where(session, actor, {"subject_id": {"$in": subject_ids}})
        if docs:
            await self._delete_with_bytes(session, docs)

    async def _delete_with_bytes(
        self, session: Session, artifacts: Sequence[Mapping[str, Any]]
    ) -> None:
        """The bytes of deleted artifacts, and of any upload running into one of them."""
        ids = object_ids([a.get("_id") or a["id"] for a in artifacts])
        writing = await self.uploads.drop(ids, session)
        file_ids = {ObjectId(a["file_id"]) for a in artifacts if a.get("file_id")}
        # Bytes a promoted version shares with its checkpoint stay while either one has them.
        shared = set(
            await self.collection.distinct(
                "file_id", {"file_id": {"$in": list(file_ids)}}, session=session
            )
        )
        unshared = [f for f in file_ids if f not in shared]
        await self.uploads.delete_files([*unshared, *writing], session)

    async def copy_to(
        self,
        session: Session,
        actor: Actor,
        source_ids: list[ObjectId],
        subject_type: str,
        target: Record,
    ) -> list[ArtifactRecord]:
        """Attach the AVAILABLE artifacts of `source_ids` to `target` too, sharing their bytes.

        One the target already has under the same name is left as it is, so attaching
        twice (two processes, a retry) attaches once.
        """
        query = {"subject_id": {"$in": source_ids}, "state": AVAILABLE}
        sources = await self.collection.find(query, session=session).to_list()
        taken = set(
            await self.collection.distinct(
                "name", {"subject_id": object_id(target["id"])}, session=session
            )
        )
        copies = []
        for source in sources:
            if source["name"] in taken:
                continue
            fields = {
                k: v for k, v in source.items() if k not in ("_id", "created_at", "updated_at")
            }
            document = {
                **fields,
                "subject_type": subject_type,
                "subject_id": object_id(target["id"]),
                "copied_from": source["_id"],
            }
            copies.append(await self._insert(session, actor, document))
        return copies
