"""Search: the best runs of 10,000, against MLflow's `search_runs` on the same data.

10,000 experiments with 20 hyperparameters and 10 metrics each (a few points per series),
in one namespace. Two questions, each asked `--repeats` times, median latency:

* top: "the 10 runs with the highest val_acc where lr < 0.01"
  ModelBox: `query: "params.lr < 0.01"`, `orderBy: [{metric: "val_acc"}]`, `first: 10`.
  MLflow keeps params as strings, with no `<`, `IN` or `OR` on them: an MLflow user asks
  once per learning rate below 0.01 (the runs draw lr from a fixed set), each
  `params.lr = '…'` with `order_by=["metrics.val_acc DESC"]`, `max_results=10`, and
  merges the answers; the figure is all of those calls.
* three: "metrics.val_acc > 0.8 and params.optimizer = 'adam' and metrics.loss < 0.5",
  the first 100 runs by name. Asked for the runs' names (ModelBox answers from the
  process's search index, reading no run) and again for whole records (`name status
  hyperparameters`: the runs are read), as MLflow always returns them.

ModelBox is a real `modelbox serve` over HTTP on the embedded SecantusDB, seeded through
its public API in bulk (`createExperiment`, then `logMetrics` with the run's ten series,
25 aliased mutations per request, 4 requests at a time); MLflow is `MlflowClient`, seeded
with one `log_batch` per run, asked twice: in process on its sqlite file (no HTTP: its
figures flatter it), then through `mlflow server` on the same file (one worker, as
ModelBox here), as a team shares it. Seeding times are reported apart. Both get the same
runs (same seed). Database commands per question are counted on an in-process app with a
command listener.

    .venv/bin/python bench/search.py                  # 10,000 runs
    .venv/bin/python bench/search.py --runs 1000 --no-mlflow
    .venv/bin/python bench/search.py --data-dir DIR   # seeds DIR once (~40 min), then reuses it

Also measured, with no MLflow counterpart: the first 100 by name with no filter and a
request that reads only the token and the namespace (the floor under the questions).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from pymongo.monitoring import CommandListener, CommandStartedEvent

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import mlflow_baseline  # noqa: E402

from modelbox.server.config import Settings  # noqa: E402
from modelbox.server.embedded import EmbeddedDatabase  # noqa: E402
from modelbox.server.web.app import create_app  # noqa: E402
from tests.servers import ServerProcess  # noqa: E402

TOKEN = "mbx_bench-search-token-of-32-characters"
NAMESPACE = "bench"
DATABASE = "bench_search"
LEARNING_RATES = [0.1, 0.03, 0.01, 0.003, 0.001, 0.0003, 0.0001]
OPTIMIZERS = ["adam", "sgd", "lamb", "adamw"]
METRICS = ["val_acc", "loss", "train_acc", "val_loss", "f1", "precision", "recall", "auc"]
METRICS += ["top5", "latency"]
POINTS = 5

TOP = """query($first: Int!, $query: String, $orderBy: [ExperimentOrder!]) {
  namespace(name: "bench") { experiments(first: $first, query: $query, orderBy: $orderBy) {
    edges { node { name } } } } }"""
# The same questions reading whole records (MLflow's `search_runs` always returns them):
# the nodes' documents are read, where names alone come from the process's search index.
RECORDS = TOP.replace("node { name }", "node { name status hyperparameters }")
TOP_VARS = {"first": 10, "query": "params.lr < 0.01", "orderBy": [{"metric": "val_acc"}]}
THREE_TEXT = "metrics.val_acc > 0.8 and params.optimizer = 'adam' and metrics.loss < 0.5"
THREE_VARS = {"first": 100, "query": THREE_TEXT, "orderBy": [{"field": "name", "direction": "ASC"}]}
# The floor under the questions: the first 100 by name with no filter (a page of documents
# read), and a request that reads only the token and the namespace.
FIRST_100 = {"first": 100, "orderBy": [{"field": "name", "direction": "ASC"}]}
TRIVIAL = 'query { namespace(name: "bench") { name } }'
# The dashboard's runs page (static/views/runs.js) as it opens: the newest 50 runs, whole
# records with two metrics' summaries, and the total; of one namespace and of all of them.
RUNS_SELECTION = """experiments(first: 50) { totalCount pageInfo { hasNextPage endCursor }
  edges { node { id name status owner createdAt startedAt endedAt hyperparameters
    namespace { name }
    metricSeries(keys: ["loss", "val_acc"]) { key last { value } min max } } } }"""
RUNS_PAGE = f'query {{ namespace(name: "bench") {{ {RUNS_SELECTION} }} }}'
RUNS_PAGE_ALL = f"query {{ {RUNS_SELECTION} }}"
MLFLOW_TOP = [f"params.lr = '{lr}'" for lr in LEARNING_RATES if lr < 0.01]


def runs(n: int, seed: int = 14) -> list[dict[str, Any]]:
    """The runs both sides store: hyperparameters and, per metric, a few values."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        params: dict[str, Any] = {
            "lr": rng.choice(LEARNING_RATES),
            "optimizer": rng.choice(OPTIMIZERS),
            "batch_size": rng.choice([32, 64, 128, 256]),
        }
        params |= {f"p{j:02d}": round(rng.random(), 4) for j in range(17)}
        metrics = {key: [round(rng.random(), 6) for _ in range(POINTS)] for key in METRICS}
        out.append({"name": f"run-{i:05d}", "params": params, "metrics": metrics})
    return out


BATCH = 25  # mutations per request (under the server's max_aliases)
WRITERS = 4


async def _mutate(
    client: httpx.AsyncClient, field: str, kind: str, selection: str, inputs: list[Any]
) -> Any:
    """One request running `field` once per input, under aliases."""
    params = ", ".join(f"$i{n}: {kind}!" for n in range(len(inputs)))
    body = " ".join(f"m{n}: {field}(input: $i{n}) {{ {selection} }}" for n in range(len(inputs)))
    response = await client.post(
        "/graphql",
        json={
            "query": f"mutation({params}) {{ {body} }}",
            "variables": {f"i{n}": value for n, value in enumerate(inputs)},
        },
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    answer = response.json()
    assert "errors" not in answer, answer["errors"][:1]
    return [answer["data"][f"m{n}"] for n in range(len(inputs))]


async def seed_modelbox(
    url: str, data: list[dict[str, Any]], client: httpx.AsyncClient | None = None
) -> float:
    """Each run created, then its ten series logged, through the public API: batches of
    `BATCH` aliased mutations per request, `WRITERS` requests at a time (over `client`
    when given: an in-process app, as bench/runs.py counts and profiles it)."""
    batches = [data[i : i + BATCH] for i in range(0, len(data), BATCH)]
    started = time.perf_counter()

    async def writer(client: httpx.AsyncClient, mine: list[list[dict[str, Any]]]) -> None:
        for batch in mine:
            created = await _mutate(
                client,
                "createExperiment",
                "CreateExperimentInput",
                "id",
                [
                    {"namespace": NAMESPACE, "name": run["name"], "hyperparameters": run["params"]}
                    for run in batch
                ],
            )
            series = [
                {
                    "subjectId": experiment["id"],
                    "series": [
                        {"key": key, "steps": list(range(POINTS)), "values": values}
                        for key, values in run["metrics"].items()
                    ],
                }
                for run, experiment in zip(batch, created, strict=True)
            ]
            await _mutate(client, "logMetrics", "LogMetricsInput", "accepted", series)

    if client is not None:
        await asyncio.gather(*(writer(client, batches[w::WRITERS]) for w in range(WRITERS)))
    else:
        async with httpx.AsyncClient(base_url=url, timeout=300) as own:
            await asyncio.gather(*(writer(own, batches[w::WRITERS]) for w in range(WRITERS)))
    return time.perf_counter() - started


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


def ask(client: httpx.Client, variables: dict[str, Any], query: str = TOP) -> list[str]:
    response = client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    body = response.json()
    assert "errors" not in body, body
    if query != TOP:
        return []
    return [e["node"]["name"] for e in body["data"]["namespace"]["experiments"]["edges"]]


def modelbox_latency(url: str, repeats: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    questions: tuple[tuple[str, dict[str, Any], str], ...] = (
        ("top", TOP_VARS, TOP),
        ("three", THREE_VARS, TOP),
        ("three_records", THREE_VARS, RECORDS),
        ("runs_page", {}, RUNS_PAGE),
        ("runs_page_all", {}, RUNS_PAGE_ALL),
        ("first_100", FIRST_100, TOP),
        ("trivial", {}, TRIVIAL),
    )
    with httpx.Client(base_url=url, timeout=120) as client:
        for label, variables, query in questions:
            started = time.perf_counter()
            names = ask(client, variables, query)  # the first: the index loads what it names
            first = time.perf_counter() - started
            samples = []
            for _ in range(repeats):
                started = time.perf_counter()
                ask(client, variables, query)
                samples.append(time.perf_counter() - started)
            figures[label] = {
                "median_ms": median_ms(samples),
                "first_ms": round(first * 1000, 1),
                "names": names,
            }
    return figures


class Commands(CommandListener):
    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: CommandStartedEvent) -> None:
        if event.command_name not in {"hello", "isMaster", "ping", "endSessions"}:
            self.names.append(event.command_name)

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


async def commands_per_question(uri: str) -> dict[str, list[str]]:
    counter = Commands()
    settings = Settings(mongodb_uri=uri, database=DATABASE, admin_token=TOKEN)
    app = create_app(settings, event_listeners=[counter])
    counted: dict[str, list[str]] = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for label, variables in (("top", TOP_VARS), ("three", THREE_VARS)):
                # Cold (the process's search index loads what the question names), then warm.
                for ask in ("cold", "warm"):
                    counter.names.clear()
                    response = await client.post(
                        "/graphql",
                        json={"query": TOP, "variables": variables},
                        headers={"Authorization": f"Bearer {TOKEN}"},
                    )
                    assert "errors" not in response.json()
                    # The token check is one find; the rest is the search.
                    counted[f"{label}_{ask}"] = list(counter.names)
    return counted


MLFLOW_SCRIPT = r"""
import json, statistics, sys, tempfile, time, os
os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"
from mlflow.tracking import MlflowClient
from mlflow.entities import Metric, Param
spec = json.load(sys.stdin)
directory = spec["directory"]
client = MlflowClient(tracking_uri=spec["tracking_uri"] or f"sqlite:///{directory}/mlflow.db")
marker = os.path.join(directory, "mlflow-seeded")
started = time.perf_counter()
if os.path.exists(marker):  # kept from an earlier run with --data-dir
    experiment = client.get_experiment_by_name("bench").experiment_id
else:
    experiment = client.create_experiment("bench")
    now = int(time.time() * 1000)
    for run in spec["runs"]:
        created = client.create_run(experiment, run_name=run["name"])
        params = [Param(k, str(v)) for k, v in run["params"].items()]
        metrics = [Metric(k, v, now, step) for k, vs in run["metrics"].items()
                   for step, v in enumerate(vs)]
        client.log_batch(created.info.run_id, metrics=metrics, params=params)
    open(marker, "w").close()
seeded = time.perf_counter() - started
figures = {"seed_s": round(seeded, 1)}
def best(runs):
    return sorted(runs, key=lambda r: (-r.data.metrics["val_acc"], r.info.start_time))[:10]
for label, texts, order, n in spec["questions"] if spec["repeats"] else []:
    def once():
        found = [r for text in texts
                 for r in client.search_runs([experiment], text, max_results=n, order_by=order)]
        return best(found) if len(texts) > 1 else found
    names = [r.info.run_name for r in once()]
    samples = []
    for _ in range(spec["repeats"]):
        t = time.perf_counter(); once(); samples.append(time.perf_counter() - t)
    figures[label] = {"median_ms": round(statistics.median(samples) * 1000, 1), "names": names}
print(json.dumps(figures))
"""


def mlflow_figures(
    data: list[dict[str, Any]], repeats: int, directory: Path, tracking_uri: str | None = None
) -> dict[str, Any]:
    """MLflow's figures on the store in `directory` (seeded first if it is not): in
    process on its sqlite file, or through the tracking server at `tracking_uri`."""
    python = mlflow_baseline.ensure_venv()
    spec = {
        "directory": str(directory),
        "tracking_uri": tracking_uri,
        "runs": data,
        "repeats": repeats,
        "questions": [
            ["top", MLFLOW_TOP, ["metrics.val_acc DESC"], 10],
            ["three", [THREE_TEXT], ["attributes.run_name ASC"], 100],
            # Its runs page: the newest 50 runs, whole (MLflow has no total to ask).
            ["runs_page", [""], ["attributes.start_time DESC"], 50],
        ],
    }
    done = subprocess.run(
        [str(python), "-c", MLFLOW_SCRIPT],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep both sides' seeded databases here and reuse them (seeded only if empty)",
    )
    parser.add_argument("--seed-only", action="store_true", help="seed --data-dir and stop")
    args = parser.parse_args()
    data = runs(args.runs)

    results: dict[str, Any] = {"runs": args.runs, "load_before": os.getloadavg()}
    with contextlib.ExitStack() as stack:
        directory = args.data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        directory.mkdir(parents=True, exist_ok=True)
        marker = directory / f"modelbox-seeded-{args.runs}"
        database = stack.enter_context(EmbeddedDatabase(directory / "db"))
        env = {
            "MODELBOX_MONGODB_URI": database.uri,
            "MODELBOX_DATABASE": DATABASE,
            "MODELBOX_ADMIN_TOKEN": TOKEN,
        }
        with ServerProcess(env) as server:
            if marker.exists():
                print(f"reusing {args.runs:,} runs seeded in {directory}", flush=True)
            else:
                assert not any(directory.glob("modelbox-seeded-*")), "seeded with another size"
                seeded = asyncio.run(seed_modelbox(server.url, data))
                results["modelbox_seed_s"] = round(seeded, 1)
                marker.touch()
                print(f"seeded {args.runs:,} runs in {results['modelbox_seed_s']} s", flush=True)
            if not args.seed_only:
                results["modelbox"] = modelbox_latency(server.url, args.repeats)
        if not args.seed_only:
            results["commands"] = asyncio.run(commands_per_question(database.uri))
        if not args.no_mlflow:
            repeats = 0 if args.seed_only else args.repeats
            results["mlflow"] = mlflow_figures(data, repeats, directory)
            if repeats:
                # As teams share MLflow, and as ModelBox is asked here: over HTTP, one worker.
                store = directory / "mlflow.db"
                with mlflow_baseline.mlflow_server(workers=1, store=store) as url:
                    results["mlflow_server"] = mlflow_figures(data, repeats, directory, url)
    if args.seed_only:
        print(json.dumps(results))
        return 0

    results["load_after"] = os.getloadavg()
    print(f"search over {args.runs:,} runs (20 hyperparameters, 10 metrics each)")
    for label in ("top", "three"):
        ours = results["modelbox"][label]["median_ms"]
        commands = results["commands"]
        line = (
            f"  {label:6s} ModelBox {ours:8.1f} ms (first {results['modelbox'][label]['first_ms']})"
            f"   commands {len(commands[label + '_warm'])} ({len(commands[label + '_cold'])} cold)"
        )
        for side, name in (("mlflow", "MLflow in process"), ("mlflow_server", "MLflow server")):
            if side in results:
                theirs = results[side][label]["median_ms"]
                same = results[side][label]["names"] == results["modelbox"][label]["names"]
                line += f"\n      {name:18s} {theirs:8.1f} ms   ratio {theirs / ours:5.1f}x"
                line += f"   same runs {same}"
        print(line)
    # Asked of ModelBox only; against the MLflow question that returns the same runs.
    for label, theirs in (
        ("three_records", "three"),
        ("runs_page", "runs_page"),
        ("runs_page_all", "runs_page"),
    ):
        ours, first = (
            results["modelbox"][label]["median_ms"],
            results["modelbox"][label]["first_ms"],
        )
        line = f"  {label:13s} ModelBox {ours:8.1f} ms (first {first})"
        for side in ("mlflow", "mlflow_server"):
            if side in results:
                line += f"   {side} ratio {results[side][theirs]['median_ms'] / ours:5.1f}x"
        print(line)
    for label in ("first_100", "trivial"):
        floor = results["modelbox"][label]
        print(f"  {label:9s} ModelBox {floor['median_ms']:8.1f} ms (first {floor['first_ms']})")
    for side in ("modelbox", "mlflow", "mlflow_server"):
        for label in results.get(side, {}):
            if isinstance(results[side][label], dict):
                results[side][label].pop("names", None)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
