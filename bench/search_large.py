"""Search in one large namespace: a top-10 by a metric, a page by name, and how long a
trivial request waits on the same event loop while such searches run.

The namespace holds `--runs` experiments (200,000 by default), each with one val_acc
summary. One run goes through the API (createExperiment, logMetrics); the others are its
copies **written directly to the database** (experiments and their `m.val_acc.last` search
value, in batches), since seeding through the API goes at ~25 runs/s. The app runs in this
process (ASGI, no sockets): a search that holds the event loop delays the trivial requests
by as long.

    .venv/bin/python bench/search_large.py --data-dir DIR   # seeds DIR once, then reuses it
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from bson import ObjectId

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from search import POINTS, TOKEN, TOP, TRIVIAL, seed_modelbox  # noqa: E402

from modelbox.server.config import Settings  # noqa: E402
from modelbox.server.embedded import EmbeddedDatabase  # noqa: E402
from modelbox.server.web.app import create_app  # noqa: E402

DATABASE = "bench_search_large"
TOP_10 = {"first": 10, "orderBy": [{"metric": "val_acc", "direction": "DESC"}]}
BY_NAME = {"first": 10, "orderBy": [{"field": "name", "direction": "ASC"}]}
COPIES = 5_000  # documents per insert


async def seed(client: httpx.AsyncClient, database: Any, n: int) -> float:
    started = time.perf_counter()
    template = {
        "name": "run-000000",
        "params": {"lr": 0.01},
        "metrics": {"val_acc": [0.5] * POINTS},
    }
    await seed_modelbox("", [template], client=client)
    experiment = await database["experiments"].find_one({"name": "run-000000"})
    value = await database["search_values"].find_one({"f": "m.val_acc.last"})
    rng = random.Random(14)
    for begin in range(1, n, COPIES):
        experiments, values = [], []
        for i in range(begin, min(begin + COPIES, n)):
            e, acc = ObjectId(), round(rng.random(), 6)
            summary = {**experiment["metric_summaries"]["val_acc"], "min": acc, "max": acc}
            summary["last"] = {**summary["last"], "value": acc}
            experiments.append(
                {
                    **experiment,
                    "_id": e,
                    "name": f"run-{i:06d}",
                    "metric_summaries": {"val_acc": summary},
                }
            )
            values.append(
                {**value, "_id": f"{e}:m.val_acc.last", "v": acc, "e": e, "s": rng.randrange(1000)}
            )
        await database["experiments"].insert_many(experiments, ordered=False)
        await database["search_values"].insert_many(values, ordered=False)
    return time.perf_counter() - started


async def ask(client: httpx.AsyncClient, variables: dict[str, Any], query: str = TOP) -> float:
    started = time.perf_counter()
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert "errors" not in response.json(), response.json()
    return time.perf_counter() - started


def ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


async def trivial_while(client: httpx.AsyncClient, busy: asyncio.Task[Any]) -> list[float]:
    """Trivial requests, one every 5 ms, until `busy` ends: how long each waited."""
    samples = []
    while not busy.done():
        samples.append(await ask(client, {}, TRIVIAL))
        await asyncio.sleep(0.005)
    return samples


async def measure(client: httpx.AsyncClient, repeats: int) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "trivial_idle": ms([await ask(client, {}, TRIVIAL) for _ in range(repeats)])
    }
    for label, variables in (("top10_metric", TOP_10), ("top10_name", BY_NAME)):
        first = await ask(client, variables)  # loads the index
        samples = [await ask(client, variables) for _ in range(repeats)]
        figures[label] = {"first_ms": round(first * 1000, 1), **ms(samples)}

        async def searches(variables: dict[str, Any] = variables) -> None:
            for _ in range(repeats):
                await ask(client, variables)

        busy = asyncio.create_task(searches())
        figures[f"trivial_during_{label}"] = ms(await trivial_while(client, busy))
        await busy
    return figures


async def run(uri: str, n: int, repeats: int, marker: Path) -> dict[str, Any]:
    settings = Settings(mongodb_uri=uri, database=DATABASE, admin_token=TOKEN)
    app = create_app(settings)
    results: dict[str, Any] = {"runs": n}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", timeout=300
        ) as client:
            if not marker.exists():
                results["seed_s"] = round(await seed(client, app.state.store.database, n), 1)
                marker.touch()
            results |= await measure(client, repeats)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--data-dir", type=Path, help="seed here once and reuse")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        directory = args.data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        directory.mkdir(parents=True, exist_ok=True)
        marker = directory / f"seeded-{args.runs}"
        if not marker.exists():
            assert not any(directory.glob("seeded-*")), "seeded with another size"
        database = stack.enter_context(EmbeddedDatabase(directory / "db"))
        load = os.getloadavg()
        results = asyncio.run(run(database.uri, args.runs, args.repeats, marker))
    print(json.dumps({"load_before": load, **results, "load_after": os.getloadavg()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
