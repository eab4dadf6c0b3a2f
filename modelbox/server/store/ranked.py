"""One namespace's experiment searches served from search values (store/search_values.py).

The database still decides every answer: candidates taken from index ranges of search
values are matched against the whole search in chunks, each chunk's aggregation applying
the filter, the cursor, the sort and the limit, and the chunks' pages are merged here in the
sort's order. Two shapes are served; anything else (several sort keys, no range to start
from, a value this module cannot order) runs as one aggregation over the namespace:

* ordered by a metric summary: the summary's values are walked in the sort's direction in
  bands (the first about `SHARDS` experiments wide, then doubling, cut from a sample of the
  values), until a page is full; past the last number (NaN, or runs lacking the metric) the
  aggregation pages on.
* a filter with conditions on metric summaries or scalar hyperparameters: the candidates
  are the experiments in the most selective condition's range, intersected with the next
  ranges while reading them costs less than matching what they would remove.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection

from modelbox.search.terms import All, Condition, Metric, Param, Search, Term
from modelbox.server.store.cursors import Cursors
from modelbox.server.store.database import Database
from modelbox.server.store.paging import Page
from modelbox.server.store.search import Plan
from modelbox.server.store.search_values import SHARDS, SearchValues, metric_field, param_field

# Candidates matched per aggregation: SecantusDB checks `$in` against each document in
# turn, so a chunk costs its size squared.
CHUNK = 50
# A filter whose best range holds more experiments than this is one aggregation.
MAX_CANDIDATES = 5_000
# Reading one search value costs about a quarter of matching one experiment.
VALUE_COST = 1
MATCH_COST = 4
_RANGE = {"GT": "$gt", "GTE": "$gte", "LT": "$lt", "LTE": "$lte", "EQ": "$eq"}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": lambda a, b: a == b,
    "GT": lambda a, b: a > b,
    "GTE": lambda a, b: a >= b,
    "LT": lambda a, b: a < b,
    "LTE": lambda a, b: a <= b,
}


class Unordered(Exception):
    """A sort value this module does not order as MongoDB does: the aggregation decides."""


def _type_rank(value: Any) -> int:
    # MongoDB's order of types, for the ones a search sorts by.
    if value is None:
        return 1
    if isinstance(value, bool):
        return 8
    if isinstance(value, int | float):
        return 2
    if isinstance(value, str):
        return 3
    if isinstance(value, ObjectId):
        return 7
    if isinstance(value, datetime):
        return 9
    raise Unordered(type(value).__name__)


def order_key(value: Any) -> tuple[Any, ...]:
    """`value` as MongoDB sorts it: by type, then within it (NaN below every number)."""
    rank = _type_rank(value)
    if rank == 2:
        return (2, 0, 0) if math.isnan(value) else (2, 1, value)
    if rank == 7:
        return (7, value.binary)
    return (rank, value) if value is not None else (1,)


class _Reversed:
    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key

    def __lt__(self, other: _Reversed) -> bool:
        return bool(other.key < self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and self.key == other.key


def _directed(key: Any, direction: int) -> Any:
    return key if direction == 1 else _Reversed(key)


@dataclass(frozen=True)
class Range:
    """A condition as a range of one field's search values, with its test for samples."""

    field: str
    condition: dict[str, Any]
    test: Callable[[Any], bool]


def _same_kind(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    numbers = int | float
    return (isinstance(a, numbers) and isinstance(b, numbers)) or (
        isinstance(a, str) and isinstance(b, str)
    )


def _scalar(value: Any) -> bool:
    return isinstance(value, bool | int | float | str)


def as_range(term: Term) -> Range | None:
    """The range of search values a condition selects, if it is one."""
    if not isinstance(term, Condition) or term.op not in (*_RANGE, "IN"):
        return None
    subject = term.subject
    if isinstance(subject, Metric) and subject.dataset is None:
        field = metric_field(subject.key, subject.aggregate)
    elif isinstance(subject, Param) and not any(s.isdigit() for s in subject.path):
        # A numeric segment may be an array index, which search values do not spell.
        field = param_field(subject.path)
    else:
        return None
    values = list(term.value) if term.op == "IN" else [term.value]
    if not values or not all(map(_scalar, values)):
        return None
    if term.op == "IN":
        return Range(
            field,
            {"$in": values},
            lambda v: any(_same_kind(v, w) and v == w for w in values),
        )
    compare, bound = _COMPARE[term.op], values[0]
    return Range(
        field,
        {_RANGE[term.op]: bound},
        lambda v: _same_kind(v, bound) and compare(v, bound),
    )


def conjuncts(where: Term) -> tuple[Term, ...]:
    return where.terms if isinstance(where, All) else (where,)


class Paged:
    """A way to serve one namespace's searches: the collection, and the cursors' codec."""

    def __init__(self, collection: AsyncCollection[Any], database: Database) -> None:
        self.collection = collection
        self.database = database

    @property
    def cursors(self) -> Cursors:
        # Read when used: `open_cursors` puts the shared key in place after start-up.
        return self.database.cursors


class Ranked(Paged):
    def __init__(
        self, values: SearchValues, collection: AsyncCollection[Any], database: Database
    ) -> None:
        super().__init__(collection, database)
        self.values = values

    async def page(
        self, plan: Plan, search: Search, namespace: str, first: int, after: str | None
    ) -> Page | None:
        """A page of `plan` (one namespace's search), or None: the aggregation must run."""
        if len(search.order) > 1:
            return None
        try:
            if search.order and isinstance(search.order[0].subject, Metric):
                return await self._by_metric(plan, search, namespace, first, after)
            return await self._by_candidates(plan, search, namespace, first, after)
        except Unordered:
            return None

    async def _estimate(self, namespace: str, found: Range) -> int:
        sample = await self.values.sample(namespace, found.field)
        return sum(1 for v in sample if found.test(v)) * SHARDS

    async def _by_candidates(
        self, plan: Plan, search: Search, namespace: str, first: int, after: str | None
    ) -> Page | None:
        ranges = [r for r in map(as_range, conjuncts(search.where)) if r is not None]
        if not ranges:
            return None
        estimates = sorted(
            zip(
                await asyncio.gather(*(self._estimate(namespace, r) for r in ranges)),
                range(len(ranges)),
                strict=True,
            )
        )
        if estimates[0][0] > MAX_CANDIDATES:
            return None
        candidates: set[ObjectId] | None = None
        for estimate, i in estimates:
            if candidates is not None and estimate * VALUE_COST > len(candidates) * MATCH_COST:
                break
            found = await self.values.experiments_in(
                namespace, ranges[i].field, ranges[i].condition
            )
            ids = {e for _, e in found}
            candidates = ids if candidates is None else candidates & ids
            if len(candidates) > MAX_CANDIDATES:
                return None
        assert candidates is not None
        documents = await self._matched(plan, sorted(candidates), first, after)
        return plan.page(documents, first, self.cursors)

    async def _by_metric(
        self, plan: Plan, search: Search, namespace: str, first: int, after: str | None
    ) -> Page | None:
        order = search.order[0]
        assert isinstance(order.subject, Metric)
        if order.subject.dataset is not None:
            return None
        field = metric_field(order.subject.key, order.subject.aggregate)
        descending = order.direction == "DESC"
        start: float | None = None
        if after is not None:
            plan.stages(after, first, self.cursors)  # refuses a cursor of another search
            start = self.cursors.decode(after)[0]
            if not isinstance(start, int | float) or isinstance(start, bool) or math.isnan(start):
                return None
        if not descending and await self.values.experiments_in(namespace, field, {"$eq": math.nan}):
            return None  # NaN sorts first: the aggregation pages it
        documents: list[dict[str, Any]] = []
        for condition in self._bands(await self.values.sample(namespace, field), descending, start):
            found = await self.values.experiments_in(namespace, field, condition)
            documents += await self._matched(plan, sorted(e for _, e in found), first, after)
            if len(documents) > first:
                return plan.page(self._ordered(plan, documents, first), first, self.cursors)
        return None

    @staticmethod
    def _bands(sample: list[Any], descending: bool, start: float | None) -> list[dict[str, Any]]:
        """Conditions on a metric's values, in the sort's order, together covering every
        number from `start` on; each about twice as wide as the one before."""
        numbers = [
            v
            for v in sample
            if isinstance(v, int | float) and not isinstance(v, bool) and not math.isnan(v)
        ]
        if start is not None:
            numbers = [v for v in numbers if (v <= start if descending else v >= start)]
        numbers.sort(reverse=descending)
        bounds: list[float] = []
        position = 0
        while position < len(numbers):
            if not bounds or numbers[position] != bounds[-1]:
                bounds.append(numbers[position])
            position = position * 2 + 1
        # (lower bound, exclusive upper, inclusive upper) in the sort's direction.
        near, short, upto = ("$gte", "$lt", "$lte") if descending else ("$lte", "$gt", "$gte")
        bands: list[dict[str, Any]] = []
        upper, inclusive = start, True
        for bound in bounds:
            band: dict[str, Any] = {near: bound}
            if upper is not None:
                band[upto if inclusive else short] = upper
            bands.append(band)
            upper, inclusive = bound, False
        if upper is None:
            bands.append({near: -math.inf if descending else math.inf})
        else:
            bands.append({upto if inclusive else short: upper})
        return bands

    async def _matched(
        self, plan: Plan, ids: list[ObjectId], first: int, after: str | None
    ) -> list[dict[str, Any]]:
        """The first `first + 1` of these candidates that match the plan past `after`, in
        its order; each chunk's page is the database's."""
        stages = plan.stages(after, first, self.cursors)

        async def chunk(part: list[ObjectId]) -> list[dict[str, Any]]:
            pipeline = [{"$match": {"_id": {"$in": part}}}, {"$match": plan.query}, *stages]
            # One more than the page holds: a full batch would leave the cursor open.
            found = await self.collection.aggregate(pipeline, batchSize=first + 2)
            return await found.to_list()

        parts = [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]
        pages = await asyncio.gather(*(chunk(part) for part in parts))
        return self._ordered(plan, [d for page in pages for d in page], first)

    @staticmethod
    def _ordered(plan: Plan, documents: list[dict[str, Any]], first: int) -> list[dict[str, Any]]:
        return sorted(documents, key=sort_key(plan))[: first + 1]


def sort_key(plan: Plan) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """The order of `plan`'s pages, on documents carrying their sort values (`_m<i>`,
    `_s<i>`) as the pipeline's stages add them."""
    directions = [direction for _, direction in plan.order]
    tiebreak = directions[0] if directions else -1

    def key(document: dict[str, Any]) -> tuple[Any, ...]:
        parts: list[Any] = []
        for i, direction in enumerate(directions):
            parts.append(document[f"_m{i}"])
            parts.append(_directed(order_key(document[f"_s{i}"]), direction))
        parts.append(_directed(document["_id"].binary, tiebreak))
        return tuple(parts)

    return key
