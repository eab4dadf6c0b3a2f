"""Events that external systems report about a subject, kept as per-subject timelines.

Each event stores `since_previous`, the seconds since the previous event of its
subject, and `since_previous_same`, since the previous one of the same name (an epoch's
duration even when a `preempted` event came between), so that a timeline (and a live
subscriber) reads them without another query. Appending is the common case and costs one
extra read and write; an event logged out of order also re-times the events it precedes.
A small per-subject timeline document is written by every batch, which serializes
concurrent batches on one subject.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypedDict, cast

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from modelbox.server.access import Actor
from modelbox.server.errors import Conflict
from modelbox.server.store.audit import AuditLog
from modelbox.server.store.database import Database, Session, update_by_id
from modelbox.server.store.indexes import conflict_message
from modelbox.server.store.keys import to_stored
from modelbox.server.store.metrics.idempotency import (
    EVENTS,
    REQUESTS,
    Request,
    first_request,
    repeated_request,
)
from modelbox.server.store.paging import SortKey
from modelbox.server.store.records import Record, now, object_id
from modelbox.server.store.repository import Repository

Document = dict[str, Any]


# `order` keys hold 13 digits of milliseconds: from the epoch into the year 2286.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2286, 11, 20, tzinfo=UTC)


def order_key(wallclock: datetime, id: ObjectId) -> str:
    """Wallclock order, unique: milliseconds since the epoch, then the id (both fixed-width)."""
    return f"{_millis(wallclock):013d}{id}"


def _millis(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _wallclock_of(order: str) -> datetime:
    return datetime.fromtimestamp(int(order[:13]) / 1000, UTC)


def _seconds(later: datetime, earlier: datetime | None) -> float | None:
    return None if earlier is None else (_millis(later) - _millis(earlier)) / 1000


def _stored_events(
    subject_type: str, subject: Record, events: list[Document], stamp: datetime
) -> list[Document]:
    """`events` as stored documents, in the order given, not yet timed."""
    subject_id = object_id(subject["id"])
    # Ids are taken in wallclock order so that equal wallclocks keep the order given.
    ordered = sorted(range(len(events)), key=lambda i: events[i]["wallclock"])
    documents: list[Document] = [{} for _ in events]
    for i in ordered:
        oid = ObjectId()
        documents[i] = to_stored(
            {
                "_id": oid,
                "subject_type": subject_type,
                "subject_id": subject_id,
                "namespace": subject["namespace"],
                "name": events[i]["name"],
                "source": events[i].get("source"),
                "wallclock": events[i]["wallclock"],
                "payload": events[i].get("payload"),
                "since_previous": None,
                "since_previous_same": None,
                "order": order_key(events[i]["wallclock"], oid),
                "created_at": stamp,
            }
        )
    return documents


class EventRecord(TypedDict):
    """An event as the store hands it up (and as the change feed's inserts carry it)."""

    id: str
    subject_type: str
    subject_id: str
    namespace: str
    name: str
    source: str | None
    wallclock: datetime
    payload: Any
    # Seconds since the subject's previous event, and its previous one of the same name.
    since_previous: float | None
    since_previous_same: float | None
    order: str
    created_at: datetime


def event_record(record: Record) -> EventRecord:
    """A record of the events collection (from the change feed), typed."""
    return cast(EventRecord, record)


class Events(Repository[EventRecord]):
    collection_name = "events"
    object_type = "Event"
    sort = SortKey("order", ASCENDING)

    def __init__(self, database: Database, audit: AuditLog) -> None:
        super().__init__(database, audit)
        self.timelines = database["event_timelines"]
        self.requests = database[REQUESTS]

    @staticmethod
    def query(
        names: list[str] | None = None,
        source: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> dict[str, Any]:
        """Filters; times compare as datetimes (the `order` keys only span 1970 to 2286)."""
        query: dict[str, Any] = {}
        if names:
            query["name"] = {"$in": names}
        if source is not None:
            query["source"] = source
        if since is not None or until is not None:
            query["wallclock"] = {
                **({"$gte": since} if since is not None else {}),
                **({"$lt": until} if until is not None else {}),
            }
        return query

    async def log(
        self,
        subject_type: str,
        subject: Record,
        events: list[Document],
        request: Request | None = None,
    ) -> list[EventRecord]:
        """Store `events` (name, source, wallclock, payload) on `subject`; all or none.

        Returned in the order given. Telemetry is not audited: the subject's own
        writes are, and an event names its source itself. A retry of `request` stores
        nothing and returns the events its first sending stored; its key with another
        batch, or a logMetrics request's key, raises KeyReused.
        """
        subject_id = object_id(subject["id"])
        assert subject_id is not None, "the resolver passes a loaded subject"
        stamp = now()
        documents = _stored_events(subject_type, subject, events, stamp)
        timeline = sorted(documents, key=lambda d: d["order"])

        async def work(session: Session) -> None:
            await self.database.guards.hold(session, subject_type, subject["id"])
            if request is not None:
                ids = [d["_id"] for d in documents]
                stored = request.document(subject_id, EVENTS, stamp, events=ids)
                await self.requests.insert_one(stored, session=session)
            await self._time(session, subject_id, timeline)
            await self.collection.insert_many(timeline, session=session)

        try:
            await self.database.transaction(work, duplicates=False)
        except DuplicateKeyError as error:
            if request is None or not repeated_request(error):
                raise Conflict(conflict_message(error)) from None
            return await self._logged_by(subject_id, request)
        return [self._record(document) for document in documents]

    async def _time(
        self, session: Session, subject_id: ObjectId | None, timeline: list[Document]
    ) -> None:
        """Set the `since_previous` fields of new events (in `order`) against the subject's
        timeline: appended events against its last ones, others by re-timing (`_merge`)."""
        before = await update_by_id(
            self.timelines,
            session,
            {"_id": subject_id},
            {"$max": {"last": timeline[-1]["order"]}, "$inc": {"events": len(timeline)}},
            upsert=True,
        )
        last = before.get("last") if before else None
        if last is None or last < timeline[0]["order"]:
            _time(timeline, {None: _wallclock_of(last) if last else None}, by_name=False)
            same = await self._latest_by_name(session, subject_id, timeline, "$lt", -1)
            _time(timeline, {name: d["wallclock"] for name, d in same.items()}, by_name=True)
        else:
            await self._merge(session, subject_id, timeline)

    async def _logged_by(self, subject_id: ObjectId, request: Request) -> list[EventRecord]:
        """The events the first sending of `request` stored, in its order (none if they
        were deleted since)."""
        first = await first_request(self.requests, subject_id, request, EVENTS)
        ids = first.get("events", [])
        found = {d["_id"]: d async for d in self.collection.find({"_id": {"$in": ids}})}
        return [self._record(found[id]) for id in ids if id in found]

    async def _latest_by_name(
        self,
        session: Session,
        subject_id: ObjectId | None,
        timeline: list[Document],
        op: str,
        direction: int,
    ) -> dict[str, Document]:
        """Per name of `timeline`, the nearest stored event before its first (`$lt`, -1)
        or after its last (`$gt`, 1): one indexed round trip whatever the number of names."""
        edge = timeline[0]["order"] if op == "$lt" else timeline[-1]["order"]
        names = sorted({d["name"] for d in timeline})
        cursor = await self.collection.aggregate(
            [
                {"$match": {"subject_id": subject_id, "name": {"$in": names}, "order": {op: edge}}},
                {"$sort": {"name": 1, "order": direction}},
                {"$group": {"_id": "$name", "event": {"$first": "$$ROOT"}}},
            ],
            session=session,
        )
        return {group["_id"]: group["event"] for group in await cursor.to_list()}

    async def _merge(
        self, session: Session, subject_id: ObjectId | None, timeline: list[Document]
    ) -> None:
        """Events landing inside the timeline: time them, and re-time those they precede."""
        first, last = timeline[0]["order"], timeline[-1]["order"]
        scope = {"subject_id": subject_id}
        before = await self.collection.find_one(
            {**scope, "order": {"$lt": first}}, sort=[("order", DESCENDING)], session=session
        )
        between = await self.collection.find(
            {**scope, "order": {"$gt": first, "$lt": last}}, session=session
        ).to_list()
        after = await self.collection.find_one(
            {**scope, "order": {"$gt": last}}, sort=[("order", ASCENDING)], session=session
        )
        same_before = await self._latest_by_name(session, subject_id, timeline, "$lt", -1)
        same_after = await self._latest_by_name(session, subject_id, timeline, "$gt", 1)
        following = [after] if after else []
        # One object per stored event, so both passes re-time the same document.
        existing = {d["_id"]: d for d in [*between, *following, *same_after.values()]}
        timed_before = {
            i: (d.get("since_previous"), d.get("since_previous_same")) for i, d in existing.items()
        }
        stored = lambda documents: [existing[d["_id"]] for d in documents]  # noqa: E731
        any_name = _in_order(timeline + stored(between + following))
        _time(any_name, {None: before["wallclock"] if before else None}, by_name=False)
        same_name = _in_order(timeline + stored(between + list(same_after.values())))
        _time(same_name, {name: d["wallclock"] for name, d in same_before.items()}, by_name=True)
        for id, document in existing.items():
            timed = (document.get("since_previous"), document.get("since_previous_same"))
            if timed != timed_before[id]:
                await self.collection.update_one(
                    {"_id": id},
                    {"$set": {"since_previous": timed[0], "since_previous_same": timed[1]}},
                    session=session,
                )

    async def delete_subjects(
        self, session: Session, actor: Actor, subject_ids: list[ObjectId]
    ) -> None:
        """Events go with their subject, in the transaction that deletes it."""
        await self.collection.delete_many({"subject_id": {"$in": subject_ids}}, session=session)
        await self.timelines.delete_many({"_id": {"$in": subject_ids}}, session=session)


def _in_order(documents: list[Document]) -> list[Document]:
    return sorted(documents, key=lambda d: d["order"])


def _time(
    timeline: list[Document], previous: dict[str | None, datetime | None], *, by_name: bool
) -> None:
    """Set `since_previous` (or, `by_name`, `since_previous_same`) along `timeline`, in
    order, after the events in `previous` (keyed by name, or by None for any name)."""
    field = "since_previous_same" if by_name else "since_previous"
    previous = dict(previous)
    for document in timeline:
        group = document["name"] if by_name else None
        document[field] = _seconds(document["wallclock"], previous.get(group))
        previous[group] = document["wallclock"]


def utc(moment: datetime) -> datetime:
    """As stored: UTC, milliseconds (a naive time is taken to be UTC)."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
