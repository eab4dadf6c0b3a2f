"""MLflow baseline for the ModelBox metrics benchmark.

Measures what a stock MLflow tracking server (sqlite backend) does on the same
workload as the ModelBox metrics benchmark:

* ingest: points/s through ``POST /api/2.0/mlflow/runs/log-batch`` (1,000
  metrics per request, sequential, one client);
* full read: seconds to read a 100,000-point series through
  ``GET /api/2.0/mlflow/metrics/get-history`` following every page;
* sampled read: seconds for the chart read the MLflow UI does,
  ``GET /ajax-api/2.0/mlflow/metrics/get-history-bulk-interval``.

MLflow is never a project dependency: it lives in its own virtual environment
``bench/.venv-mlflow`` (created on first use, pinned to ``MLFLOW_VERSION``,
together with httpx). The server always runs from that venv's interpreter.

Client side: the benchmark functions use plain ``httpx`` from whichever
interpreter imports this module (the project's environment). When the script
is run directly by an interpreter without httpx (e.g. the system ``python3``),
``main()`` re-executes itself with the venv's Python, which has httpx, so
``python3 bench/mlflow_baseline.py`` always works::

    python3 bench/mlflow_baseline.py                 # full size: 1,000,000 points
    python3 bench/mlflow_baseline.py --points 20000  # quick run

From another bench script::

    from mlflow_baseline import mlflow_server, ingest, create_run, log_series
    with mlflow_server() as base_url:
        pts_per_s = ingest(base_url)

Gotchas worth knowing when comparing numbers:

* log-batch accepts at most 1,000 metrics (and 1,000 entities) per request.
* get-history without ``max_results`` returns the whole series in one answer
  (what ``MlflowClient.get_metric_history`` does); with ``max_results`` every
  page re-runs the sorted query with an OFFSET, so reading 100,000 points in
  pages of 25,000 took ~1.7x the unpaginated read (``page_size=None``).
* get-history-bulk-interval caps ``max_results`` at 2,500 per run and wants
  ``start_step``/``end_step`` both or neither.
* sqlite serialises writers; ingest here is one sequential client, so several
  server workers do not help ingest, they only keep the comparison fair.
* MLflow 3.x serves through uvicorn (``--workers``), and by default also starts
  a job runner with ~7 huey consumers; they are switched off here
  (``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``) so they don't eat the CPUs.

Measured on the 2-core dev machine (mlflow 3.17.2, 2 workers, shared box):
~5,000 points/s ingest; full read of 100,000 points 8.3 s paged / 5.0 s
unpaginated; sampled read (320 points) 0.26 s. A full run takes ~5 min.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

try:
    import httpx
except ModuleNotFoundError:  # system python3: main() re-execs inside the venv
    httpx = None  # type: ignore[assignment]

# mlflow 3.18.0 is listed but its pinned mlflow-skinny==3.18.0 is not on the
# index here, so it fails to resolve; 3.17.2 is the newest that installs.
MLFLOW_VERSION = "3.17.2"
BENCH_DIR = Path(__file__).resolve().parent
VENV_DIR = BENCH_DIR / ".venv-mlflow"

# Server-side limits of MLflow (mlflow.utils.validation / server.handlers).
MAX_METRICS_PER_BATCH = 1000
MAX_SAMPLED_RESULTS = 2500
# MLflow's own page size constant for metric history (MAX_RESULTS_GET_METRIC_HISTORY).
DEFAULT_PAGE_SIZE = 25_000

HTTP_TIMEOUT = 300.0


# --------------------------------------------------------------------------- venv


def venv_python(venv: Path = VENV_DIR) -> Path:
    """Path of the interpreter inside the MLflow venv."""
    return venv / "bin" / "python"


def _venv_ready(python: Path) -> bool:
    if not python.exists():
        return False
    # Importing is the real test: a half-finished install leaves the dir behind.
    probe = subprocess.run(
        [str(python), "-c", "import mlflow, httpx"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def ensure_venv(venv: Path = VENV_DIR) -> Path:
    """Create the MLflow venv and install mlflow into it if needed.

    Idempotent: does nothing when ``mlflow`` (and httpx) import there already.
    Returns the venv's Python.
    """
    python = venv_python(venv)
    if _venv_ready(python):
        return python
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # Full ``mlflow`` (not mlflow-skinny): only it ships the server and uvicorn.
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"mlflow=={MLFLOW_VERSION}",
            "httpx",
        ],
        check=True,
    )
    return python


# ------------------------------------------------------------------------- server


def default_workers() -> int:
    """Server workers: one per CPU, at least 2 (MLflow's own default is 4)."""
    return max(2, os.cpu_count() or 1)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _health_ok(url: str) -> bool:
    # urllib, not httpx: waiting must work from an interpreter without httpx too.
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _stop_group(proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """Terminate the server's whole process group (uvicorn parent + workers)."""
    pgid = proc.pid  # start_new_session=True makes the leader's pid the pgid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        proc.poll()
        try:
            os.killpg(pgid, 0)  # raises once no member of the group is left
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


@contextlib.contextmanager
def mlflow_server(
    workers: int | None = None,
    port: int | None = None,
    venv: Path = VENV_DIR,
    startup_timeout: float = 180.0,
    store: Path | None = None,
) -> Iterator[str]:
    """Run ``mlflow server`` on a fresh sqlite store (or the sqlite file ``store``);
    yield its base URL.

    ``workers`` defaults to the number of CPUs (at least 2). The artifact root and the
    server log (and the fresh store) live in a temporary directory that is removed
    afterwards; the whole process group is killed on exit.
    """
    python = ensure_venv(venv)
    workers = workers or default_workers()
    port = port or _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.update(
        # No phoning home (the sandbox has no route anyway, so it would only stall).
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="true",
        # 3.x starts a job runner plus ~7 huey consumers for GenAI jobs; on a
        # 2-core box they steal CPU from the tracking API we measure.
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
        PYTHONUNBUFFERED="1",
    )
    with tempfile.TemporaryDirectory(prefix="mlflow-bench-") as tmp:
        tmp_path = Path(tmp)
        cmd = [
            str(python),
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            f"sqlite:///{store or tmp_path / 'mlflow.db'}",
            # SQL stores need an explicit artifact root; keep it in the temp dir.
            "--default-artifact-root",
            str(tmp_path / "artifacts"),
            "--no-serve-artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            # 3.x serves through uvicorn; --workers maps to uvicorn workers.
            "--workers",
            str(workers),
            # The default security middleware already allows 127.0.0.1/localhost
            # Host headers, so no --allowed-hosts is needed for a local bench.
        ]
        log_path = tmp_path / "server.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                cmd,
                cwd=tmp,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group -> one killpg stops all
            )
        try:
            deadline = time.monotonic() + startup_timeout
            while not _health_ok(f"{base_url}/health"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log_path.read_text(errors="replace")[-4000:]
                    raise RuntimeError(f"mlflow server did not start:\n{tail}")
                time.sleep(0.25)
            yield base_url
        finally:
            _stop_group(proc)


# ------------------------------------------------------------------------- client


def _client() -> httpx.Client:
    if httpx is None:
        raise RuntimeError("httpx is not installed in this interpreter")
    return httpx.Client(timeout=HTTP_TIMEOUT)


def _check(resp: httpx.Response) -> dict:
    if resp.is_error:
        raise RuntimeError(
            f"{resp.request.method} {resp.request.url} -> {resp.status_code}: {resp.text[:500]}"
        )
    return resp.json()


def create_run(base_url: str, experiment_name: str | None = None) -> str:
    """Create a fresh experiment and a run in it; return the run id."""
    name = experiment_name or f"bench-{uuid.uuid4().hex[:12]}"
    with _client() as c:
        exp = _check(c.post(f"{base_url}/api/2.0/mlflow/experiments/create", json={"name": name}))
        run = _check(
            c.post(
                f"{base_url}/api/2.0/mlflow/runs/create",
                json={"experiment_id": exp["experiment_id"], "start_time": int(time.time() * 1000)},
            )
        )
    return str(run["run"]["info"]["run_id"])


def _log_points(
    c: httpx.Client,
    base_url: str,
    run_id: str,
    keys: list[str],
    total_points: int,
    batch: int,
) -> None:
    """Log ``total_points`` round-robin over ``keys``; step = index within its key."""
    if not 1 <= batch <= MAX_METRICS_PER_BATCH:
        raise ValueError(f"log-batch accepts 1..{MAX_METRICS_PER_BATCH} metrics per request")
    url = f"{base_url}/api/2.0/mlflow/runs/log-batch"
    n_keys = len(keys)
    for start in range(0, total_points, batch):
        ts = int(time.time() * 1000)
        metrics = []
        for i in range(start, min(start + batch, total_points)):
            step = i // n_keys
            metrics.append(
                {"key": keys[i % n_keys], "value": 1.0 / (step + 1), "timestamp": ts, "step": step}
            )
        _check(c.post(url, json={"run_id": run_id, "metrics": metrics}))


def ingest(
    base_url: str, total_points: int = 1_000_000, keys: int = 10, batch: int = 1000
) -> float:
    """Log ``total_points`` over keys ``loss_0..loss_{keys-1}``; return points/s.

    Sequential log-batch requests of ``batch`` metrics each. Only the logging
    loop is timed (payload building included), not experiment/run creation.
    """
    run_id = create_run(base_url)
    names = [f"loss_{k}" for k in range(keys)]
    with _client() as c:
        t0 = time.perf_counter()
        _log_points(c, base_url, run_id, names, total_points, batch)
        elapsed = time.perf_counter() - t0
    return total_points / elapsed


def log_series(
    base_url: str, run_id: str, key: str = "loss", n_points: int = 100_000, batch: int = 1000
) -> float:
    """Log one ``n_points`` series (steps 0..n-1) for ``key``; return seconds taken."""
    with _client() as c:
        t0 = time.perf_counter()
        _log_points(c, base_url, run_id, [key], n_points, batch)
        return time.perf_counter() - t0


def read_history(
    base_url: str,
    run_id: str,
    key: str,
    page_size: int | None = DEFAULT_PAGE_SIZE,
) -> tuple[float, int]:
    """Read the whole history of ``key`` via get-history, following every page.

    ``page_size=None`` sends no ``max_results`` (one unpaginated answer, what
    ``MlflowClient.get_metric_history`` does). Returns (seconds, points read).
    """
    url = f"{base_url}/api/2.0/mlflow/metrics/get-history"
    params: dict[str, str | int] = {"run_id": run_id, "metric_key": key}
    if page_size is not None:
        params["max_results"] = page_size
    n = 0
    with _client() as c:
        t0 = time.perf_counter()
        while True:
            body = _check(c.get(url, params=params))
            n += len(body.get("metrics", []))
            token = body.get("next_page_token")
            if not token:
                break
            params["page_token"] = token
        return time.perf_counter() - t0, n


def read_sampled(
    base_url: str,
    run_id: str,
    key: str,
    max_results: int = 320,
    start_step: int | None = None,
    end_step: int | None = None,
) -> tuple[float, int]:
    """The UI's chart read: get-history-bulk-interval, ``max_results`` sampled points.

    ``start_step``/``end_step`` (both or neither) restrict to a zoom window.
    Returns (seconds, points read).
    """
    if not 1 <= max_results <= MAX_SAMPLED_RESULTS:
        raise ValueError(f"max_results must be in 1..{MAX_SAMPLED_RESULTS}")
    if (start_step is None) != (end_step is None):
        raise ValueError("give both start_step and end_step, or neither")
    url = f"{base_url}/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval"
    params: dict[str, str | int] = {
        "run_ids": run_id,
        "metric_key": key,
        "max_results": max_results,
    }
    if start_step is not None and end_step is not None:
        params["start_step"] = start_step
        params["end_step"] = end_step
    with _client() as c:
        t0 = time.perf_counter()
        body = _check(c.get(url, params=params))
        return time.perf_counter() - t0, len(body.get("metrics", []))


# --------------------------------------------------------------------------- main


def run_all(
    points: int = 1_000_000,
    series_points: int = 100_000,
    repeats: int = 3,
    workers: int | None = None,
) -> dict[str, float]:
    """Run the whole baseline on one fresh server; return the figures."""
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    ensure_venv()
    out["venv_ready_s"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    with mlflow_server(workers=workers) as base_url:
        out["server_start_s"] = time.perf_counter() - t1
        out["ingest_points_per_s"] = ingest(base_url, total_points=points)

        # Reads use a dedicated run holding exactly one series of series_points.
        run_id = create_run(base_url)
        out["series_log_s"] = log_series(base_url, run_id, "loss", series_points)

        # First call is reported separately (cold caches), then the median of repeats.
        full = [read_history(base_url, run_id, "loss") for _ in range(repeats + 1)]
        unpaged = [
            read_history(base_url, run_id, "loss", page_size=None) for _ in range(repeats + 1)
        ]
        sampled = [read_sampled(base_url, run_id, "loss") for _ in range(repeats + 1)]
        for name, res in (
            ("full_read", full),
            ("full_read_unpaged", unpaged),
            ("sampled_read", sampled),
        ):
            out[f"{name}_points"] = float(res[0][1])
            out[f"{name}_first_s"] = res[0][0]
            out[f"{name}_median_s"] = statistics.median(s for s, _ in res[1:])
    out["total_s"] = time.perf_counter() - t0
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000, help="points to ingest")
    parser.add_argument(
        "--series-points", type=int, default=100_000, help="points in the read series"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed reads after the first one")
    parser.add_argument(
        "--workers", type=int, default=None, help="server workers (default: CPUs, min 2)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    if httpx is None:
        # No httpx here: run the very same script with the venv's Python instead.
        python = ensure_venv()
        rest = sys.argv[1:] if argv is None else argv
        os.execv(python, [str(python), str(Path(__file__).resolve()), *rest])

    figures = run_all(args.points, args.series_points, args.repeats, args.workers)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"mlflow {MLFLOW_VERSION} (sqlite, workers={args.workers or default_workers()})")
    print(
        f"ingest: {figures['ingest_points_per_s']:,.0f} points/s"
        f" ({args.points:,} points, log-batch of 1,000)"
    )
    for name, label in (
        ("full_read", f"full history read (get-history, pages of {DEFAULT_PAGE_SIZE:,})"),
        ("full_read_unpaged", "full history read (get-history, unpaginated)"),
        ("sampled_read", "sampled read (get-history-bulk-interval, max_results=320)"),
    ):
        print(
            f"{label}: {figures[f'{name}_median_s']:.3f} s median"
            f" (first {figures[f'{name}_first_s']:.3f} s, {figures[f'{name}_points']:,.0f} points)"
        )
    print(
        f"series log: {figures['series_log_s']:.1f} s;"
        f" server start: {figures['server_start_s']:.1f} s;"
        f" venv check: {figures['venv_ready_s']:.1f} s; total: {figures['total_s']:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
