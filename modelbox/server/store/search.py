"""Search terms as MongoDB: a filter the database matches, a sort it runs and limits.

Experiments carry their metric summaries (`metric_summaries.<key>`: count, min, max and the
last point, kept in the logMetrics transaction), so a filter or a sort on a metric is a
path in the experiment document like a hyperparameter. Model versions carry key/value
metrics with a dataset, matched with `$elemMatch`.

Ordered pages put objects lacking a sort value last in either direction, then break ties
on `_id`: the cursor is the tuple of sort values and `_id`, compared in the database with
aggregation comparisons, which order values of any type the way `$sort` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING
from pymongo.asynchronous.collection import AsyncCollection

from modelbox.search.terms import (
    All,
    Any_,
    Attribute,
    Label,
    Metric,
    Not,
    Param,
    Search,
    Subject,
    Term,
)
from modelbox.server.errors import InvalidCursor, Unsearchable
from modelbox.server.store.cursors import Cursors, Signed
from modelbox.server.store.database import Database
from modelbox.server.store.keys import encode_key, user_path
from modelbox.server.store.paging import Page, count_by_parent
from modelbox.server.store.records import to_record

SUMMARIES = "metric_summaries"
AGGREGATE_FIELD = {"LAST": "last.value", "MIN": "min", "MAX": "max"}
_MONGO_OP = {"GT": "$gt", "GTE": "$gte", "LT": "$lt", "LTE": "$lte"}


def summary_field(key: str) -> str:
    """A metric key as one field name: `.` and `$` cannot appear in a path's segment."""
    return encode_key(key)


def _like(pattern: str) -> str:
    """SQL LIKE (`%` any run, `_` one character) as an anchored regular expression."""
    parts = (".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return "^" + "".join(parts) + "$"


def value_condition(op: str, value: Any) -> dict[str, Any]:
    """One field's condition. NE and NIN want the field present, as in MLflow."""
    if op == "EQ":
        return {"$eq": value}
    if op == "NE":
        return {"$ne": value, "$exists": True}
    if op in _MONGO_OP:
        return {_MONGO_OP[op]: value}
    if op == "IN":
        return {"$in": list(value)}
    if op == "NIN":
        return {"$nin": list(value), "$exists": True}
    if op == "EXISTS":
        return {"$exists": bool(value)}
    if op == "PREFIX":
        return {"$regex": "^" + re.escape(value)}
    if op in ("LIKE", "ILIKE"):
        return {"$regex": _like(value), "$options": "si" if op == "ILIKE" else "s"}
    raise AssertionError(op)


@dataclass(frozen=True)
class Fields:
    """Where a kind of object keeps what search names."""

    attributes: frozenset[str]
    hyperparameters: str | None
    # Experiments: metric summaries by path; versions: key/value metrics in an array.
    metric_array: str | None = None
    object_name: str = "object"

    def path(self, subject: Subject) -> str:
        if isinstance(subject, Attribute):
            if subject.name not in self.attributes:
                raise Unsearchable(f"{self.object_name}s cannot be searched by {subject.name!r}")
            return subject.name
        if isinstance(subject, Param):
            if self.hyperparameters is None:
                raise Unsearchable(f"{self.object_name}s have no hyperparameters")
            return user_path(self.hyperparameters, *subject.path)
        if isinstance(subject, Metric):
            if subject.dataset is not None:
                raise Unsearchable("a metric's dataset applies to model version metrics")
            return f"{SUMMARIES}.{summary_field(subject.key)}.{AGGREGATE_FIELD[subject.aggregate]}"
        raise AssertionError(subject)

    def metric_match(self, metric: Metric) -> dict[str, Any]:
        match: dict[str, Any] = {"key": metric.key}
        if metric.dataset is not None:
            match["dataset"] = metric.dataset
        return match

    def compile(self, term: Term) -> dict[str, Any]:
        """The MongoDB filter of `term`."""
        if isinstance(term, All):
            return {"$and": [self.compile(t) for t in term.terms]} if term.terms else {}
        if isinstance(term, Any_):
            return {"$or": [self.compile(t) for t in term.terms]}
        if isinstance(term, Not):
            return {"$nor": [self.compile(term.term)]}
        subject, op = term.subject, term.op
        if isinstance(subject, Label):
            if op == "EXISTS":
                has = {"labels": {"$elemMatch": {"key": subject.key}}}
                return has if term.value else {"$nor": [has]}
            value = value_condition(op, term.value)
            value.pop("$exists", None)
            return {"labels": {"$elemMatch": {"key": subject.key, "value": value}}}
        if isinstance(subject, Metric) and self.metric_array is not None:
            match = self.metric_match(subject)
            if op != "EXISTS":
                value = value_condition(op, term.value)
                value.pop("$exists", None)
                match["value"] = value
            has = {self.metric_array: {"$elemMatch": match}}
            return has if op != "EXISTS" or term.value else {"$nor": [has]}
        return {self.path(subject): value_condition(op, term.value)}

    def sort_value(self, subject: Subject) -> Any:
        """An aggregation expression of the value `subject` sorts by."""
        if isinstance(subject, Label):
            labels = {"$filter": {"input": "$labels", "cond": {"$eq": ["$$this.key", subject.key]}}}
            return {"$arrayElemAt": [_pluck(labels, "value"), 0]}
        if isinstance(subject, Metric) and self.metric_array is not None:
            match = self.metric_match(subject)
            found = {
                "$filter": {
                    "input": {"$ifNull": [f"${self.metric_array}", []]},
                    "cond": {"$and": [{"$eq": [f"$$this.{k}", v]} for k, v in match.items()]},
                }
            }
            values = _pluck(found, "value")
            reduce = {"MIN": "$min", "MAX": "$max"}.get(subject.aggregate)
            return {reduce: values} if reduce else {"$arrayElemAt": [values, -1]}
        return "$" + self.path(subject)


def _pluck(array: Any, name: str) -> dict[str, Any]:
    return {"$map": {"input": array, "in": f"$$this.{name}"}}


@dataclass(frozen=True)
class Plan:
    """A compiled search: the filter, and the sort keys (expression, direction) if any."""

    query: dict[str, Any]
    order: tuple[tuple[Any, int], ...]
    search: Search
    base: dict[str, Any]

    @staticmethod
    def of(fields: Fields, search: Search, base: dict[str, Any]) -> Plan:
        compiled = fields.compile(search.where)
        query = {"$and": [base, compiled]} if base and compiled else base or compiled
        order = tuple(
            (fields.sort_value(o.subject), DESCENDING if o.direction == "DESC" else 1)
            for o in search.order
        )
        return Plan(query, order, search, base)

    def stages(self, after: str | None, first: int, codec: Cursors) -> list[dict[str, Any]]:
        """The pipeline after the `$match`: sort values, the cursor, the sort, the limit."""
        added: dict[str, Any] = {}
        sort: dict[str, int] = {}
        keys: list[tuple[str, int]] = []
        for i, (expression, direction) in enumerate(self.order):
            # Arrays and nulls do not sort meaningfully against scalars: they count as absent.
            absent = {
                "$or": [
                    {"$isArray": [expression]},
                    {"$eq": [{"$ifNull": [expression, None]}, None]},
                ]
            }
            added[f"_m{i}"] = {"$cond": [absent, 1, 0]}
            added[f"_s{i}"] = {"$cond": [absent, None, expression]}
            sort |= {f"_m{i}": 1, f"_s{i}": direction}
            keys += [(f"_m{i}", 1), (f"_s{i}", direction)]
        tiebreak = self.order[0][1] if self.order else DESCENDING
        sort["_id"] = tiebreak
        keys.append(("_id", tiebreak))
        stages: list[dict[str, Any]] = [{"$addFields": added}] if added else []
        if after is not None:
            stages.append(
                {"$match": {"$expr": _after(keys, self._cursor_values(codec.decode(after)))}}
            )
        stages += [{"$sort": sort}, {"$limit": first + 1}]
        return stages

    def _cursor_values(self, values: list[Any]) -> list[Any]:
        if len(values) != len(self.order) + 1 or not isinstance(values[-1], ObjectId):
            raise InvalidCursor("not a cursor of this search")
        flat: list[Any] = []
        for value in values[:-1]:
            flat += [1 if value is None else 0, value]
        return [*flat, values[-1]]

    def page(self, documents: list[dict[str, Any]], first: int, codec: Cursors) -> Page:
        has_next = len(documents) > first
        documents = documents[:first]
        cursors = Signed(
            codec,
            [[*(d.get(f"_s{i}") for i in range(len(self.order))), d["_id"]] for d in documents],
        )
        for document in documents:
            for i in range(len(self.order)):
                document.pop(f"_s{i}", None)
                document.pop(f"_m{i}", None)
        return Page([to_record(d) for d in documents], cursors, has_next)


def _after(keys: list[tuple[str, int]], values: list[Any]) -> dict[str, Any]:
    """`(keys...) > (values...)` in the sort's order, lexicographically."""
    alternatives = []
    for i, (name, direction) in enumerate(keys):
        same = [{"$eq": [f"${k}", v]} for (k, _), v in zip(keys[:i], values[:i], strict=True)]
        beyond = {"$gt" if direction == 1 else "$lt": [f"${name}", values[i]]}
        alternatives.append({"$and": [*same, beyond]})
    return {"$or": alternatives}


async def search_page(
    collection: AsyncCollection[Any], plan: Plan, first: int, after: str | None, codec: Cursors
) -> Page:
    pipeline = [{"$match": plan.query}, *plan.stages(after, first, codec)]
    documents = await (await collection.aggregate(pipeline, batchSize=first + 1)).to_list()
    return plan.page(documents, first, codec)


async def first_pages(
    collection: AsyncCollection[Any],
    plan: Plan,
    parent_field: str,
    parents: list[Any],
    first: int,
    codec: Cursors,
) -> list[Page]:
    """The first page of each parent's objects in one command (for DataLoaders): ranked
    within each parent by the search's order, as `search_page` orders one parent's."""
    stages = plan.stages(None, first, codec)
    sort = next(stage["$sort"] for stage in stages if "$sort" in stage)
    pipeline: list[dict[str, Any]] = [
        {"$match": {"$and": [plan.query, {parent_field: {"$in": parents}}]}},
        *[stage for stage in stages if "$addFields" in stage],
        {
            "$setWindowFields": {
                "partitionBy": f"${parent_field}",
                "sortBy": sort,
                "output": {"_rank": {"$documentNumber": {}}},
            }
        },
        {"$match": {"_rank": {"$lte": first + 1}}},
        {"$sort": {parent_field: 1, **sort}},
        {"$unset": "_rank"},
    ]
    grouped: dict[Any, list[dict[str, Any]]] = {parent: [] for parent in parents}
    batch = len(parents) * (first + 1) + 1
    async for document in await collection.aggregate(pipeline, batchSize=batch):
        grouped[document[parent_field]].append(document)
    return [plan.page(grouped[parent], first, codec) for parent in parents]


async def count(collection: AsyncCollection[Any], plan: Plan) -> int:
    return await collection.count_documents(plan.query)


def summary_update(series: list[tuple[str, dict[str, Any], dict[str, Any], int]]) -> dict[str, Any]:
    """The update that folds FLOAT series' new summaries into their experiment's document:
    (key, lowest {min}, highest {max, last}, count) per series, as the series summary has them."""
    update: dict[str, dict[str, Any]] = {"$inc": {}, "$min": {}, "$max": {}}
    for key, lowest, highest, n in series:
        path = f"{SUMMARIES}.{summary_field(key)}"
        update["$inc"][f"{path}.count"] = n
        # A series of only NaN or infinities has no min or max (summaries.extremes_of).
        if "min" in lowest:
            update["$min"][f"{path}.min"] = lowest["min"]
            update["$max"][f"{path}.max"] = highest["max"]
        update["$max"][f"{path}.last"] = highest["last"]
    # MongoDB refuses an empty operator, as `$min` is when no series has a finite value.
    return {operator: fields for operator, fields in update.items() if fields}


class Searchable:
    """What a repository gains from search: its `search_fields` and a collection to run on."""

    search_fields: Fields
    collection: AsyncCollection[Any]
    database: Database

    def search_plan(self, search: Search, base: dict[str, Any]) -> Plan:
        return Plan.of(self.search_fields, search, base)

    async def search(
        self, plan: Plan, first: int, after: str | None, *, slim: bool = False
    ) -> Page:
        """A page of `plan`. `slim`: the caller reads only the records' `id` and `name`, so a
        repository may leave the rest out (here, whole records)."""
        return await search_page(self.collection, plan, first, after, self.database.cursors)

    async def search_first_pages(
        self, plan: Plan, parent_field: str, parents: list[Any], first: int, *, slim: bool = False
    ) -> list[Page]:
        return await first_pages(
            self.collection, plan, parent_field, parents, first, self.database.cursors
        )

    async def search_count(self, plan: Plan) -> int:
        return await count(self.collection, plan)

    async def search_counts(self, plan: Plan, parent_field: str, parents: list[Any]) -> list[int]:
        """`search_count` of `plan` under each parent, in one command (for DataLoaders)."""
        counts = await count_by_parent(self.collection, parent_field, parents, plan.query)
        return [counts[parent] for parent in parents]
