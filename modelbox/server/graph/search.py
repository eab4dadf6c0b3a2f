"""Inputs of search: conditions on hyperparameters and metrics, and sort orders."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from modelbox.server.graph.enums import Comparison, MetricAggregate, SortDirection

QUERY_DESCRIPTION = (
    "A filter as text, a superset of MLflow's search grammar: `metrics.val_acc > 0.9 and"
    " params.lr < 0.01`, `or`, `not`, parentheses, `in (...)`, `like`, `is null`,"
    ' `metrics.val_acc.max`, `attributes.status = "FINISHED"`; held together with `filter`.'
)
# The `query:` argument of the searchable connections.
QueryText = Annotated[str | None, strawberry.argument(description=QUERY_DESCRIPTION)]


@strawberry.input(
    description="A hyperparameter by its path (`optimizer.lr`): exactly one of op (with value),"
    " in, exists."
)
class ValueFilterInput:
    path: str
    op: Comparison | None = None
    value: JSON | None = None
    in_: list[JSON] | None = strawberry.field(default=None, name="in")
    exists: bool | None = None


@strawberry.input(description="A metric summary compared with a number.")
class MetricFilterInput:
    key: str
    aggregate: MetricAggregate = MetricAggregate.LAST
    op: Comparison
    value: float
    dataset: str | None = strawberry.field(
        default=None, description="Model versions: the dataset the metric was measured on."
    )


@strawberry.input(
    description="One sort key: exactly one of metric, hyperparameter, field. Objects without"
    " the value come last either way; ties are broken by id."
)
class ExperimentOrder:
    metric: str | None = None
    aggregate: MetricAggregate = MetricAggregate.LAST
    hyperparameter: str | None = None
    field: str | None = strawberry.field(
        default=None,
        description="name, owner, status, framework, createdAt, startedAt or endedAt.",
    )
    direction: SortDirection = SortDirection.DESC


@strawberry.input(
    description="One sort key: exactly one of metric (with dataset), field. Versions without"
    " the value come last either way; ties are broken by id."
)
class ModelVersionOrder:
    metric: str | None = None
    aggregate: MetricAggregate = MetricAggregate.LAST
    dataset: str | None = None
    field: str | None = strawberry.field(
        default=None, description="version, name, framework, createdAt or updatedAt."
    )
    direction: SortDirection = SortDirection.DESC
