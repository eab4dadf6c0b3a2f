"""Helpers of the metric tests: log points, read summaries and points, follow metricsLogged."""

from __future__ import annotations

from typing import Any

from tests.api import Api
from tests.ws import WsClient

LOG = """mutation($input: LogMetricsInput!) { logMetrics(input: $input) { accepted duplicate } }"""

SERIES = """query($id: ID!, $keys: [String!]) { node(id: $id) {
  ... on Experiment { metricSeries(keys: $keys) { ...S } }
  ... on ModelVersion { metricSeries(keys: $keys) { ...S } } } }
fragment S on MetricSeries {
  key kind count firstStep lastStep min max last { step wallclock value tensor bytes } }"""

POINTS = """query($id: ID!, $key: String!, $from: Long, $to: Long, $limit: Int) { node(id: $id) {
  ... on Experiment { metric(key: $key) { points(fromStep: $from, toStep: $to, limit: $limit) {
      steps wallclocks values tensors bytes } } } } }"""

DOWNSAMPLED = """query($id: ID!, $key: String!, $max: Int!, $from: Long, $to: Long) {
node(id: $id) {
  ... on Experiment { metric(key: $key) { count
      downsampled(maxPoints: $max, fromStep: $from, toStep: $to) { steps values } } } } }"""


async def log(api: Api, subject_id: str, *series: dict[str, Any], **extra: Any) -> dict[str, Any]:
    data = await api.ok(LOG, {"input": {"subjectId": subject_id, "series": list(series), **extra}})
    return data["logMetrics"]


async def series_of(api: Api, subject_id: str, keys: list[str] | None = None) -> list[dict]:
    data = await api.ok(SERIES, {"id": subject_id, "keys": keys})
    return data["node"]["metricSeries"]


async def points(api: Api, experiment_id: str, key: str, **args: Any) -> dict[str, Any]:
    data = await api.ok(POINTS, {"id": experiment_id, "key": key, **args})
    return data["node"]["metric"]["points"]


LOGGED = """subscription($id: ID!, $keys: [String!], $from: Long) {
  metricsLogged(subjectId: $id, keys: $keys, fromStep: $from) {
    key kind points { steps wallclocks values tensors } } }"""


async def collect(ws: WsClient, op: str, total: int) -> list[tuple[str, int, float]]:
    """(key, step, value) of every point received until `total` have come."""
    seen: list[tuple[str, int, float]] = []
    while len(seen) < total:
        update = (await ws.next(op))["metricsLogged"]
        points = update["points"]
        seen += [
            (update["key"], s, v) for s, v in zip(points["steps"], points["values"], strict=True)
        ]
    return seen
