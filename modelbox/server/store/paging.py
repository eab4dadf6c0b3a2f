"""Cursor pagination on a stable, unique sort key; never offsets.

A cursor is the sort key's values of the last item returned, so pages stay
correct while objects are added or removed between requests. Every sort ends on
`_id`: a field unique under one parent (a version number under its model) is not
under another (an experiment's versions of several models).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from modelbox.server.errors import InvalidCursor
from modelbox.server.store.cursors import Cursors, Signed
from modelbox.server.store.records import Record, to_record


@dataclass(frozen=True)
class SortKey:
    """A field and a direction; ties on it are broken by `_id`, in the same direction."""

    field: str
    direction: int = ASCENDING

    @property
    def fields(self) -> tuple[str, ...]:
        return (self.field,) if self.field == "_id" else (self.field, "_id")

    def values(self, document: dict[str, Any]) -> list[Any]:
        return [document[field] for field in self.fields]

    def after(self, values: list[Any]) -> dict[str, Any]:
        """Documents after `values` in this order, lexicographically over `fields`."""
        op = "$gt" if self.direction == ASCENDING else "$lt"
        if len(self.fields) == 1:
            return {self.field: {op: values[0]}}
        return {
            "$or": [{self.field: {op: values[0]}}, {self.field: values[0], "_id": {op: values[1]}}]
        }

    @property
    def spec(self) -> list[tuple[str, int]]:
        return [(field, self.direction) for field in self.fields]


NEWEST_FIRST = SortKey("_id", DESCENDING)


@dataclass(frozen=True)
class Page:
    records: list[Record]
    cursors: Signed
    has_next: bool


def _page(documents: list[dict[str, Any]], sort: SortKey, first: int, codec: Cursors) -> Page:
    has_next = len(documents) > first
    documents = documents[:first]
    return Page(
        records=[to_record(doc) for doc in documents],
        cursors=Signed(codec, [sort.values(doc) for doc in documents]),
        has_next=has_next,
    )


async def find_page(
    collection: AsyncCollection[Any],
    query: dict[str, Any],
    sort: SortKey,
    first: int,
    after: str | None,
    codec: Cursors,
) -> Page:
    if after is not None:
        values = codec.decode(after)
        if len(values) != len(sort.fields):
            raise InvalidCursor("not a cursor this list handed out")
        query = {"$and": [query, sort.after(values)]}
    cursor = collection.find(query).sort(sort.spec).limit(first + 1).batch_size(first + 1)
    documents = await cursor.to_list()
    return _page(documents, sort, first, codec)


async def find_pages_by_parent(
    collection: AsyncCollection[Any],
    parent_field: str,
    parents: list[Any],
    query: dict[str, Any],
    sort: SortKey,
    first: int,
    codec: Cursors,
) -> dict[Any, Page]:
    """First pages of many parents' children in one round trip (for DataLoaders)."""
    pipeline: list[dict[str, Any]] = [
        {"$match": {"$and": [query, {parent_field: {"$in": parents}}]}},
        {
            "$setWindowFields": {
                "partitionBy": f"${parent_field}",
                "sortBy": dict(sort.spec),
                "output": {"_rank": {"$documentNumber": {}}},
            }
        },
        {"$match": {"_rank": {"$lte": first + 1}}},
        {"$sort": {parent_field: ASCENDING, **dict(sort.spec)}},
        {"$unset": "_rank"},
    ]
    grouped: dict[Any, list[dict[str, Any]]] = {parent: [] for parent in parents}
    # One batch for the whole answer: round trips must not grow with the number of parents.
    batch = len(parents) * (first + 1) + 1
    async for document in await collection.aggregate(pipeline, batchSize=batch):
        grouped[document[parent_field]].append(document)
    return {parent: _page(docs, sort, first, codec) for parent, docs in grouped.items()}


async def count_by_parent(
    collection: AsyncCollection[Any],
    parent_field: str,
    parents: list[Any],
    query: dict[str, Any],
) -> dict[Any, int]:
    pipeline: list[dict[str, Any]] = [
        {"$match": {"$and": [query, {parent_field: {"$in": parents}}]}},
        {"$group": {"_id": f"${parent_field}", "n": {"$sum": 1}}},
    ]
    counts = dict.fromkeys(parents, 0)
    async for row in await collection.aggregate(pipeline):
        counts[row["_id"]] = row["n"]
    return counts


__all__ = [
    "ASCENDING",
    "DESCENDING",
    "NEWEST_FIRST",
    "Page",
    "SortKey",
    "count_by_parent",
    "find_page",
    "find_pages_by_parent",
]
