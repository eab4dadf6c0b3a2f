"""Metric series in the graph: columnar points, summaries, `logMetrics`."""

from __future__ import annotations

import base64
import enum
from collections.abc import AsyncGenerator
from functools import partial
from typing import Any

import strawberry
from strawberry.scalars import Base64

from modelbox.server.graph.columnar import Column
from modelbox.server.graph.nonfinite import (
    NonFinite,
    NonFiniteValue,
    NonFiniteValueInput,
    as_floats,
    finite_or_none,
    kind_of,
    split,
)
from modelbox.server.graph.scalars import Long
from modelbox.server.graph.shared import live, shared_form
from modelbox.server.resolvers import metrics, metrics_live
from modelbox.server.resolvers.context import Context
from modelbox.server.store import Record
from modelbox.server.store.metrics import Columns
from modelbox.server.store.metrics.summaries import SeriesRecord

Info = strawberry.Info[Context, None]


@strawberry.enum
class MetricKind(enum.Enum):
    FLOAT = "FLOAT"
    TENSOR = "TENSOR"
    BYTES = "BYTES"


# The MetricPoints column and the MetricPoint field of each kind's values.
COLUMN = {"FLOAT": "values", "TENSOR": "tensors", "BYTES": "bytes"}
POINT_FIELD = {"FLOAT": "value", "TENSOR": "tensor", "BYTES": "bytes"}


@strawberry.type(description="One point; exactly one of value, tensor and bytes is set.")
class MetricPoint:
    step: Long
    wallclock: float = strawberry.field(description="Seconds since the Unix epoch (UTC).")
    value: float | None = None
    tensor: str | None = None
    bytes: Base64 | None = None
    non_finite: NonFinite | None = strawberry.field(
        default=None, description="Set when the value is NaN or infinite (value is then null)."
    )


@strawberry.type(
    description="Points as parallel columns in ascending step order; the column of the"
    " series' kind is set, the other two are null."
)
class MetricPoints:
    steps: list[Long]
    wallclocks: list[float]
    values: list[float | None] | None = None
    tensors: list[str | None] | None = None
    bytes: list[Base64 | None] | None = None
    non_finite: list[NonFiniteValue] | None = strawberry.field(
        default=None,
        description="FLOAT series: the positions of `values` that are NaN or infinite (null"
        " there), and what they are.",
    )

    @classmethod
    def of(cls, columns: Columns) -> MetricPoints:
        values: list[Any] = columns.column
        special = None
        if columns.kind == MetricKind.BYTES.value:
            values = [base64.b64encode(value).decode() for value in values]
        elif columns.kind == MetricKind.FLOAT.value:
            values, special = split(values)
        return cls(
            steps=Column(columns.steps),
            wallclocks=Column(columns.wallclocks),
            non_finite=special,
            **{COLUMN[columns.kind]: Column(values)},
        )


def _point(kind: str, last: dict[str, Any] | None) -> MetricPoint | None:
    if last is None:
        return None
    field = POINT_FIELD[kind]
    value = last[field]
    if kind == MetricKind.FLOAT.value and finite_or_none(value) is None:
        special = kind_of(value)
        return MetricPoint(step=last["step"], wallclock=last["wallclock"], non_finite=special)
    return MetricPoint(step=last["step"], wallclock=last["wallclock"], **{field: value})


@strawberry.type(description="A named series of points logged against an experiment or version.")
class MetricSeries:
    summary: strawberry.Private[SeriesRecord]
    key: str
    kind: MetricKind
    count: int
    first_step: Long | None
    last_step: Long | None
    min: float | None
    max: float | None
    last: MetricPoint | None

    @classmethod
    def from_record(cls, r: SeriesRecord) -> MetricSeries:
        return cls(
            summary=r,
            key=r["key"],
            kind=MetricKind(r["kind"]),
            count=r["count"],
            first_step=Long(r["first_step"]),
            last_step=Long(r["last_step"]),
            min=r.get("min"),
            max=r.get("max"),
            last=_point(r["kind"], r.get("last")),
        )

    @strawberry.field(
        description="Exact points in ascending step order, at most `limit` (capped by the"
        " server's max_metric_points_per_read); page on with fromStep = last step + 1."
    )
    async def points(
        self,
        info: Info,
        from_step: Long | None = None,
        to_step: Long | None = None,
        limit: int | None = None,
    ) -> MetricPoints:
        columns = await metrics.points(info.context, self.summary, from_step, to_step, limit)
        return MetricPoints.of(columns)

    @strawberry.field(
        description="At most maxPoints points for a plot: the step range is cut into groups"
        " and each keeps its first, last, minimum and maximum point, so spikes survive."
    )
    async def downsampled(
        self,
        info: Info,
        max_points: int,
        from_step: Long | None = None,
        to_step: Long | None = None,
    ) -> MetricPoints:
        columns = await metrics.downsampled(
            info.context, self.summary, max_points, from_step, to_step
        )
        return MetricPoints.of(columns)


async def series_of(info: Info, subject: Record, keys: list[str] | None) -> list[MetricSeries]:
    return [
        MetricSeries.from_record(r) for r in await metrics.series_of(info.context, subject, keys)
    ]


async def one_series(info: Info, subject: Record, key: str) -> MetricSeries | None:
    record = await metrics.one_series(info.context, subject, key)
    return MetricSeries.from_record(record) if record else None


@strawberry.input(description="One key, many points, columnar; exactly one value column.")
class MetricSeriesInput:
    key: str
    steps: list[Long]
    wallclocks: list[float] | None = strawberry.field(
        default=None, description="Seconds since the Unix epoch; the server's time if left out."
    )
    values: list[float] | None = None
    tensors: list[str] | None = None
    bytes: list[Base64] | None = None
    non_finite: list[NonFiniteValueInput] | None = strawberry.field(
        default=None,
        description="Positions of `values` that hold NaN or an infinity (any placeholder there).",
    )


@strawberry.input
class LogMetricsInput:
    subject_id: strawberry.ID = strawberry.field(description="An Experiment or a ModelVersion.")
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="The same key sent again with the same series logs nothing more"
        " (duplicate: true); with other series, or a logEvents key of the subject, it is"
        " refused (CONFLICT). Keys are per subject and kept a week.",
    )
    series: list[MetricSeriesInput]


@strawberry.type
class LogMetricsPayload:
    accepted: int = strawberry.field(description="Points stored by this request.")
    duplicate: bool = strawberry.field(description="True when the idempotency key was seen.")


async def log_metrics(info: Info, input: LogMetricsInput) -> LogMetricsPayload:
    # Field by field rather than `plain`, which would walk every point of every column.
    series = [
        {
            "key": s.key,
            "steps": s.steps,
            "wallclocks": s.wallclocks,
            "values": s.values,
            "tensors": s.tensors,
            "bytes": s.bytes,
            "non_finite": as_floats(s.non_finite),
        }
        for s in input.series
    ]
    result = await metrics.log_metrics(
        info.context, input.subject_id, series, input.idempotency_key
    )
    return LogMetricsPayload(accepted=result.accepted, duplicate=result.duplicate)


@strawberry.type(description="Points of one series just logged (or, first, stored ones).")
class MetricUpdate:
    key: str
    kind: MetricKind
    points: MetricPoints


def _graph_form(update: metrics_live.MetricUpdate) -> MetricUpdate:
    # A live update is one object for all its subscribers, and so is its GraphQL form.
    return shared_form(
        update.shared,
        MetricUpdate,
        lambda: MetricUpdate(
            key=update.key,
            kind=MetricKind(update.points.kind),
            points=MetricPoints.of(update.points),
        ),
    )


async def metrics_logged(
    info: Info, subject_id: str, keys: list[str] | None, from_step: Long | None
) -> AsyncGenerator[MetricUpdate, None]:
    # Live updates go straight to the socket where the transport allows it (graph/shared.py).
    logged = partial(metrics_live.metrics_logged, info.context, subject_id, keys, from_step)
    async for update in live(logged, _graph_form):
        yield update
