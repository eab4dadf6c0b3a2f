"""The Python client in a training loop: what `run.log` costs, against MLflow's client.

One run, one machine, all figures side by side:

* calls/s: `run.log({"loss": x}, step=i)` in a tight loop (one metric per call, the
  worst case for per-call overhead), timed around the loop only; against MLflow 3's
  `mlflow.log_metric` in the same run, synchronous (one HTTP request per call) and
  asynchronous (`synchronous=False`, its queue), against an MLflow server on sqlite.
* end to end: points/s from the first `run.log` until `finish()` returns with every
  point confirmed by the server.
* outage: a loop whose step does ~1 ms of work and logs 10 metrics: its median step time
  with the server up, then while the server is killed (points go to the spool), as a
  ratio; the run then finishes once the server is back, every point stored.

    .venv/bin/python bench/client.py                   # full size
    .venv/bin/python bench/client.py --calls 200000 --no-mlflow   # quick look
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import mlflow_baseline  # noqa: E402

import modelbox  # noqa: E402
from modelbox.server.embedded import EmbeddedDatabase  # noqa: E402
from tests.servers import ServerProcess  # noqa: E402

TOKEN = "mbx_bench-admin-token-of-32-characters-or-more"

MLFLOW_CLIENT = r"""
import sys, time, mlflow
mlflow.set_tracking_uri(sys.argv[1])
sync_calls, async_calls = int(sys.argv[2]), int(sys.argv[3])
with mlflow.start_run():
    started = time.perf_counter()
    for i in range(sync_calls):
        mlflow.log_metric("loss", i * 0.5, step=i)
    sync_s = time.perf_counter() - started
with mlflow.start_run():
    started = time.perf_counter()
    for i in range(async_calls):
        mlflow.log_metric("loss", i * 0.5, step=i, synchronous=False)
    async_s = time.perf_counter() - started
    mlflow.flush_async_logging()
    async_total = time.perf_counter() - started
print(sync_calls / sync_s, async_calls / async_s, async_calls / async_total)
"""


def mlflow_figures(sync_calls: int, async_calls: int) -> tuple[float, float, float]:
    """MLflow's log_metric calls/s: synchronous, asynchronous (the loop), asynchronous
    until flushed."""
    with mlflow_baseline.mlflow_server() as url:
        python = mlflow_baseline.venv_python()
        done = subprocess.run(
            [str(python), "-c", MLFLOW_CLIENT, url, str(sync_calls), str(async_calls)],
            capture_output=True,
            text=True,
            timeout=1800,
            env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
        )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    sync, loop, flushed = map(float, done.stdout.split()[-3:])
    return sync, loop, flushed


def log_calls(calls: int) -> tuple[float, float]:
    """(run.log calls/s in the loop, points/s until finish confirmed them all)."""
    run = modelbox.init(
        namespace="bench",
        experiment=f"calls-{calls}-{time.time_ns()}",
        system_metrics=False,
        capture_code=False,
    )
    log = run.log
    started = time.perf_counter()
    for i in range(calls):
        log({"loss": i * 0.5}, step=i)
    looped = time.perf_counter() - started
    assert run.finish(timeout=600), "every point confirmed"
    total = time.perf_counter() - started
    return calls / looped, calls / total


def busy(seconds: float) -> None:
    """A training step's compute: the CPU kept busy, holding the GIL like real Python work."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def outage(server: ServerProcess, steps: int) -> tuple[float, float, float]:
    """Median step time (ms) with the server up, and while it is down; seconds for finish
    once it is back."""
    run = modelbox.init(
        namespace="bench",
        experiment=f"outage-{time.time_ns()}",
        system_metrics=False,
        capture_code=False,
    )
    metrics = {f"m{k}": 0.0 for k in range(10)}

    def step_times(first: int) -> list[float]:
        times = []
        for i in range(first, first + steps):
            started = time.perf_counter()
            busy(0.001)
            run.log({key: i * 0.1 for key in metrics}, step=i)
            times.append(time.perf_counter() - started)
        return times

    up = step_times(0)
    assert server.process is not None
    server.process.kill()
    server.stop()
    down = step_times(steps)
    server.start()
    started = time.perf_counter()
    assert run.finish(timeout=300), "the points spooled during the outage reached the server"
    return statistics.median(up) * 1e3, statistics.median(down) * 1e3, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--mlflow-sync-calls", type=int, default=1_000)
    parser.add_argument("--mlflow-async-calls", type=int, default=100_000)
    parser.add_argument("--outage-steps", type=int, default=2_000)
    parser.add_argument("--no-mlflow", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, EmbeddedDatabase(Path(tmp) / "db") as db:
        env = {
            "MODELBOX_MONGODB_URI": db.uri,
            "MODELBOX_ADMIN_TOKEN": TOKEN,
        }
        os.environ.update(MODELBOX_TOKEN=TOKEN, MODELBOX_SPOOL_DIR=str(Path(tmp) / "spool"))
        with ServerProcess(env) as server:
            os.environ["MODELBOX_URL"] = server.url
            calls_per_s, end_to_end = log_calls(args.calls)
            print(f"run.log, {args.calls:,} calls of one metric: {calls_per_s:,.0f} calls/s")
            print(f"end to end (loop + every point confirmed): {end_to_end:,.0f} points/s")
            up, down, recovered = outage(server, args.outage_steps)
            print(
                f"outage: median step {up:.3f} ms with the server up, {down:.3f} ms while it is"
                f" down ({down / up:.2f}x); finish after the restart took {recovered:.1f} s"
            )
    if not args.no_mlflow:
        sync, loop, flushed = mlflow_figures(args.mlflow_sync_calls, args.mlflow_async_calls)
        print(f"MLflow log_metric synchronous: {sync:,.0f} calls/s")
        print(f"MLflow synchronous=False: {loop:,.0f} calls/s, {flushed:,.0f} until flushed")
        print(f"run.log: {calls_per_s / sync:,.0f}x MLflow sync, {calls_per_s / loop:,.1f}x async")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
