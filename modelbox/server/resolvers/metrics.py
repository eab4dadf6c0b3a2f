"""Metric series: who may log and read them, what a request may hold, plots' downsampling."""

from __future__ import annotations

import math
import time
from typing import Any

from modelbox.server.access import Role
from modelbox.server.errors import BadUserInput, PayloadTooLarge, SeriesKindClash
from modelbox.server.resolvers import validation
from modelbox.server.resolvers.context import Context
from modelbox.server.resolvers.idempotency import metrics_request, named_key
from modelbox.server.resolvers.permissions import load_typed
from modelbox.server.store import Record
from modelbox.server.store.metrics import (
    BYTES,
    FLOAT,
    TENSOR,
    Columns,
    LogResult,
    SeriesPoints,
)
from modelbox.server.store.metrics.downsampling import m4
from modelbox.server.store.metrics.reading import StepRange
from modelbox.server.store.metrics.summaries import SeriesRecord
from modelbox.server.store.metrics.tiles import PlotRange, level_for

SUBJECT_TYPES = ("Experiment", "ModelVersion")
# The value column of each kind, as the input names it.
INPUT_COLUMNS = {"values": FLOAT, "tensors": TENSOR, "bytes": BYTES}
# Each series is a summary upsert in the request's transaction.
MAX_SERIES_PER_REQUEST = 1000


async def subject(ctx: Context, global_id: str, role: Role) -> tuple[str, Record]:
    """The experiment or model version a metric request is about, as (type, record)."""
    return await load_typed(ctx, global_id, *SUBJECT_TYPES, role=role, field="subjectId")


def _series_points(index: int, item: dict[str, Any], wallclock: float) -> SeriesPoints:
    """One input series checked: one value column, equal lengths, finite floats, steps ≥ 0."""
    where = f"series[{index}]"
    key = validation.check_pattern(f"{where}.key", item["key"], validation.LABEL_KEY, "metric key")
    given = [name for name in INPUT_COLUMNS if item.get(name) is not None]
    if len(given) != 1:
        raise BadUserInput(
            f"{where}: give exactly one of values, tensors or bytes ({key!r} has {len(given)})",
            field=where,
        )
    column: list[Any] = item[given[0]]
    steps: list[int] = item["steps"]
    n = len(steps)
    if n == 0:
        raise BadUserInput(f"{where}.steps: {key!r} has no points", field=f"{where}.steps")
    if len(column) != n:
        raise BadUserInput(
            f"{where}.{given[0]}: {len(column)} values for {n} steps in {key!r}",
            field=f"{where}.{given[0]}",
        )
    if min(steps) < 0:
        raise BadUserInput(f"{where}.steps: steps must not be negative", field=f"{where}.steps")
    wallclocks = _wallclocks(f"{where}.wallclocks", key, item.get("wallclocks"), n, wallclock)
    kind = INPUT_COLUMNS[given[0]]
    # Variables cannot carry NaN or infinity, but a literal like 1e999 parses to infinity:
    # non-finite values come only through nonFinite.
    if kind == FLOAT and not all(map(math.isfinite, column)):
        raise BadUserInput(
            f"{where}.values: {key!r} holds NaN or infinity; send those in nonFinite",
            field=f"{where}.values",
        )
    special = item.get("non_finite")
    if special:
        column = _with_non_finite(f"{where}.nonFinite", kind, column, special)
    return SeriesPoints(key, kind, steps, wallclocks, column)


def _wallclocks(
    where: str, key: str, given: list[float] | None, n: int, default: float
) -> list[float]:
    """A series' wallclocks: as given (one finite number a step), or the request's time."""
    if given is None:
        return [default] * n
    if len(given) != n:
        raise BadUserInput(
            f"{where}: {len(given)} wallclocks for {n} steps in {key!r}", field=where
        )
    if not all(map(math.isfinite, given)):
        raise BadUserInput(f"{where}: not all finite numbers", field=where)
    return given


def _with_non_finite(
    where: str, kind: str, column: list[Any], special: list[tuple[int, float]]
) -> list[Any]:
    """The float column with NaN and infinities put at the positions nonFinite names."""
    if kind != FLOAT:
        raise BadUserInput(
            f"{where}: only a values (float) column has non-finite values", field=where
        )
    indexes = [index for index, _ in special]
    if len(set(indexes)) != len(indexes):
        raise BadUserInput(f"{where}: a position is named twice", field=where)
    if not all(0 <= index < len(column) for index in indexes):
        raise BadUserInput(
            f"{where}: positions must be within the {len(column)} values", field=where
        )
    column = list(column)
    for index, value in special:
        column[index] = value
    return column


def check_request(ctx: Context, series: list[dict[str, Any]]) -> list[SeriesPoints]:
    """Every series of a request, checked before anything is written."""
    limit = ctx.settings.max_metric_points_per_request
    total = sum(len(item["steps"]) for item in series)
    if total > limit:
        raise PayloadTooLarge(
            f"series: {total} points in one request, over the limit of {limit}"
            " (max_metric_points_per_request); split it into several requests",
            field="series",
            limit=limit,
        )
    if len(series) > MAX_SERIES_PER_REQUEST:
        raise BadUserInput(
            f"series: {len(series)} series in one request, over the limit of"
            f" {MAX_SERIES_PER_REQUEST}",
            field="series",
            limit=MAX_SERIES_PER_REQUEST,
        )
    keys = [item["key"] for item in series]
    if len(set(keys)) != len(keys):
        raise BadUserInput("series: the same key is given twice", field="series")
    wallclock = time.time()
    return [_series_points(i, item, wallclock) for i, item in enumerate(series)]


async def log_metrics(
    ctx: Context, subject_id: str, series: list[dict[str, Any]], idempotency_key: str | None
) -> LogResult:
    type_name, record = await subject(ctx, subject_id, Role.WRITER)
    validation.idempotency_key(idempotency_key)
    points = check_request(ctx, series)
    request = metrics_request(idempotency_key, series)
    try:
        with named_key():
            return await ctx.store.metrics.log(
                record["id"], type_name, record["namespace"], points, request
            )
    except SeriesKindClash as clash:
        # The store's transaction refuses a key that already holds another kind of value.
        raise BadUserInput(f"series.key: {clash.message}", field="series.key") from None


async def series_of(ctx: Context, subject: Record, keys: list[str] | None) -> list[SeriesRecord]:
    """The summaries of a subject's series (all of them, or those of `keys`), by key.

    A key asked twice is one series, answered once.
    """
    if keys is None:
        return await ctx.loaders.metric_series_of.load(subject["id"])
    unique = dict.fromkeys(keys)
    found = await ctx.loaders.metric_series.load_many([(subject["id"], key) for key in unique])
    return [summary for summary in found if summary is not None]


async def one_series(ctx: Context, subject: Record, key: str) -> SeriesRecord | None:
    return await ctx.loaders.metric_series.load((subject["id"], key))


def _check_range(from_step: int | None, to_step: int | None) -> None:
    if from_step is not None and to_step is not None and to_step < from_step:
        raise BadUserInput("toStep: must not be below fromStep", field="toStep")


async def points(
    ctx: Context,
    summary: SeriesRecord,
    from_step: int | None,
    to_step: int | None,
    limit: int | None,
) -> Columns:
    """Exact points in step order; at most `limit` (or the read limit), paged by fromStep."""
    cap = ctx.settings.max_metric_points_per_read
    if limit is not None and not 0 <= limit <= cap:
        raise BadUserInput(
            f"limit: must be between 0 and {cap} (max_metric_points_per_read)",
            field="limit",
            limit=cap,
        )
    _check_range(from_step, to_step)
    most = cap if limit is None else limit
    # Counted against the request's budget before the read, from the series' summary; the
    # summary's estimate assumes even steps, so what was read beyond it is counted after.
    expected = min(most, math.ceil(points_in(summary, from_step, to_step)))
    ctx.read_points(expected)
    columns = await ctx.store.metrics.points(
        summary["subject_id"],
        summary["key"],
        summary["kind"],
        from_step,
        to_step,
        most,
        shape=summary,
    )
    ctx.read_points(max(0, len(columns) - expected))
    return columns


# Past this many points in the range a plot reads precomputed tiles (O(maxPoints) points)
# instead of every bucket's rollup (a sixteenth of the points or so).
TILES_WHEN = 64_000
# A bucket's rollup keeps about one point in eight: reading it instead of every point is
# right when each point of the answer stands for many more points than that.
ROLLUP_WHEN = 32


def points_in(summary: SeriesRecord, from_step: int | None, to_step: int | None) -> float:
    """About how many points of the series lie in the window, if its steps are even."""
    first, last = summary.get("first_step"), summary.get("last_step")
    if first is None or last is None:
        return 0
    low = first if from_step is None else max(first, from_step)
    high = last if to_step is None else min(last, to_step)
    return summary["count"] * max(0, high - low + 1) / (last - first + 1)


async def downsampled(
    ctx: Context,
    summary: SeriesRecord,
    max_points: int,
    from_step: int | None,
    to_step: int | None,
) -> Columns:
    """At most `max_points` points for a plot, keeping every group's extremes."""
    cap = ctx.settings.max_downsampled_points
    if not 1 <= max_points <= cap:
        raise BadUserInput(
            f"maxPoints: must be between 1 and {cap} (max_downsampled_points)",
            field="maxPoints",
            limit=cap,
        )
    _check_range(from_step, to_step)
    ctx.read_points(min(max_points, summary["count"]))
    points = points_in(summary, from_step, to_step)
    dense = points >= max_points * ROLLUP_WHEN
    if dense and points >= TILES_WHEN and summary["kind"] == FLOAT:
        low = summary["first_step"] if from_step is None else max(from_step, summary["first_step"])
        high = summary["last_step"] if to_step is None else min(to_step, summary["last_step"])
        level = level_for(high - low + 1, max_points // 4)
        if level is not None:
            plot = PlotRange(
                str(summary["subject_id"]),
                summary["key"],
                low,
                high,
                level,
                summary.get("max_span"),
            )
            return m4(await ctx.loaders.metric_plots.load(plot), max_points)
    step_range = StepRange(
        str(summary["subject_id"]),
        summary["key"],
        summary["kind"],
        from_step,
        to_step,
        rollup=dense and summary["kind"] == FLOAT,
        max_span=summary.get("max_span"),
    )
    return m4(await ctx.loaders.metric_points.load(step_range), max_points)
