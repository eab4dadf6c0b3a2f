"""`compareMetrics`: series of many subjects, side by side."""

from __future__ import annotations

import strawberry

from modelbox.server.graph.metrics import MetricSeries
from modelbox.server.graph.relay import Info, Node, to_node
from modelbox.server.resolvers import compare


@strawberry.type(description="The series of one subject, in a comparison.")
class MetricSeriesOf:
    subject: Node
    series: list[MetricSeries]


async def compare_metrics(
    info: Info, subject_ids: list[strawberry.ID], keys: list[str], max_points: int
) -> list[MetricSeriesOf]:
    found = await compare.compare_metrics(info.context, list(subject_ids), keys, max_points)
    return [
        MetricSeriesOf(
            subject=to_node(type_name, record),
            series=[MetricSeries.from_record(summary) for summary in series],
        )
        for type_name, record, series in found
    ]
