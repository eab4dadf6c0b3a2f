"""Seeding many small runs: `bench/search.py`'s write shape alone, against MLflow `log_batch`.

Each run is `createExperiment` (20 hyperparameters), then `logMetrics` with its ten new
series of 5 points; 25 aliased mutations per request, 4 requests at a time, through a real
`modelbox serve` over HTTP on the embedded SecantusDB (the data and the requests are
`bench/search.py`'s). MLflow, in the same run on the same data: `create_run` and one
`log_batch` per run, `MlflowClient` in-process on sqlite (no HTTP, which flatters it).

Also printed: the database commands per run, counted with a command listener on an
in-process app seeding one batch of 25 runs (by command and collection), and the CPU
seconds per run spent by the server's and the database's processes while seeding; then
`--finish` of the runs are marked FINISHED (`updateExperiment`, in the same shape), timed.
`--profile` instead seeds in-process under cProfile and prints the server's top functions.

    .venv/bin/python bench/runs.py --runs 500
    .venv/bin/python bench/runs.py --runs 200 --no-mlflow --profile
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import json
import os
import pstats
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
import search  # noqa: E402

from modelbox.server.config import Settings  # noqa: E402
from modelbox.server.embedded import EmbeddedDatabase  # noqa: E402
from modelbox.server.web.app import create_app  # noqa: E402
from tests.servers import ServerProcess  # noqa: E402

IGNORED = {"hello", "isMaster", "ismaster", "ping", "endSessions", "buildInfo"}


class Commands(CommandListener):
    """Every command the server sends, as `name collection` (`commitTransaction` alone)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def started(self, event: CommandStartedEvent) -> None:
        if event.command_name in IGNORED:
            return
        target = event.command.get("collection", event.command.get(event.command_name))
        where = f" {target}" if isinstance(target, str) else ""
        self.seen.append(f"{event.command_name}{where}")

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


IDS = """query($after: String) { namespace(name: "bench") { experiments(first: 100,
  after: $after) { edges { node { id } } pageInfo { hasNextPage endCursor } } } }"""


async def finish(url: str, runs: int) -> float:
    """Seconds to mark `runs` of the seeded runs FINISHED, as a sweep ends each run: in the
    seeding's shape (`BATCH` aliased `updateExperiment` per request, `WRITERS` at a time)."""
    headers = {"Authorization": f"Bearer {search.TOKEN}"}
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        ids: list[str] = []
        after = None
        while len(ids) < runs:
            body = await client.post(
                "/graphql", json={"query": IDS, "variables": {"after": after}}, headers=headers
            )
            page = body.json()["data"]["namespace"]["experiments"]
            ids += [edge["node"]["id"] for edge in page["edges"]]
            after = page["pageInfo"]["endCursor"]
            if not page["pageInfo"]["hasNextPage"]:
                break
        inputs = [{"id": i, "status": "FINISHED"} for i in ids[:runs]]
        batches = [inputs[i : i + search.BATCH] for i in range(0, len(inputs), search.BATCH)]
        started = time.perf_counter()

        async def writer(mine: list[list[dict[str, Any]]]) -> None:
            for batch in mine:
                await search._mutate(
                    client, "updateExperiment", "UpdateExperimentInput", "status", batch
                )

        await asyncio.gather(*(writer(batches[w :: search.WRITERS]) for w in range(search.WRITERS)))
        return time.perf_counter() - started


def seed_over_http(data: list[dict[str, Any]], slices: int, finishing: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory() as directory,
        EmbeddedDatabase(Path(directory) / "db") as database,
    ):
        env = {
            "MODELBOX_MONGODB_URI": database.uri,
            "MODELBOX_DATABASE": search.DATABASE,
            "MODELBOX_ADMIN_TOKEN": search.TOKEN,
        }
        with ServerProcess(env) as server:
            assert server.process is not None and database.pid is not None
            pids = {"server": server.process.pid, "database": database.pid}
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            # Seeded in consecutive slices, each timed: whether a run costs more as they grow.
            size = -(-len(data) // slices)
            parts = [data[i : i + size] for i in range(0, len(data), size)]
            times = [asyncio.run(search.seed_modelbox(server.url, part)) for part in parts]
            cpu = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
            finished = asyncio.run(finish(server.url, finishing)) if finishing else 0.0
    seconds = sum(times)
    rates = [round(len(part) / t, 1) for part, t in zip(parts, times, strict=True)]
    per_run = {f"{name}_cpu_ms_per_run": round(s * 1000 / len(data), 1) for name, s in cpu.items()}
    return {
        "seed_s": round(seconds, 2),
        "runs_per_s": round(len(data) / seconds, 1),
        "runs_per_s_by_slice": rates,
        **per_run,
        "finish_ms_per_run": round(finished * 1000 / finishing, 1) if finishing else None,
    }


async def _seed_in_process(
    uri: str, data: list[dict[str, Any]], listener: Commands | None, profile: bool
) -> list[str]:
    settings = Settings(mongodb_uri=uri, database=search.DATABASE, admin_token=search.TOKEN)
    app = create_app(settings, event_listeners=[listener] if listener else [])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            # The namespace exists first, as in any long seeding: its creation is not per run.
            await search._mutate(
                client,
                "createExperiment",
                "CreateExperimentInput",
                "id",
                [{"namespace": search.NAMESPACE, "name": "warm-up"}],
            )
            if listener:
                listener.seen.clear()
            profiler = cProfile.Profile() if profile else None
            if profiler:
                profiler.enable()
            await search.seed_modelbox(str(client.base_url), data, client=client)
            if profiler:
                profiler.disable()
                stats = pstats.Stats(profiler).sort_stats("cumulative")
                stats.print_stats(45)
                stats.sort_stats("tottime").print_stats(25)
    return listener.seen if listener else []


def in_process(data: list[dict[str, Any]], *, profile: bool) -> list[str]:
    with (
        tempfile.TemporaryDirectory() as directory,
        EmbeddedDatabase(Path(directory) / "db") as database,
    ):
        listener = None if profile else Commands()
        return asyncio.run(_seed_in_process(database.uri, data, listener, profile))


def mlflow_seed(data: list[dict[str, Any]]) -> dict[str, Any]:
    """`create_run` and one `log_batch` per run: bench/search.py's MLflow seeding, no questions."""
    python = mlflow_baseline.ensure_venv()
    done = subprocess.run(
        [str(python), "-c", search.MLFLOW_SCRIPT],
        input=json.dumps({"directory": None, "runs": data, "repeats": 0, "questions": []}),
        capture_output=True,
        text=True,
        check=True,
    )
    figures = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    figures["runs_per_s"] = round(len(data) / figures["seed_s"], 1)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--slices", type=int, default=4, help="timed apart, in order")
    parser.add_argument("--finish", type=int, default=200, help="runs then marked FINISHED")
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile in-process seeding")
    args = parser.parse_args()
    data = search.runs(args.runs)
    if args.profile:
        in_process(data, profile=True)
        return 0

    batch = data[: search.BATCH]
    commands = in_process(batch, profile=False)
    results: dict[str, Any] = {"runs": args.runs, "load_average": os.getloadavg()}
    results["commands_per_run"] = round(len(commands) / len(batch), 2)
    results["commands"] = dict(collections.Counter(commands).most_common())
    results["modelbox"] = seed_over_http(data, args.slices, args.finish)
    if not args.no_mlflow:
        results["mlflow"] = mlflow_seed(data)

    ours = results["modelbox"]
    print(json.dumps(results, indent=1))
    line = f"seeded {args.runs:,} runs: ModelBox {ours['runs_per_s']} runs/s ({ours['seed_s']} s)"
    if "mlflow" in results:
        theirs = results["mlflow"]
        ratio = ours["runs_per_s"] / theirs["runs_per_s"]
        line += f", MLflow {theirs['runs_per_s']} runs/s ({theirs['seed_s']} s), {ratio:.2f}x"
    print(line)
    if ours["finish_ms_per_run"] is not None:
        print(f"marking {args.finish} runs FINISHED: {ours['finish_ms_per_run']} ms per run")
    print(
        f"database commands per run {results['commands_per_run']};"
        f" CPU per run: server {ours['server_cpu_ms_per_run']} ms,"
        f" database {ours['database_cpu_ms_per_run']} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
