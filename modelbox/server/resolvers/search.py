"""Search of experiments and model versions: the `filter` input and the `query` text become
one `Search`, which the store compiles and runs; the caller's namespaces bound it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from modelbox.search.fields import EXPERIMENT_ATTRIBUTES, VERSION_ATTRIBUTES
from modelbox.search.grammar import AttributeSpec, SearchSyntaxError, parse
from modelbox.search.terms import (
    All,
    Any_,
    Attribute,
    Condition,
    Direction,
    Label,
    Metric,
    Not,
    Order,
    Param,
    Search,
    Subject,
    Term,
    conjoin,
)
from modelbox.server.errors import BadUserInput, Unsearchable
from modelbox.server.resolvers import models
from modelbox.server.resolvers.context import Context
from modelbox.server.resolvers.listing import Listing, page_size
from modelbox.server.resolvers.loaders import SearchPage
from modelbox.server.store.experiments import Experiments
from modelbox.server.store.models import ModelRecord
from modelbox.server.store.namespaces import NamespaceRecord
from modelbox.server.store.records import object_id
from modelbox.server.store.search import Fields, Searchable
from modelbox.server.store.versions import ModelVersions

# Bounds on one search, so that a request cannot make the database do unbounded work.
MAX_CONDITIONS = 64
MAX_IN_VALUES = 100
MAX_ORDER_KEYS = 4
MAX_PATH_DEPTH = 16
ORDER_FIELDS = {
    "Experiment": {"name", "owner", "status", "framework", "created_at", "started_at", "ended_at"},
    "ModelVersion": {"version", "name", "framework", "created_at", "updated_at"},
}
SEARCH_FIELDS = {
    "Experiment": Experiments.search_fields,
    "ModelVersion": ModelVersions.search_fields,
}
_CAMEL = {"createdAt": "created_at", "startedAt": "started_at", "endedAt": "ended_at"}
_CAMEL |= {"updatedAt": "updated_at"}


def _path(path: str, field: str) -> tuple[str, ...]:
    segments = tuple(path.split("."))
    if not path or "" in segments or len(segments) > MAX_PATH_DEPTH or "$" in path:
        raise BadUserInput(
            f"{field}: {path!r} is not a path like optimizer.lr (at most"
            f" {MAX_PATH_DEPTH} segments, no '$')",
            field=field,
        )
    return segments


def _value_filter(spec: Mapping[str, Any]) -> Condition:
    """A ValueFilterInput: exactly one of op (with value), in, exists."""
    subject = Param(_path(spec["path"], "filter.hyperparameters.path"))
    given = [name for name in ("op", "in_", "exists") if spec.get(name) is not None]
    if len(given) != 1:
        raise BadUserInput(
            "filter.hyperparameters: give exactly one of op (with value), in, exists",
            field="filter.hyperparameters",
        )
    if given == ["in_"]:
        values = spec["in_"]
        if len(values) > MAX_IN_VALUES:
            raise BadUserInput(
                f"filter.hyperparameters.in: at most {MAX_IN_VALUES} values (MAX_IN_VALUES)",
                field="filter.hyperparameters.in",
            )
        return Condition(subject, "IN", tuple(values))
    if given == ["exists"]:
        return Condition(subject, "EXISTS", bool(spec["exists"]))
    if "value" not in spec:
        raise BadUserInput(
            "filter.hyperparameters: op needs a value", field="filter.hyperparameters"
        )
    return Condition(subject, spec["op"], spec["value"])


def _metric_filter(spec: Mapping[str, Any]) -> Condition:
    metric = Metric(spec["key"], spec.get("aggregate") or "LAST", spec.get("dataset"))
    return Condition(metric, spec["op"], spec["value"])


def filter_terms(filter: Mapping[str, Any]) -> list[Term]:
    """The conditions of an ExperimentFilter or ModelVersionFilter, all of which must hold."""
    terms: list[Term] = []
    for name in ("status", "owner", "framework"):
        if filter.get(name) is not None:
            terms.append(Condition(Attribute(name), "EQ", filter[name]))
    if filter.get("alias") is not None:
        terms.append(Condition(Attribute("aliases"), "EQ", filter["alias"]))
    for alias in filter.get("aliases") or ():
        terms.append(Condition(Attribute("aliases"), "EQ", alias))
    for label in filter.get("labels") or ():
        terms.append(Condition(Label(label["key"]), "EQ", label["value"]))
    if filter.get("name_prefix"):
        terms.append(Condition(Attribute("name"), "PREFIX", filter["name_prefix"]))
    for field, op in (("after", "GTE"), ("before", "LT")):
        for stamp in ("created", "started"):
            if filter.get(f"{stamp}_{field}") is not None:
                terms.append(Condition(Attribute(f"{stamp}_at"), op, filter[f"{stamp}_{field}"]))  # type: ignore[arg-type]
    terms += [_value_filter(spec) for spec in filter.get("hyperparameters") or ()]
    terms += [_metric_filter(spec) for spec in filter.get("metrics") or ()]
    return terms


def _order(spec: Mapping[str, Any], object_type: str) -> Order:
    given = [name for name in ("metric", "hyperparameter", "field") if spec.get(name)]
    if len(given) != 1:
        raise BadUserInput(
            "orderBy: give exactly one of metric, hyperparameter, field", field="orderBy"
        )
    direction: Direction = "ASC" if spec.get("direction") == "ASC" else "DESC"
    subject: Subject
    if given == ["metric"]:
        subject = Metric(spec["metric"], spec.get("aggregate") or "LAST", spec.get("dataset"))
    elif given == ["hyperparameter"]:
        subject = Param(_path(spec["hyperparameter"], "orderBy.hyperparameter"))
    else:
        name = _CAMEL.get(spec["field"], spec["field"])
        if name not in ORDER_FIELDS[object_type]:
            known = ", ".join(sorted(ORDER_FIELDS[object_type]))
            raise BadUserInput(f"orderBy.field: one of {known}", field="orderBy.field")
        subject = Attribute(name)
    return Order(subject, direction)


def _count(term: Term) -> int:
    if isinstance(term, All | Any_):
        return sum(_count(t) for t in term.terms)
    if isinstance(term, Not):
        return _count(term.term)
    if term.op in ("IN", "NIN") and len(term.value) > MAX_IN_VALUES:
        raise BadUserInput(
            f"query: an 'in' list holds at most {MAX_IN_VALUES} values (MAX_IN_VALUES)",
            field="query",
        )
    return 1


def build(
    object_type: str,
    filter: Mapping[str, Any] | None,
    order_by: Iterable[Mapping[str, Any]] | None,
    query: str | None,
) -> Search:
    """The search the arguments ask for, validated and bounded."""
    attributes: Mapping[str, AttributeSpec] = (
        EXPERIMENT_ATTRIBUTES if object_type == "Experiment" else VERSION_ATTRIBUTES
    )
    fields = SEARCH_FIELDS[object_type]
    terms = filter_terms(filter or {})
    _searchable(fields, "filter", terms)
    if query is not None and query.strip():
        try:
            terms.append(parse(query, attributes))
        except SearchSyntaxError as error:
            raise BadUserInput(f"query: {error}", field="query") from None
        _searchable(fields, "query", terms[-1:])
    where = conjoin(*terms) if terms else All(())
    if _count(where) > MAX_CONDITIONS:
        raise BadUserInput(
            f"filter and query: at most {MAX_CONDITIONS} conditions (MAX_CONDITIONS)",
            field="filter",
        )
    orders = list(order_by or ())
    if len(orders) > MAX_ORDER_KEYS:
        raise BadUserInput(
            f"orderBy: at most {MAX_ORDER_KEYS} keys (MAX_ORDER_KEYS)", field="orderBy"
        )
    order = tuple(_order(o, object_type) for o in orders)
    _searchable(fields, "orderBy", orders=order)
    return Search(where, order)


def _searchable(
    fields: Fields, argument: str, terms: Iterable[Term] = (), orders: Iterable[Order] = ()
) -> None:
    """Compiles `argument`'s part of a search as the store will, so that what the store
    refuses to search by is reported on the argument that asked for it."""
    try:
        for term in terms:
            fields.compile(term)
        for order in orders:
            fields.sort_value(order.subject)
    except Unsearchable as refused:
        raise BadUserInput(f"{argument}: {refused.message}", field=argument) from None


def readable_namespaces(ctx: Context) -> dict[str, Any]:
    """The part of a query that keeps to the namespaces the caller may read."""
    principal = ctx.principal
    if principal.sees_all_namespaces:
        return {}
    return {"namespace": {"$in": sorted(principal.namespaces)}}


async def listing(
    ctx: Context,
    repository: Searchable,
    search: Search,
    base: dict[str, Any],
    first: int | None,
    after: str | None,
    slim: bool = False,
) -> Listing:
    plan = repository.search_plan(search, base)
    page = await repository.search(plan, page_size(ctx, first), after, slim=slim)
    return Listing(page, lambda: repository.search_count(plan))


async def children(
    ctx: Context,
    repository: Searchable,
    search: Search,
    parent_field: str,
    parent: Any,
    first: int | None,
    after: str | None,
    slim: bool = False,
) -> Listing:
    """A parent's objects found by `search`: first pages of sibling parents (a nested query)
    load in one command, like the plain listings. `slim`: the caller reads only the
    objects' ids and names."""
    size = page_size(ctx, first)
    if after is not None:
        return await listing(ctx, repository, search, {parent_field: parent}, size, after, slim)
    plan = repository.search_plan(search, {})
    page = await ctx.loaders.search_pages(repository, parent_field).load(
        SearchPage(repr(search), plan, parent, size, slim)
    )
    counts = ctx.loaders.search_counts(repository, parent_field)
    return Listing(page, lambda: counts.load(SearchPage(repr(search), plan, parent)))


PLAIN_FILTERS = frozenset({"status", "owner", "labels", "framework", "alias"})


def is_plain(
    filter: Mapping[str, Any] | None, order_by: list[Any] | None, query: str | None
) -> bool:
    """A listing the older, batched path serves: newest first, simple field filters."""
    return not order_by and not (query and query.strip()) and set(filter or ()) <= PLAIN_FILTERS


async def experiments(
    ctx: Context,
    namespace: NamespaceRecord | None,
    first: int | None,
    after: str | None,
    search: Search,
    slim: bool = False,
) -> Listing:
    """Experiments of one namespace (already read by the caller), or of every one it reads."""
    if namespace is not None:
        return await children(
            ctx, ctx.store.experiments, search, "namespace", namespace["name"], first, after, slim
        )
    base = readable_namespaces(ctx)
    return await listing(ctx, ctx.store.experiments, search, base, first, after, slim)


async def versions(
    ctx: Context, model: ModelRecord, first: int | None, after: str | None, search: Search
) -> Listing:
    """Versions of a model the caller has already read."""
    model_id = object_id(model["id"])
    return await children(ctx, ctx.store.versions, search, "model_id", model_id, first, after)


async def experiments_listing(
    ctx: Context,
    namespace: NamespaceRecord | None,
    first: int | None,
    after: str | None,
    filter: dict[str, Any] | None,
    order_by: list[dict[str, Any]] | None,
    query: str | None,
    *,
    slim: bool = False,
) -> Listing:
    """`Namespace.experiments` (with the namespace) and `Query.experiments` (without), all
    as searches: one namespace's, even newest first with no filter, is served by the
    process's search index. `slim`: the selection reads only the experiments' ids and names."""
    found = build("Experiment", filter, order_by, query)
    return await experiments(ctx, namespace, first, after, found, slim)


async def versions_listing(
    ctx: Context,
    model: ModelRecord,
    first: int | None,
    after: str | None,
    filter: dict[str, Any] | None,
    order_by: list[dict[str, Any]] | None,
    query: str | None,
) -> Listing:
    if is_plain(filter, order_by, query):
        return await models.versions_of(ctx, model, first, after, filter or {})
    return await versions(ctx, model, first, after, build("ModelVersion", filter, order_by, query))
