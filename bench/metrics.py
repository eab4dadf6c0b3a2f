"""Metrics: ingest, full and downsampled reads, live latency — against PyMongo and MLflow.

One run, one machine, all figures side by side:

* ingest: 1,000,000 float points for one experiment, 10 keys, 1,000 points per key per
  request (10,000 points per `logMetrics`), over HTTP to a real `modelbox serve` process,
  from one client and from several concurrent ones; against (a) the floor: the same
  buckets and summary upserts written straight into the same database with PyMongo, and
  (b) an MLflow tracking server (sqlite) receiving the same points through `log-batch`.
* read: a 100,000-point series in full, and downsampled to 1,000 points; against
  MLflow's `get-history` (all pages) and its sampled `get-history-bulk-interval`.
* live: from the `logMetrics` response to a subscriber receiving the points, p50 and
  p99, with 1 and with 100 subscribers on one series (graphql-transport-ws).
* durability: ingest against the embedded database as shipped (`--sync-on-commit`: a
  commit is on disk before it is acknowledged) and against one without it, in big
  requests (10,000 points) and small ones (100 points, where a sync per commit weighs most).

The database is the embedded SecantusDB, started here so that the server and the PyMongo
floor write into the same one; the server is `python -m modelbox serve` pointed at it.

    .venv/bin/python bench/metrics.py                 # full size
    .venv/bin/python bench/metrics.py --points 100000 --no-mlflow   # quick look
    .venv/bin/python bench/metrics.py --durability-only                # what syncing costs
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import websockets
from bson import ObjectId
from pymongo import MongoClient

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import mlflow_baseline  # noqa: E402

from modelbox.server.embedded import EmbeddedDatabase  # noqa: E402
from modelbox.server.store.metrics.buckets import bucket_documents  # noqa: E402
from modelbox.server.store.metrics.columns import SeriesPoints  # noqa: E402
from modelbox.server.store.metrics.summaries import SummaryWrite  # noqa: E402
from tests.servers import ServerProcess  # noqa: E402

TOKEN = "mbx_bench-admin-token-of-32-characters"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
KEYS = 10
PER_KEY = 1000
LOG = "mutation($input: LogMetricsInput!) { logMetrics(input: $input) { accepted } }"
FULL = """query($id: ID!) { node(id: $id) { ... on Experiment { metric(key: "loss") {
  points { steps wallclocks values } } } } }"""
SAMPLED = """query($id: ID!, $n: Int!) { node(id: $id) { ... on Experiment {
  metric(key: "loss") { downsampled(maxPoints: $n) { steps wallclocks values } } } } }"""
PAGE = """query($id: ID!, $from: Long!) { node(id: $id) { ... on Experiment {
  metric(key: "loss") { points(fromStep: $from, limit: 10000) { steps values } } } } }"""
SCALE_SIZES = (20_000, 200_000, 1_000_000, 5_000_000)
LOGGED = """subscription($id: ID!) { metricsLogged(subjectId: $id, keys: ["live"]) {
  key points { steps values } } }"""


def server_env(uri: str, database: str, **extra: str) -> dict[str, str]:
    """The environment of a `modelbox serve` on the bench's database."""
    return {
        "MODELBOX_MONGODB_URI": uri,
        "MODELBOX_DATABASE": database,
        "MODELBOX_ADMIN_TOKEN": TOKEN,
        **extra,
    }


def series_batch(first_step: int, keys: int = KEYS, per_key: int = PER_KEY) -> list[dict]:
    """One request's points: `per_key` consecutive steps for each key, as a training job
    that buffers its metrics would send them."""
    steps = list(range(first_step, first_step + per_key))
    now = time.time()
    return [
        {
            "key": f"loss_{k}",
            "steps": steps,
            "wallclocks": [now] * per_key,
            "values": [1.0 / (s + 1) + k for s in steps],
        }
        for k in range(keys)
    ]


def post(client: httpx.Client, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = orjson.dumps({"query": query, "variables": variables})
    response = client.post("/graphql", content=body, headers=HEADERS)
    data = orjson.loads(response.content)
    if data.get("errors"):
        raise RuntimeError(data["errors"])
    return data["data"]


def create_experiment_at(url: str, name: str) -> str:
    with httpx.Client(base_url=url, timeout=60) as client:
        return create_experiment(client, name)


def create_experiment(client: httpx.Client, name: str) -> str:
    data = post(
        client,
        "mutation($i: CreateExperimentInput!) { createExperiment(input: $i) { id } }",
        {"i": {"namespace": "bench", "name": name}},
    )
    return data["createExperiment"]["id"]


def ingest_http(
    url: str, total: int, clients: int, keys: int = KEYS, per_key: int = PER_KEY
) -> float:
    """Points/s through `logMetrics`, `clients` persistent connections sending at once."""
    per_request = keys * per_key
    requests = total // per_request
    with httpx.Client(base_url=url, timeout=120) as setup:
        subject = create_experiment(setup, f"ingest-{clients}-{per_request}-{time.time()}")

    def worker(index: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as client:
            for r in range(index, requests, clients):
                series = series_batch(r * per_key, keys, per_key)
                post(client, LOG, {"input": {"subjectId": subject, "series": series}})

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return requests * per_request / (time.perf_counter() - started)


def ingest_floor(uri: str, database: str, total: int) -> float:
    """Points/s writing the same buckets and summary upserts with PyMongo directly."""
    with MongoClient(uri) as client:
        db = client[database]
        subject = ObjectId()
        started = time.perf_counter()
        for r in range(total // (KEYS * PER_KEY)):
            series = [
                SeriesPoints(s["key"], "FLOAT", s["steps"], s["wallclocks"], s["values"])
                for s in series_batch(r * PER_KEY)
            ]
            buckets = [b for s in series for b in bucket_documents(subject, "bench", s)]
            db.metric_buckets.insert_many(buckets)
            db.metric_series.bulk_write(
                [SummaryWrite(subject, "Experiment", "bench", s).update() for s in series],
                ordered=False,
            )
        return total / (time.perf_counter() - started)


def timed(repeats: int, action: Callable[[], Any]) -> float:
    """Median seconds of `repeats` runs after one warm-up."""
    action()
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def reads(url: str, n: int, repeats: int) -> dict[str, float]:
    with httpx.Client(base_url=url, timeout=120) as client:
        subject = create_experiment(client, "read")
        for start in range(0, n, 10_000):
            steps = list(range(start, min(start + 10_000, n)))
            series = {"key": "loss", "steps": steps, "values": [1.0 / (s + 1) for s in steps]}
            post(client, LOG, {"input": {"subjectId": subject, "series": [series]}})

        def full() -> None:
            data = post(client, FULL, {"id": subject})
            assert len(data["node"]["metric"]["points"]["steps"]) == n

        def sampled() -> None:
            data = post(client, SAMPLED, {"id": subject, "n": 1000})
            assert len(data["node"]["metric"]["downsampled"]["steps"]) <= 1000

        return {"full_s": timed(repeats, full), "sampled_s": timed(repeats, sampled)}


def scaling(url: str, sizes: tuple[int, ...], repeats: int) -> list[dict[str, float]]:
    """downsampled(1,000) and a 10,000-point page from the middle, on one series of each
    size: both should cost the same whatever the size. The first plot builds the tiles."""
    rows = []
    with httpx.Client(base_url=url, timeout=600) as client:
        for n in sizes:
            subject = create_experiment(client, f"scale-{n}")
            for start in range(0, n, 100_000):
                steps = list(range(start, min(start + 100_000, n)))
                values = [((s * 7919) % 1000) / 1000 for s in steps]
                series = {"key": "loss", "steps": steps, "values": values}
                post(client, LOG, {"input": {"subjectId": subject, "series": [series]}})

            def sampled(subject: str = subject) -> None:
                data = post(client, SAMPLED, {"id": subject, "n": 1000})
                assert len(data["node"]["metric"]["downsampled"]["steps"]) <= 1000

            def page(subject: str = subject, n: int = n) -> None:
                data = post(client, PAGE, {"id": subject, "from": n // 2})
                assert len(data["node"]["metric"]["points"]["steps"]) == min(10_000, n - n // 2)

            started = time.perf_counter()
            sampled()
            first = time.perf_counter() - started
            rows.append(
                {
                    "points": n,
                    "first_plot_s": first,
                    "sampled_s": timed(repeats, sampled),
                    "page_s": timed(repeats, page),
                }
            )
            row = rows[-1]
            print(
                f"  {n:>9,} points: downsampled(1,000) {row['sampled_s'] * 1000:7.1f} ms"
                f" (first, building tiles: {first * 1000:7.1f} ms);"
                f" 10,000-point page {row['page_s'] * 1000:7.1f} ms",
                flush=True,
            )
    return rows


def ingest_workers(uri: str, workers: int, total: int, clients: int) -> float:
    """Points/s through `modelbox serve --workers N` on the same database."""
    env = server_env(uri, f"bench_workers_{workers}", MODELBOX_WORKERS=str(workers))
    with ServerProcess(env) as server:
        return ingest_http(server.url, total, clients)


async def live(url: str, subscribers: int, rounds: int) -> dict[str, float]:
    """p50 and p99 seconds to each subscriber's message, from the logMetrics response
    (0 when the message came first) and from the moment the request was sent."""
    ws_url = url.replace("http://", "ws://") + "/graphql"
    subject = await asyncio.to_thread(create_experiment_at, url, f"live-{subscribers}")
    received: dict[int, list[float]] = {}
    sockets = []
    for _ in range(subscribers):
        socket = await websockets.connect(ws_url, subprotocols=["graphql-transport-ws"])
        await socket.send(json.dumps({"type": "connection_init", "payload": HEADERS}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        payload = {"query": LOGGED, "variables": {"id": subject}}
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        sockets.append(socket)

    async def listen(socket: websockets.ClientConnection) -> None:
        async for raw in socket:
            at = time.perf_counter()
            message = json.loads(raw)
            if message["type"] == "next":
                step = message["payload"]["data"]["metricsLogged"]["points"]["steps"][0]
                received.setdefault(step, []).append(at)

    listeners = [asyncio.create_task(listen(s)) for s in sockets]
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def log(step: int) -> tuple[float, float]:
            series = {"key": "live", "steps": list(range(step, step + 10)), "values": [0.5] * 10}
            body = {
                "query": LOG,
                "variables": {"input": {"subjectId": subject, "series": [series]}},
            }
            sent = time.perf_counter()
            await client.post("/graphql", headers=HEADERS, json=body)
            return sent, time.perf_counter()

        # Poke until every subscriber is live: the protocol does not say when that is.
        step = 0
        while len(received.get(step - 10, [])) < subscribers:
            await log(step)
            step += 10
            await asyncio.sleep(0.2)
        after_response: list[float] = []
        after_request: list[float] = []
        for _ in range(rounds):
            sent, answered = await log(step)
            deadline = time.perf_counter() + 10
            while len(received.get(step, [])) < subscribers and time.perf_counter() < deadline:
                await asyncio.sleep(0.001)
            after_response += [max(0.0, at - answered) for at in received.get(step, [])]
            after_request += [at - sent for at in received.get(step, [])]
            step += 10
            await asyncio.sleep(0.05)
    for task in listeners:
        task.cancel()
    for socket in sockets:
        await socket.close()
    missing = rounds * subscribers - len(after_request)
    assert missing == 0, f"{missing} messages never arrived"
    return {
        "p50": percentile(after_response, 0.5),
        "p99": percentile(after_response, 0.99),
        "request_p50": percentile(after_request, 0.5),
        "request_p99": percentile(after_request, 0.99),
    }


def durability_cost(points: int, clients: int) -> None:
    """Ingest with and without `--sync-on-commit`, alternating, best of two rounds each."""
    shapes = [
        ("10,000-point requests", KEYS, PER_KEY, points),
        ("100-point requests", 1, 100, points // 20),
    ]
    best: dict[tuple[bool, str, int], float] = {}
    with tempfile.TemporaryDirectory(prefix="modelbox-bench-") as tmp:
        for _round in range(2):
            for durable in (True, False):
                path = Path(tmp) / f"db-{durable}-{_round}"
                with EmbeddedDatabase(path, durable=durable) as database:
                    env = {
                        "MODELBOX_MONGODB_URI": database.uri,
                        "MODELBOX_DATABASE": "bench",
                        "MODELBOX_ADMIN_TOKEN": TOKEN,
                    }
                    with ServerProcess(env) as server:
                        for name, keys, per_key, total in shapes:
                            for n in (1, clients):
                                rate = ingest_http(server.url, total, n, keys, per_key)
                                key = (durable, name, n)
                                best[key] = max(best.get(key, 0.0), rate)
    print("durability (embedded database synced per commit vs. not):")
    for name, *_ in shapes:
        for n in (1, clients):
            synced, unsynced = best[(True, name, n)], best[(False, name, n)]
            print(
                f"  {name}, {n} client(s): synced {synced:>9,.0f} points/s,"
                f" unsynced {unsynced:>9,.0f} points/s: {synced / unsynced:.0%}"
            )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def mlflow_figures(points: int, series_points: int, repeats: int) -> dict[str, float]:
    with mlflow_baseline.mlflow_server() as base_url:
        out = {"ingest": mlflow_baseline.ingest(base_url, total_points=points)}
        run_id = mlflow_baseline.create_run(base_url)
        mlflow_baseline.log_series(base_url, run_id, "loss", series_points)
        out["full_s"] = timed(
            repeats, lambda: mlflow_baseline.read_history(base_url, run_id, "loss")
        )
        out["sampled_s"] = timed(
            repeats,
            lambda: mlflow_baseline.read_sampled(base_url, run_id, "loss", max_results=1000),
        )
        out["sampled_320_s"] = timed(
            repeats, lambda: mlflow_baseline.read_sampled(base_url, run_id, "loss")
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--series-points", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=4, help="concurrent ingest clients")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=50, help="live logs per subscriber count")
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument(
        "--scaling-only", action="store_true", help="only the series-length table and workers"
    )
    parser.add_argument("--scale-sizes", type=int, nargs="+", default=list(SCALE_SIZES))
    parser.add_argument(
        "--durability-only", action="store_true", help="only ingest synced per commit or not"
    )
    args = parser.parse_args()
    if args.scaling_only:
        return scaling_table(args)
    if args.durability_only:
        durability_cost(args.points, args.clients)
        return 0

    figures: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="modelbox-bench-") as tmp,
        EmbeddedDatabase(Path(tmp) / "db") as database,
    ):
        env = server_env(database.uri, "bench")
        with ServerProcess(env) as server:
            figures["http_1"] = ingest_http(server.url, args.points, 1)
            print(f"modelbox ingest, 1 client:   {figures['http_1']:>10,.0f} points/s")
            figures["http_n"] = ingest_http(server.url, args.points, args.clients)
            print(f"modelbox ingest, {args.clients} clients:  {figures['http_n']:>10,.0f} points/s")
            figures["floor"] = ingest_floor(database.uri, "bench", args.points)
            print(f"pymongo floor (same layout): {figures['floor']:>10,.0f} points/s")
            read = reads(server.url, args.series_points, args.repeats)
            print(
                f"modelbox read of {args.series_points:,} points: {read['full_s'] * 1000:.0f} ms;"
                f" downsampled to 1,000: {read['sampled_s'] * 1000:.1f} ms"
            )
            lives = {}
            for n in (1, 100):
                lives[n] = got = asyncio.run(live(server.url, n, args.rounds))
                print(
                    f"live, {n:>3} subscribers: after the response p50 {got['p50'] * 1000:.1f} ms,"
                    f" p99 {got['p99'] * 1000:.1f} ms; after the request"
                    f" p50 {got['request_p50'] * 1000:.1f} ms,"
                    f" p99 {got['request_p99'] * 1000:.1f} ms"
                )
    durability_cost(args.points, args.clients)
    if args.no_mlflow:
        return 0
    mlflow = mlflow_figures(args.points, args.series_points, args.repeats)
    print(f"mlflow ingest (log-batch):   {mlflow['ingest']:>10,.0f} points/s")
    print(
        f"mlflow read: full {mlflow['full_s'] * 1000:.0f} ms;"
        f" sampled 1,000: {mlflow['sampled_s'] * 1000:.1f} ms;"
        f" sampled 320: {mlflow['sampled_320_s'] * 1000:.1f} ms"
    )
    clients = f"{args.clients} clients"
    ratios = [
        ("ingest, 1 client / mlflow", figures["http_1"] / mlflow["ingest"], "x", ">= 10x"),
        (f"ingest, {clients} / mlflow", figures["http_n"] / mlflow["ingest"], "x", ""),
        ("ingest, 1 client / floor", figures["http_1"] / figures["floor"], "%", ">= 50%"),
        (f"ingest, {clients} / floor", figures["http_n"] / figures["floor"], "%", ""),
        ("full read / mlflow", read["full_s"] / mlflow["full_s"], "", "<= 0.2"),
        ("downsampled / mlflow sampled", read["sampled_s"] / mlflow["sampled_s"], "", "<= 0.2"),
    ]
    print("ratios:")
    for name, ratio, unit, target in ratios:
        shown = f"{ratio:.1f}x" if unit == "x" else f"{ratio:.0%}" if unit else f"{ratio:.3f}"
        print(f"  {name:<30} {shown:>8}  {('target ' + target) if target else ''}")
    print(f"  live p50, 100 subscribers      {lives[100]['p50'] * 1000:.1f} ms  target < 50 ms")
    return 0


def scaling_table(args: argparse.Namespace) -> int:
    with (
        tempfile.TemporaryDirectory(prefix="modelbox-bench-") as tmp,
        EmbeddedDatabase(Path(tmp) / "db") as database,
    ):
        print("one series, by length:")
        with ServerProcess(server_env(database.uri, "bench_scaling")) as server:
            rows = scaling(server.url, tuple(args.scale_sizes), args.repeats)
        first, last = rows[0], rows[-1]
        print(
            f"  {last['points']:,} / {first['points']:,}: downsampled"
            f" {last['sampled_s'] / first['sampled_s']:.2f}x, page"
            f" {last['page_s'] / first['page_s']:.2f}x  (target <= 1.5x)"
        )
        for workers in (1, 2):
            rate = ingest_workers(database.uri, workers, args.points, args.clients)
            print(f"ingest, --workers {workers}, {args.clients} clients: {rate:>10,.0f} points/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
