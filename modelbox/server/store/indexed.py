"""One namespace's experiment searches ordered from the process's search index.

The index (store/search_index.py) gives, for the search's range conditions, the experiments
that may match (values of the bound's kind in each range), and walks them in the search's
order: by name, by one metric summary, or newest first. The database then matches the
walked candidates against the whole search, a chunk at a time, until the page is full: a
page of 100 checks about 101 experiments whatever the namespace's size. Other sorts, or an
index that cannot serve the namespace, leave the search to store/ranked.py.

A caller that needs only the experiments' ids and names (a GraphQL selection of just those)
asks for a `slim` page: when every condition is a range the index holds exactly, as the
database would match it, the walk is the answer and no document is read."""

from __future__ import annotations

import asyncio
import itertools
import math
import operator
from collections.abc import Iterable, Iterator
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection
from sortedcontainers import SortedList

from modelbox.search.terms import Attribute, Metric, Search
from modelbox.server.store.database import Database
from modelbox.server.store.ranked import (
    Paged,
    Range,
    Unordered,
    as_range,
    conjuncts,
    order_key,
    sort_key,
)
from modelbox.server.store.search import Plan
from modelbox.server.store.search_index import SearchIndex, Snapshot
from modelbox.server.store.search_orders import Key
from modelbox.server.store.search_values import OVERFLOW, metric_field

# Candidates matched per aggregation: SecantusDB checks `$in` against each document in
# turn, so a chunk costs its size squared, and each aggregation a round trip.
CHUNK = 26
# Candidates checked in the database, beyond a page's worth, before the search is left to
# the other plans: conditions that are not ranges may turn most candidates down.
EXTRA_CHECKED = 500
# Entries a walk reads of the index at a time (store/search_index.py's sorted lists).
STEP = 64
# The first and last order key of each kind of value (store/ranked.py's `order_key`).
_NUMBERS, _STRINGS, _BOOLS = 2, 3, 8
_EXPERIMENT = operator.itemgetter(1)
_SIZE = operator.itemgetter(0)


def key_ranges(condition: dict[str, Any]) -> list[tuple[Key, Key]]:
    """[low, high) intervals of order keys holding the values `condition` matches as MongoDB
    compares them: within the bound's kind of value, NaN below every number and matched
    only by NaN. A NaN bound gives every number (more than it matches: not `exact`)."""
    operator, bound = next(iter(condition.items()))
    if operator == "$in":
        return [r for value in bound for r in key_ranges({"$eq": value})]
    kind = _BOOLS if isinstance(bound, bool) else _STRINGS if isinstance(bound, str) else _NUMBERS
    if kind == _NUMBERS and math.isnan(bound):
        return [((_NUMBERS,), (_NUMBERS + 1,))]
    at = order_key(bound)
    if operator == "$eq":
        return [(at, (*at, 1))]
    # (*at, 1) sorts right after `at` and before every greater value; (_NUMBERS, 1) after NaN.
    if operator == "$gt":
        return [((*at, 1), (kind + 1,))]
    if operator == "$gte":
        return [(at, (kind + 1,))]
    lowest = (_NUMBERS, 1) if kind == _NUMBERS else (kind,)
    return [(lowest, at if operator == "$lt" else (*at, 1))]


def exact(search: Search, ranges: list[Range], snapshot: Snapshot) -> bool:
    """Whether the index alone answers `search`'s filter: each condition is a range
    (`ranges`, one per condition) whose values the index holds as the database matches them,
    with no NaN bound and no experiment whose hyperparameters overflowed."""
    if len(ranges) != len(conjuncts(search.where)):
        return False
    for found in ranges:
        operator, bound = next(iter(found.condition.items()))
        bounds = bound if operator == "$in" else [bound]
        if any(isinstance(b, float) and math.isnan(b) for b in bounds):
            return False
        if found.field.startswith("h.") and snapshot.fields[OVERFLOW].held:
            return False
    return True


class Indexed(Paged):
    def __init__(
        self, index: SearchIndex, collection: AsyncCollection[Any], database: Database
    ) -> None:
        super().__init__(collection, database)
        self.index = index

    async def documents(
        self,
        plan: Plan,
        search: Search,
        namespace: str,
        first: int,
        after: str | None,
        *,
        slim: bool = False,
        since: float | None = None,
    ) -> list[dict[str, Any]] | None:
        """The first `first + 1` documents of `plan` (one namespace's search) in its order,
        with their sort values (`_m0`, `_s0`: pages of several namespaces merge on them); or
        None: another plan must serve it. `slim`: records of only `id`, `name` and
        `namespace` will do; a search by name (or newest first) whose filter the index
        answers `exact`ly then reads no document."""
        if len(search.order) > 1:
            return None
        sort_field, descending = "", True
        if search.order:
            subject, descending = search.order[0].subject, search.order[0].direction == "DESC"
            if isinstance(subject, Metric) and subject.dataset is None:
                sort_field = metric_field(subject.key, subject.aggregate)
            elif subject != Attribute("name"):
                return None
        ranges, snapshot = await self._view(search, namespace, sort_field, since)
        if snapshot is None:
            return None
        try:
            start = self._start(plan, after, first)
            walk = self._walk(snapshot, search, sort_field, descending, start)
            candidates = self._candidates(snapshot, ranges)
            if candidates is not None and not sort_field and _few(candidates, snapshot, first):
                walk = _ordered(snapshot, candidates, bool(search.order), descending, start)
            elif candidates is not None:
                walk = (e for e in walk if e in candidates)
            documents: list[dict[str, Any]] | None
            if slim and not sort_field and exact(search, ranges, snapshot):
                documents = named(plan, snapshot, namespace, walk, first)
            else:
                documents = await self._matched(plan, walk, first, start)
        except Unordered:
            return None
        return documents

    async def count(self, search: Search, namespace: str, since: float | None = None) -> int | None:
        """How many experiments of `namespace` match `search`, when the index answers its
        filter `exact`ly (no document read); None when the database must count."""
        ranges, snapshot = await self._view(search, namespace, "", since)
        if snapshot is None or not exact(search, ranges, snapshot):
            return None
        candidates = self._candidates(snapshot, ranges)
        names = snapshot.names.of
        return len(names) if candidates is None else sum(e in names for e in candidates)

    async def _view(
        self, search: Search, namespace: str, sort_field: str, since: float | None
    ) -> tuple[list[Range], Snapshot | None]:
        """The search's range conditions, and the index of what they and the sort name
        (current as of `since`: SearchIndex.snapshot)."""
        ranges = [r for r in map(as_range, conjuncts(search.where)) if r is not None]
        fields = {r.field for r in ranges} | ({sort_field} if sort_field else set())
        if any(r.field.startswith("h.") for r in ranges):
            fields.add(OVERFLOW)
        return ranges, await self.index.snapshot(namespace, fields, since)

    def _start(self, plan: Plan, after: str | None, first: int) -> list[Any] | None:
        if after is None:
            return None
        plan.stages(after, first, self.cursors)  # refuses a cursor of another search
        return self.cursors.decode(after)

    @staticmethod
    def _candidates(snapshot: Snapshot, ranges: list[Range]) -> set[bytes] | None:
        """The experiments every range condition may hold (None: no range, all may): those
        of the narrowest range, kept where each wider one holds them too."""
        measured = []
        for found in ranges:
            values = snapshot.fields[found.field]
            spans = [values.span(low, high) for low, high in key_ranges(found.condition)]
            # Experiments with too many hyperparameters to copy may hold any of them.
            held = snapshot.fields[OVERFLOW].held if found.field.startswith("h.") else {}
            size = sum(s.stop - s.start for s in spans) + len(held)
            measured.append((size, values, spans, held))
        candidates: set[bytes] | None = None
        for _, values, spans, held in sorted(measured, key=_SIZE):
            inside = itertools.chain(*(map(_EXPERIMENT, values.entries[s]) for s in spans), held)
            if candidates is None:
                candidates = set(inside)
            else:
                candidates.intersection_update(inside)
        return candidates

    @staticmethod
    def _walk(
        snapshot: Snapshot,
        search: Search,
        sort_field: str,
        descending: bool,
        start: list[Any] | None,
    ) -> Iterator[bytes]:
        """The namespace's experiments in the search's order, from past the cursor `start`:
        those with a sort value first, then those without, by id in the sort's direction."""
        names = snapshot.names
        if not search.order:
            return _onward(names.ids, start[-1].binary if start else None, True)
        valued = snapshot.fields[sort_field] if sort_field else None
        at: tuple[Any, bytes] | None = None
        experiment: bytes | None = None
        if start is not None:
            value, experiment = start[0], start[-1].binary
            if not sort_field and value is not None and not isinstance(value, str):
                # A cursor of another order, whose value names do not compare with here.
                raise Unordered(type(value).__name__)
            if value is not None:
                at = (value if not sort_field else order_key(value), experiment)
        walked: Iterable[bytes] = ()
        if start is None or at is not None:
            entries = valued.entries if valued is not None else names.entries
            walked = map(_EXPERIMENT, _onward(entries, at, descending))
        if valued is not None:
            absent = _onward(names.ids, None if at is not None else experiment, descending)
            walked = itertools.chain(walked, (e for e in absent if e not in valued.held))
        return _once(walked)

    async def _matched(
        self, plan: Plan, walk: Iterator[bytes], first: int, start: list[Any] | None
    ) -> list[dict[str, Any]] | None:
        """The first `first + 1` walked experiments the database matches, in the plan's
        order; None when too many did not match (the other plans serve it)."""

        async def chunk(part: list[ObjectId]) -> list[dict[str, Any]]:
            # Only the filter: the sort values are read here, which SecantusDB's
            # `$addFields` and `$sort` would cost about as much again as the match.
            pipeline = [{"$match": {"_id": {"$in": part}}}, {"$match": plan.query}]
            found = await self.collection.aggregate(pipeline, batchSize=len(part) + 1)
            return await found.to_list()

        key = sort_key(plan)
        cursor = key(_sorted_by(plan, {"_id": start[-1]}, start[0])) if start else None
        documents: list[dict[str, Any]] = []
        checked = 0
        while len(documents) <= first:
            # The first batch is the page, if all match; later ones as twice what is missing.
            wanted = first + 1 - len(documents)
            size = wanted if not checked else max(2 * wanted, CHUNK)
            batch = [ObjectId(e) for e in itertools.islice(walk, size)]
            if not batch:
                break
            checked += len(batch)
            if checked > 2 * (first + 1) + EXTRA_CHECKED:
                return None
            parts = [batch[i : i + CHUNK] for i in range(0, len(batch), CHUNK)]
            for page in await asyncio.gather(*(chunk(part) for part in parts)):
                for document in page:
                    _sorted_by(plan, document)
                    if cursor is None or cursor < key(document):
                        documents.append(document)
        return sorted(documents, key=key)[: first + 1]


def named(
    plan: Plan, snapshot: Snapshot, namespace: str, walk: Iterator[bytes], first: int
) -> list[dict[str, Any]]:
    """The first `first + 1` walked experiments as documents of their id and name, read
    from the index: the walk is in the plan's order, past its cursor, and matches it."""
    names = snapshot.names.of
    documents = [
        {"_id": ObjectId(e), "name": names[e], "namespace": namespace}
        for e in itertools.islice(walk, first + 1)
    ]
    if plan.order:  # by name: the sort value `_sorted_by` would read
        for document in documents:
            document["_m0"], document["_s0"] = 0, document["name"]
    return documents


def _few(candidates: set[bytes], snapshot: Snapshot, first: int) -> bool:
    """Whether sorting `candidates` costs less than walking past the others to a full page."""
    return len(candidates) ** 2 < (first + 1) * len(snapshot.names.of)


def _ordered(
    snapshot: Snapshot,
    candidates: set[bytes],
    by_name: bool,
    descending: bool,
    start: list[Any] | None,
) -> Iterator[bytes]:
    """`candidates` in the order `_walk` gives by name (or newest first), past `start`."""
    names = snapshot.names.of
    if not by_name:
        after = start[-1].binary if start else None
        ids = (e for e in candidates if e in names and (after is None or e < after))
        return iter(sorted(ids, reverse=True))
    if start is not None and start[0] is None:
        return iter(())
    at = (start[0], start[-1].binary) if start else None
    keyed = ((names[e], e) for e in candidates if e in names)
    if at is not None:
        keyed = (k for k in keyed if (k < at if descending else k > at))
    return map(_EXPERIMENT, sorted(keyed, reverse=descending))


def _onward(entries: SortedList, after: Any, descending: bool) -> Iterator[Any]:
    """`entries` in order (reversed when `descending`) from past `after` (None: from the
    first), a few at a time, each time found again by key: the walk outlasts this turn of
    the loop, and other searches' pulls change the index meanwhile."""
    while True:
        if descending:
            end = len(entries) if after is None else entries.bisect_left(after)
            step = entries[max(0, end - STEP) : end][::-1]
        else:
            begin = 0 if after is None else entries.bisect_right(after)
            step = entries[begin : begin + STEP]
        if not step:
            return
        yield from step
        after = step[-1]


def _once(walked: Iterable[bytes]) -> Iterator[bytes]:
    """Each experiment once: one whose value changed mid-walk may be met again further on."""
    seen: set[bytes] = set()
    for experiment in walked:
        if experiment not in seen:
            seen.add(experiment)
            yield experiment


def _sorted_by(plan: Plan, document: dict[str, Any], *value: Any) -> dict[str, Any]:
    """`document` with its sort value (`_m0`, `_s0`) as `Plan.stages` adds it: read from
    the document, or `value` given. Arrays and nulls count as absent."""
    if plan.order:
        expression = plan.order[0][0]
        found: Any = document
        if value:
            found = value[0]
        else:
            for part in expression.removeprefix("$").split("."):
                found = found.get(part) if isinstance(found, dict) else None
        absent = found is None or isinstance(found, list)
        document["_m0"], document["_s0"] = (1, None) if absent else (0, found)
    return document
