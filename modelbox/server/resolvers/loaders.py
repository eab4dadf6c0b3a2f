"""Per-request DataLoaders: every read of an object goes through one of these.

They batch (a nested query costs round trips bounded by its depth) and they
authorize: an object in a namespace the caller may not read loads as None,
whichever path asked for it (`node`, nested fields, federation entities).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from strawberry.dataloader import DataLoader

from modelbox.server.access import Principal, Role
from modelbox.server.store import Page, Record, Store
from modelbox.server.store.repository import R, Repository
from modelbox.server.store.search import Plan, Searchable


@dataclass(frozen=True)
class PageRequest:
    """One connection to load: the children of `parent` matching `query`.

    Requests are told apart by `query_json`; `query` itself keeps its values' types
    (datetimes stay datetimes, which JSON would turn into strings).
    """

    parent: str
    first: int
    after: str | None
    query_json: str
    query: dict[str, Any] = field(compare=False, hash=False, repr=False)

    @staticmethod
    def of(parent: str, first: int, after: str | None, query: dict[str, Any]) -> PageRequest:
        query_json = orjson.dumps(query, option=orjson.OPT_SORT_KEYS).decode()
        return PageRequest(parent, first, after, query_json, query)

    @property
    def counted(self) -> PageRequest:
        """The key of this list's `totalCount`: the same whatever the page."""
        return replace(self, first=0, after=None)


@dataclass(frozen=True)
class SearchPage:
    """The first page of `parent`'s objects found by a search (`key` names the search)."""

    key: str
    plan: Plan = field(compare=False, hash=False)
    parent: Any = None
    first: int = 0
    slim: bool = False  # only the records' ids and names are read (Searchable.search)


class Loaders:
    def __init__(
        self,
        store: Store,
        principal: Callable[[], Principal],
        shared_reads: dict[Any, Any] | None = None,
    ) -> None:
        self.store = store
        # A callable, so an unauthenticated caller is refused when a load is tried.
        self.principal = principal
        self.shared_reads = shared_reads
        self.namespace = self._authorized(
            store.namespaces.get_by_names, namespace_of=lambda r: r["name"]
        )
        self.model = self._authorized(store.models.get_many)
        self.version = self._authorized(store.versions.get_many)
        self.experiment = self._authorized(store.experiments.get_many)
        self.checkpoint = self._authorized(store.checkpoints.get_many)
        self.event = self._authorized(store.events.get_many)
        self.model_by_name = self._authorized(
            lambda keys: store.models.get_by(("namespace", "name"), keys)
        )
        self.experiment_by_name = self._authorized(
            lambda keys: store.experiments.get_by(("namespace", "name"), keys)
        )
        self.version_by_number = self._authorized(
            lambda keys: store.versions.get_by(("model_id", "version"), keys)
        )
        # Metric series summaries, keyed (subject id, key) or by subject id for all of them;
        # only reached from a subject the caller has already read.
        self.metric_series = DataLoader(load_fn=store.metrics.summaries)
        self.metric_series_of = DataLoader(load_fn=store.metrics.summaries_of)
        # Points of series' step ranges for plots, many series in one command.
        self.metric_points = DataLoader(load_fn=store.metrics.points_many)
        # Plots of long series through their precomputed tiles, many series in one command.
        self.metric_plots = DataLoader(load_fn=store.metrics.plot_many)
        self.artifact = self._authorized(store.artifacts.get_many)
        self.policy = self._authorized(store.policies.get_many)
        self.policy_evaluation = self._authorized(store.policy_evaluations.get_many)
        # Audit events, for the admins of a namespace they are scoped to (as listed).
        self.audit_event = self._authorized(store.audit.get_many, may_read=_audit_reader)
        # The loader of each node type, for global ids, which say what type they are.
        self.of_type: dict[str, DataLoader[Any, Any]] = {
            "Namespace": self.namespace,
            "Model": self.model,
            "ModelVersion": self.version,
            "Experiment": self.experiment,
            "Checkpoint": self.checkpoint,
            "Event": self.event,
            "Artifact": self.artifact,
            "Policy": self.policy,
            "PolicyEvaluation": self.policy_evaluation,
            "AuditEvent": self.audit_event,
        }
        self._pages: dict[tuple[str, str], DataLoader[PageRequest, Page]] = {}
        self._counts: dict[tuple[str, str], DataLoader[PageRequest, int]] = {}
        self._search_pages: dict[tuple[str, str], DataLoader[SearchPage, Page]] = {}
        self._search_counts: dict[tuple[str, str], DataLoader[SearchPage, int]] = {}

    def _authorized(
        self,
        load: Callable[[list[Any]], Awaitable[Sequence[R | None]]],
        namespace_of: Callable[[R], str] = lambda record: record["namespace"],
        may_read: Callable[[Principal, R], bool] | None = None,
    ) -> DataLoader[Any, R | None]:
        def viewer(principal: Principal, record: R) -> bool:
            return principal.can(namespace_of(record), Role.VIEWER)

        allowed = may_read or viewer

        async def batch(keys: list[Any]) -> list[R | None]:
            principal = self.principal()
            records = await self._read(load, keys)
            return [record if record and allowed(principal, record) else None for record in records]

        return DataLoader(load_fn=batch)

    async def _read(
        self, load: Callable[[list[Any]], Awaitable[Sequence[R | None]]], keys: list[Any]
    ) -> Sequence[R | None]:
        """`load(keys)`, or, with shared reads, what another subscriber of the same change
        read or is reading (the access check above is each caller's own)."""
        shared = self.shared_reads
        if shared is None:
            return await load(keys)
        missing = [key for key in keys if ("read", load, key) not in shared]
        if missing:
            reading = asyncio.ensure_future(load(missing))
            for position, key in enumerate(missing):
                shared["read", load, key] = (reading, position)
        records = []
        for key in keys:
            reading, position = shared["read", load, key]
            # Shielded: one subscriber leaving must not cancel the others' read.
            records.append((await asyncio.shield(reading))[position])
        return records

    def readable(self, query: dict[str, Any]) -> dict[str, Any]:
        """`query` narrowed to the namespaces the caller reads, whatever the parent: links
        stay within a namespace, but no page relies on data written before that was checked."""
        principal = self.principal()
        if principal.sees_all_namespaces:
            return query
        visible = {"namespace": {"$in": sorted(principal.namespaces)}}
        return {"$and": [query, visible]} if query else visible

    def pages(self, repository: Repository, parent_field: str) -> DataLoader[PageRequest, Page]:
        """Pages of `repository`'s objects under parents the caller has already read."""
        key = (repository.collection_name, parent_field)
        if key not in self._pages:

            async def batch(requests: list[PageRequest]) -> list[Page]:
                results: dict[PageRequest, Page] = {}
                firsts: dict[tuple[int, str], list[PageRequest]] = defaultdict(list)
                for request in requests:
                    if request.after is None:
                        firsts[(request.first, request.query_json)].append(request)
                    else:
                        results[request] = await repository.page(
                            parent_field,
                            request.parent,
                            request.first,
                            request.after,
                            self.readable(request.query),
                        )
                for (first, _), group in firsts.items():
                    pages = await repository.first_pages(
                        parent_field,
                        [r.parent for r in group],
                        first,
                        self.readable(group[0].query),
                    )
                    results.update(zip(group, pages, strict=True))
                return [results[request] for request in requests]

            self._pages[key] = DataLoader(load_fn=batch)
        return self._pages[key]

    def search_pages(
        self, repository: Searchable, parent_field: str
    ) -> DataLoader[SearchPage, Page]:
        """First pages of searches under parents the caller has already read, batched per
        search and page size across parents (a nested query: one command per level)."""
        name = (type(repository).__name__, parent_field)
        if name not in self._search_pages:

            async def batch(requests: list[SearchPage]) -> list[Page]:
                groups: dict[tuple[str, int, bool], list[SearchPage]] = defaultdict(list)
                for request in requests:
                    groups[(request.key, request.first, request.slim)].append(request)
                pages: dict[SearchPage, Page] = {}
                for (_, first, slim), group in groups.items():
                    parents = list(dict.fromkeys(r.parent for r in group))
                    found = await repository.search_first_pages(
                        group[0].plan, parent_field, parents, first, slim=slim
                    )
                    by_parent = dict(zip(parents, found, strict=True))
                    pages.update((r, by_parent[r.parent]) for r in group)
                return [pages[request] for request in requests]

            self._search_pages[name] = DataLoader(load_fn=batch)
        return self._search_pages[name]

    def search_counts(
        self, repository: Searchable, parent_field: str
    ) -> DataLoader[SearchPage, int]:
        """`totalCount`s of searches under parents, batched per search across parents;
        keys are SearchPage with `first` 0."""
        name = (type(repository).__name__, parent_field)
        if name not in self._search_counts:

            async def batch(requests: list[SearchPage]) -> list[int]:
                groups: dict[str, list[SearchPage]] = defaultdict(list)
                for request in requests:
                    groups[request.key].append(request)
                counts: dict[SearchPage, int] = {}
                for group in groups.values():
                    parents = list(dict.fromkeys(r.parent for r in group))
                    found = await repository.search_counts(group[0].plan, parent_field, parents)
                    by_parent = dict(zip(parents, found, strict=True))
                    counts.update((r, by_parent[r.parent]) for r in group)
                return [counts[request] for request in requests]

            self._search_counts[name] = DataLoader(load_fn=batch)
        return self._search_counts[name]

    def counts(self, repository: Repository, parent_field: str) -> DataLoader[PageRequest, int]:
        """`totalCount`s, batched like the pages; keys are `PageRequest.counted`."""
        key = (repository.collection_name, parent_field)
        if key not in self._counts:

            async def batch(keys: list[PageRequest]) -> list[int]:
                by_query: dict[str, list[PageRequest]] = defaultdict(list)
                for request in keys:
                    by_query[request.query_json].append(request)
                totals: dict[PageRequest, int] = {}
                for group in by_query.values():
                    counts = await repository.counts(
                        parent_field, [r.parent for r in group], self.readable(group[0].query)
                    )
                    totals.update(zip(group, counts, strict=True))
                return [totals[k] for k in keys]

            self._counts[key] = DataLoader(load_fn=batch)
        return self._counts[key]


def _audit_reader(principal: Principal, record: Record) -> bool:
    return any(principal.can(scope, Role.ADMIN) for scope in record.get("scopes") or [])
