"""`Run`: one training job logging into an experiment.

`run.log` only appends to an in-memory queue and returns. A collector thread turns the
queue into columnar ops about every quarter second and appends them to the run's spool
file; a sender thread sends the spool's ops in order, each `logMetrics` and `logEvents`
with the op's id as its idempotency key, retrying a server that is down. `finish(timeout=)`
waits for the sender at most that long; whatever is left stays in the spool for
`modelbox sync`.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import compress, count, repeat
from operator import call, is_
from pathlib import Path
from types import TracebackType
from typing import Any

from modelbox.client import _spool
from modelbox.client._artifacts import inside
from modelbox.client._client import Client
from modelbox.client._collect import Columnizer
from modelbox.client._config import spool_dir
from modelbox.client._exceptions import ModelBoxError
from modelbox.client._sender import Sender
from modelbox.client._system import SystemMetrics
from modelbox.client._transport import Transport

logger = logging.getLogger("modelbox")

FLUSH_INTERVAL = 0.25
# Entries `log` may queue before it waits for the collector: bounded memory even if the
# disk stalls; the collector empties the queue four times a second, so a loop rarely waits.
MAX_PENDING = 500_000
# An entry is three items of the queue, (step, wallclock, dict) or (None, None, _Op),
# each put with one `deque.extend`, which no other thread can interleave.
_ITEMS = 3
_now = time.time


def _json_encoder() -> Callable[[Any], str]:
    """orjson where it is installed (about five times faster on long float columns, and this
    thread shares the GIL with the training loop), else the standard library."""
    try:
        import orjson
    except ImportError:
        return lambda payload: json.dumps(payload, separators=(",", ":"), allow_nan=False)
    return lambda payload: orjson.dumps(payload).decode()


def iso_now() -> str:
    return datetime.now(UTC).isoformat()


class _Op:
    """A non-metric op queued in order with the points: events or an experiment update."""

    __slots__ = ("kind", "payload")

    def __init__(self, kind: str, payload: Any) -> None:
        self.kind = kind
        self.payload = payload


class Run:
    """A training job's handle: `log`, `log_params`, `log_event`, `log_checkpoint`,
    `log_artifact`, `latest_checkpoint`, `finish`. Also a context manager."""

    def __init__(
        self, client: Client, experiment: dict[str, Any], spool: Path | None = None
    ) -> None:
        self.client = client
        self.experiment = experiment
        self.id: str = experiment["id"]
        self.name: str = experiment["name"]
        self.namespace: str = experiment["namespace"]["name"]
        self.run_id = uuid.uuid4().hex[:16]
        self.step = 0
        self.params: dict[str, Any] = dict(experiment.get("hyperparameters") or {})
        self.finished = False
        self._pending: deque[Any] = deque()
        self._put = self._pending.extend
        self._sequence = 0
        self._columnizer = Columnizer()
        self._to_json = _json_encoder()
        self._closing = threading.Event()
        self._drained = threading.Event()
        self.spool_path = (spool or spool_dir()) / f"{self.run_id}.spool"
        header = {
            "url": client.url,
            "subjectId": self.id,
            "namespace": self.namespace,
            "experiment": self.name,
            "run": self.run_id,
        }
        self._writer = _spool.SpoolWriter(self.spool_path, header)
        self._sender = Sender(Transport(client.url, client.token), self.id, self.spool_path)
        self._collector = threading.Thread(
            target=self._collect, name="modelbox-collector", daemon=True
        )
        self._system: SystemMetrics | None = None
        self._side_tasks: list[threading.Thread] = []
        self._sender.start()
        self._collector.start()

    # Logging

    def log(self, data: dict[str, Any], step: int | None = None) -> None:
        """Queue one point per key at `step` (default: one more than the last step); returns
        at once. Values: numbers (NaN and infinities too), strings, bytes."""
        if self.finished:
            raise ModelBoxError(f"run {self.name} has finished")
        if step is None:
            step = self.step
        self.step = step + 1
        # A copy: a script that refills one dict every step must not rewrite queued points.
        self._put((step, _now(), dict(data)))
        while len(self._pending) > MAX_PENDING * _ITEMS and self._collector.is_alive():
            self._drained.clear()
            self._drained.wait(FLUSH_INTERVAL)

    def log_params(self, params: dict[str, Any]) -> None:
        """Merge into the experiment's hyperparameters (sent in the background)."""
        self.params.update(json.loads(json.dumps(params, default=str)))
        self._queue(_spool.UPDATE, {"hyperparameters": dict(self.params)})

    def log_event(self, name: str, payload: Any = None, source: str = "modelbox-python") -> None:
        """An event on the experiment, stamped now (sent in the background)."""
        event = {"name": name, "source": source, "wallclock": iso_now(), "payload": payload}
        self._queue(_spool.EVENTS, json.loads(json.dumps(event, default=str)))

    def update_metadata(self, metadata: dict[str, Any]) -> None:
        """Merge into the experiment's metadata (sent in the background)."""
        merged = {**(self.experiment.get("metadata") or {}), **metadata}
        self.experiment["metadata"] = merged
        self._queue(_spool.UPDATE, {"metadata": json.loads(json.dumps(merged, default=str))})

    def log_checkpoint(
        self,
        path: str | Path,
        step: int | None = None,
        epoch: int | None = None,
        metrics: dict[str, float] | None = None,
        metadata: Any = None,
        progress: bool | None = None,
    ) -> dict[str, Any]:
        """A Checkpoint at `step` with the file or directory at `path` as its artifacts."""
        step = max(self.step - 1, 0) if step is None else step
        checkpoint = self.client.create_checkpoint(self.id, step, epoch, metrics, metadata)
        checkpoint["artifacts"] = self.client.upload_artifact(
            checkpoint["id"], path, progress=progress
        )
        return checkpoint

    def log_artifact(
        self, path: str | Path, name: str | None = None, progress: bool | None = None
    ) -> list[dict[str, Any]]:
        """Upload a file or directory as artifacts of the experiment."""
        return self.client.upload_artifact(self.id, path, name, progress)

    def latest_checkpoint(
        self, download_to: str | Path, progress: bool | None = None
    ) -> Path | None:
        """Download the newest checkpoint's files into `download_to`, each verified by sha256;
        the file itself when it has one, else the directory. Later `log` calls continue from
        its step. None when the experiment has no checkpoint."""
        checkpoints = self.client.checkpoints(self.id)
        if not checkpoints:
            return None
        latest = max(checkpoints, key=lambda c: c["step"])
        artifacts = self.client.artifacts(latest["id"])
        directory = Path(download_to)
        directory.mkdir(parents=True, exist_ok=True)
        paths = [
            self.client.download_artifact(a, inside(directory, a["name"]), progress)
            for a in artifacts
        ]
        self.step = max(self.step, latest["step"])
        self.resumed_from = latest
        return paths[0] if len(paths) == 1 else directory

    # The background

    def background(self, thread: threading.Thread) -> None:
        """Start a side task (the code capture's uploads) that finish waits for, within
        its timeout."""
        self._side_tasks.append(thread)
        thread.start()

    def start_system_metrics(self, interval: float) -> None:
        def emit(sample: int, values: dict[str, float]) -> None:
            self._put((sample, _now(), values))

        self._system = SystemMetrics(emit, interval)
        self._system.start()

    def _collect(self) -> None:
        while True:
            closing = self._closing.wait(FLUSH_INTERVAL)
            try:
                self._drain()
            except Exception:  # a bug here must not end the collection of later points
                logger.exception("ModelBox: could not spool points")
            self._drained.set()
            if closing:
                return

    def _queue(self, kind: str, payload: Any) -> None:
        """A non-metric op, in order with the points."""
        self._put((None, None, _Op(kind, payload)))

    def _drain(self) -> None:
        pending = self._pending
        items = list(map(call, repeat(pending.popleft, len(pending))))
        steps, wallclocks, datas = items[0::_ITEMS], items[1::_ITEMS], items[2::_ITEMS]
        del items
        ops = list(compress(count(), map(is_, map(type, datas), repeat(_Op))))
        events: list[Any] = []
        start = 0
        for at in [*ops, len(datas)]:
            if at > start:
                self._spool_events(events)
                self._spool_points(steps[start:at], wallclocks[start:at], datas[start:at])
            if at < len(datas):
                op = datas[at]
                if op.kind == _spool.EVENTS:
                    events.append(op.payload)
                else:
                    self._spool_events(events)
                    self._append(op.kind, op.payload)
            start = at + 1
        self._spool_events(events)
        self._sender.wake.set()

    def _append(self, kind: str, payload: Any) -> None:
        self._sequence += 1
        text = self._to_json(payload)
        self._writer.append(_spool.Op(kind, f"{self.run_id}.{self._sequence}", text))

    def _spool_points(
        self, steps: list[int], wallclocks: list[float], datas: list[dict[str, Any]]
    ) -> None:
        for series in self._columnizer.series(steps, wallclocks, datas):
            self._append(_spool.METRICS, series)

    def _spool_events(self, events: list[Any]) -> None:
        # The server takes up to 1,000 events a request by default.
        for start in range(0, len(events), 1000):
            self._append(_spool.EVENTS, events[start : start + 1000])
        events.clear()

    # The end

    def finish(self, status: str = "FINISHED", timeout: float = 30.0) -> bool:
        """Mark the experiment `status` and send what is left, waiting at most `timeout`
        seconds; True if everything reached the server, else it stays in the spool for
        `modelbox sync`."""
        if self.finished:
            return True
        deadline = time.monotonic() + timeout
        if self._system is not None:
            self._system.stop()
        for task in self._side_tasks:
            task.join(max(0.0, deadline - time.monotonic()))
        self._queue(_spool.UPDATE, {"status": status.upper(), "endedAt": iso_now()})
        self.finished = True
        self._closing.set()
        self._collector.join()
        self._writer.close()
        self._sender.closing.set()
        self._sender.wake.set()
        self._sender.join(max(0.0, deadline - time.monotonic()))
        if self._sender.is_alive():
            self._sender.abandoned.set()
        _forget(self)
        left = sum(1 for _ in _spool.pending(self.spool_path))
        if left == 0 and self._sender.refused_token is None:
            _spool.remove(self.spool_path)
            return True
        print(
            f"ModelBox: {left} batches of {self.namespace}/{self.name} not sent yet are kept in"
            f" {self.spool_path}; `modelbox sync` sends them",
            file=sys.stderr,
        )
        return False

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.finish(status_for(et))


def status_for(error: type[BaseException] | None) -> str:
    if error is None:
        return "FINISHED"
    return "KILLED" if issubclass(error, KeyboardInterrupt) else "FAILED"


_runs: list[Run] = []


def _forget(run: Run) -> None:
    if run in _runs:
        _runs.remove(run)


def current() -> Run:
    if not _runs:
        raise ModelBoxError("no run: call modelbox.init() first")
    return _runs[-1]
