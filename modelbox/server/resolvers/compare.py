"""`compareMetrics`: the same metrics of many runs, downsampled for one chart.

A constant number of database commands whatever the number of subjects: the subjects load
through the per-type DataLoaders, the summaries in one batch, the points of every series in
one command (the `metric_points` loader), primed here for the `downsampled` fields.
"""

from __future__ import annotations

import asyncio

from modelbox.server.access import Role
from modelbox.server.errors import BadUserInput
from modelbox.server.resolvers import metrics
from modelbox.server.resolvers.context import Context
from modelbox.server.resolvers.metrics import SUBJECT_TYPES
from modelbox.server.resolvers.permissions import load_typed
from modelbox.server.store import Record
from modelbox.server.store.metrics.summaries import SeriesRecord

MAX_SUBJECTS = 100
MAX_KEYS = 20


async def compare_metrics(
    ctx: Context, subject_ids: list[str], keys: list[str], max_points: int
) -> list[tuple[str, Record, list[SeriesRecord]]]:
    """(type, subject, its series of `keys` that exist) per subject, in the order given."""
    if len(subject_ids) > MAX_SUBJECTS:
        raise BadUserInput(
            f"subjectIds: at most {MAX_SUBJECTS} subjects (MAX_SUBJECTS)",
            field="subjectIds",
            limit=MAX_SUBJECTS,
        )
    if not keys or len(keys) > MAX_KEYS:
        raise BadUserInput(
            f"keys: between 1 and {MAX_KEYS} keys (MAX_KEYS)", field="keys", limit=MAX_KEYS
        )
    if len(set(subject_ids)) != len(subject_ids):
        raise BadUserInput("subjectIds: the same subject is given twice", field="subjectIds")
    budget = ctx.settings.max_metric_points_per_read
    if len(subject_ids) * len(keys) * max_points > budget:
        raise BadUserInput(
            f"subjects * keys * maxPoints: at most {budget} points (max_metric_points_per_read)",
            field="maxPoints",
            limit=budget,
        )
    subjects = await asyncio.gather(
        *(
            load_typed(ctx, global_id, *SUBJECT_TYPES, role=Role.VIEWER, field=f"subjectIds[{i}]")
            for i, global_id in enumerate(subject_ids)
        )
    )
    found = await asyncio.gather(
        *(metrics.series_of(ctx, record, list(dict.fromkeys(keys))) for _, record in subjects)
    )
    # Every series' plot in one batch; `downsampled(maxPoints)` on them then reads nothing.
    await asyncio.gather(
        *(
            metrics.downsampled(ctx, summary, max_points, None, None)
            for series in found
            for summary in series
        )
    )
    return [(t, r, s) for (t, r), s in zip(subjects, found, strict=True)]
