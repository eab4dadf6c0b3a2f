"""Events and metric series of a subject: logged, read whole (as Python lists or a pandas
DataFrame), and watched live."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from modelbox.client import _queries as q
from modelbox.client._columns import points_of
from modelbox.client._experiments import Experiments
from modelbox.client._series import Point, Series
from modelbox.client._watch import subscribe

POINTS_PER_PAGE = 100_000


class Telemetry(Experiments):
    def log_events(
        self, subject_id: str, events: list[dict[str, Any]], idempotency_key: str | None = None
    ) -> list[dict[str, Any]]:
        """Log a batch of events; sent again with the same `idempotency_key` (a retry), it is
        stored once and answered with the events the first request stored. The key with
        other events raises `Conflict` and stores nothing."""
        batch = {"subjectId": subject_id, "events": events, "idempotencyKey": idempotency_key}
        return list(self.graphql(q.LOG_EVENTS, input=batch)["logEvents"])

    def events(
        self, subject_id: str, names: list[str] | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        event_filter = {"names": names} if names else None
        return list(
            self._pages(q.EVENTS, ["node", "events"], limit, id=subject_id, filter=event_filter)
        )

    def watch_events(
        self,
        subject_id: str | None = None,
        namespace: str | None = None,
        names: list[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Events as they are logged, until the connection ends."""
        variables = {"id": subject_id, "ns": namespace, "names": names}
        for data in subscribe(self.url, self.token, q.WATCH_EVENTS, variables):
            yield data["events"]

    # Metrics

    def metrics(self, subject: str, keys: list[str] | None = None) -> dict[str, Series]:
        """Every point of an experiment's (or version's) series, by key, as Python lists."""
        subject_id = self.experiment_id(subject)
        node = self.graphql(q.SERIES, id=subject_id, keys=keys)["node"] or {}
        return {s["key"]: self._series(subject_id, s["key"]) for s in node.get("metricSeries", [])}

    def _series(self, subject_id: str, key: str) -> Series:
        series: Series | None = None
        from_step = None
        while True:
            node = self.graphql(
                q.POINTS_PAGE,
                id=subject_id,
                key=key,
                **{"from": from_step, "limit": POINTS_PER_PAGE},
            )["node"]
            metric = node["metric"]
            points = metric["points"]
            values = points_of(metric["kind"], points)
            series = series or Series(key, metric["kind"])
            steps = points["steps"]
            full = len(steps) == POINTS_PER_PAGE and steps[0] != steps[-1]
            # A full page may cut through points sharing its last step: fetch that step again.
            keep = steps.index(steps[-1]) if full else len(steps)
            series.extend(steps[:keep], points["wallclocks"][:keep], values[:keep])
            if not full:
                return series
            from_step = steps[-1]

    def metrics_dataframe(self, subject: str, keys: list[str] | None = None) -> Any:
        """The series as one pandas DataFrame (key, step, wallclock, value); needs pandas."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("metrics_dataframe needs pandas: pip install pandas") from None
        frames = [s.to_pandas() for s in self.metrics(subject, keys).values()]
        if not frames:
            return pd.DataFrame(columns=["key", "step", "wallclock", "value"])
        return pd.concat(frames, ignore_index=True)

    def watch_metrics(
        self, subject: str, keys: list[str] | None = None, from_step: int | None = None
    ) -> Iterator[Point]:
        """Points as they are logged (with from_step, the stored ones from there first, with no
        gap and no repeat), until the connection ends."""
        subject_id = self.experiment_id(subject)
        variables = {"id": subject_id, "keys": keys, "from": from_step}
        for data in subscribe(self.url, self.token, q.WATCH_METRICS, variables):
            update = data["metricsLogged"]
            points = update["points"]
            values = points_of(update["kind"], points)
            for step, wallclock, value in zip(
                points["steps"], points["wallclocks"], values, strict=True
            ):
                yield Point(update["key"], step, wallclock, value)
