"""Policies: promotion latency with one and two API processes, and a retention run at scale.

One run, one machine, the embedded SecantusDB started here:

* promotion: from `createCheckpoint` returning to the promoted version being readable
  (`Checkpoint.modelVersion` polled every 2 ms), p50 and p99 over 200 checkpoints, with one
  `modelbox serve` process and with two on the same database (checkpoints alternate between
  them; both evaluate every one, the database lets one promote it). Baseline in the same run:
  a client promoting by itself, i.e. `createModelVersion(checkpointId)` sent when
  `createCheckpoint` returns, until it returns. Every checkpoint must give exactly one version.
* retention: `evaluatePolicy` on a RETENTION policy (keepLast 100, keepBest 10) over a model
  with 10,000 versions, served in this process so its database commands are counted (PyMongo
  command monitoring) and its peak memory read (`VmHWM`, reset before the run). Baseline in
  the same run: the floor, PyMongo `delete_many` of the same number of versions of another
  model in the run's batches (no audit, no cascade).

    .venv/bin/python bench/policies.py            # full run
    .venv/bin/python bench/policies.py --quick    # smaller, for a look
    .venv/bin/python bench/policies.py --only retention   # or promotion
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from bson import ObjectId
from pymongo import MongoClient

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from modelbox.server.config import Settings  # noqa: E402
from modelbox.server.embedded import EmbeddedDatabase, free_port  # noqa: E402
from modelbox.server.store.policies.actions import BATCH  # noqa: E402
from modelbox.server.web.app import create_app  # noqa: E402
from tests.in_process import CommandCounter  # noqa: E402
from tests.live import server_env  # noqa: E402
from tests.servers import ServerProcess  # noqa: E402

TOKEN = "mbx_bench-admin-token-for-policies-bench"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
GOOD = [{"key": "acc", "value": 0.95, "dataset": "val"}]


async def graphql(client: httpx.AsyncClient, query: str, **variables: Any) -> Any:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(body["errors"])
    return body["data"]


async def setup(client: httpx.AsyncClient, name: str, policy: bool) -> tuple[str, str]:
    model = await graphql(
        client,
        "mutation($i: CreateModelInput!) { createModel(input: $i) { id } }",
        i={"namespace": "bench", "name": name},
    )
    run = await graphql(
        client,
        "mutation($i: CreateExperimentInput!) { createExperiment(input: $i) { id } }",
        i={"namespace": "bench", "name": f"{name}-run"},
    )
    model_id, run_id = model["createModel"]["id"], run["createExperiment"]["id"]
    if policy:
        await graphql(
            client,
            "mutation($i: CreatePolicyInput!) { createPolicy(input: $i) { id } }",
            i={
                "namespace": "bench",
                "name": f"promote-{name}",
                "kind": "PROMOTION",
                "modelId": model_id,
                "experimentId": run_id,
                "conditions": [{"key": "acc", "dataset": "val", "op": "GTE", "value": 0.9}],
            },
        )
    return model_id, run_id


CHECKPOINT = "mutation($i: CreateCheckpointInput!) { createCheckpoint(input: $i) { id } }"
PROMOTED = "query($id: ID!) { node(id: $id) { ... on Checkpoint { modelVersion { id } } } }"
REGISTER = "mutation($i: CreateModelVersionInput!) { createModelVersion(input: $i) { id } }"


async def promotion(clients: list[httpx.AsyncClient], run_id: str, n: int) -> list[float]:
    """Seconds from createCheckpoint's response to its promoted version being readable."""
    latencies = []
    for i in range(n):
        client = clients[i % len(clients)]
        created = await graphql(
            client, CHECKPOINT, i={"experimentId": run_id, "step": i, "metrics": GOOD}
        )
        start = time.perf_counter()
        checkpoint_id = created["createCheckpoint"]["id"]
        deadline = start + 30
        while (await graphql(client, PROMOTED, id=checkpoint_id))["node"]["modelVersion"] is None:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"checkpoint {i} was not promoted within 30 s")
            await asyncio.sleep(0.002)
        latencies.append(time.perf_counter() - start)
    return latencies


async def by_hand(client: httpx.AsyncClient, model_id: str, run_id: str, n: int) -> list[float]:
    """The baseline: the client registers the version itself when the checkpoint returns."""
    latencies = []
    for i in range(n):
        created = await graphql(
            client, CHECKPOINT, i={"experimentId": run_id, "step": i, "metrics": GOOD}
        )
        start = time.perf_counter()
        await graphql(
            client,
            REGISTER,
            i={
                "modelId": model_id,
                "checkpointId": created["createCheckpoint"]["id"],
                "metrics": GOOD,
            },
        )
        latencies.append(time.perf_counter() - start)
    return latencies


def versions_of(db: Any, model_id: str) -> int:
    from modelbox.server.resolvers.ids import from_global_id

    decoded = from_global_id(model_id)
    assert decoded is not None
    return int(db.model_versions.count_documents({"model_id": ObjectId(decoded[1])}))


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def summary(samples: list[float]) -> str:
    return f"p50 {pct(samples, 0.5):.1f} ms, p99 {pct(samples, 0.99):.1f} ms"


async def promotions(uri: str, n: int) -> None:
    settings = Settings(mongodb_uri=uri, database="bench_promotion", admin_token=TOKEN)
    env = server_env(settings)
    first = await asyncio.to_thread(ServerProcess(env).start)
    second = None
    try:
        async with httpx.AsyncClient(base_url=first.url, headers=HEADERS, timeout=60) as one:
            model_id, run_id = await setup(one, "single", policy=True)
            single = await promotion([one], run_id, n)
            base_model, base_run = await setup(one, "by-hand", policy=False)
            baseline = await by_hand(one, base_model, base_run, n)
            second = await asyncio.to_thread(ServerProcess(env).start)
            async with httpx.AsyncClient(base_url=second.url, headers=HEADERS, timeout=60) as two:
                pair_model, pair_run = await setup(one, "pair", policy=True)
                pair = await promotion([one, two], pair_run, n)
        await asyncio.sleep(2)  # the slower process has seen every checkpoint by now
        with MongoClient(uri) as client:
            db = client["bench_promotion"]
            counts = [versions_of(db, m) for m in (model_id, pair_model)]
    finally:
        if second is not None:
            await asyncio.to_thread(second.stop)
        await asyncio.to_thread(first.stop)
    print(f"promotion, createCheckpoint returned -> promoted version readable, {n} checkpoints")
    print(f"  one API process:  {summary(single)}; versions made: {counts[0]} (want {n})")
    print(f"  two API processes: {summary(pair)}; versions made: {counts[1]} (want {n})")
    print(f"  baseline, client registers it itself: {summary(baseline)}")
    print(
        f"  ratio p50 policy/by hand: one {pct(single, 0.5) / pct(baseline, 0.5):.2f}x, "
        f"two {pct(pair, 0.5) / pct(baseline, 0.5):.2f}x"
    )


def seed_versions(db: Any, model_id: ObjectId, n: int) -> None:
    start = datetime.now(UTC) - timedelta(days=n)
    documents = [
        {
            "model_id": model_id,
            "namespace": "bench",
            "version": v,
            "aliases": ["production"] if v == 1 else [],
            "labels": [],
            "datasets": [],
            "metrics": [{"key": "acc", "value": (v * 7919 % 10_000) / 10_000, "dataset": "val"}],
            "created_at": start + timedelta(days=v),
            "updated_at": start + timedelta(days=v),
        }
        for v in range(1, n + 1)
    ]
    for i in range(0, n, 1000):
        db.model_versions.insert_many(documents[i : i + 1000])
    db.model_version_counters.update_one({"_id": model_id}, {"$set": {"n": n}}, upsert=True)


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def retention(uri: str, n: int) -> None:
    settings = Settings(mongodb_uri=uri, database="bench_retention", admin_token=TOKEN)
    commands = CommandCounter()
    app = create_app(settings, event_listeners=[commands])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=HEADERS, timeout=600
        ) as client:
            model_id, _ = await setup(client, "big", policy=False)
            from modelbox.server.resolvers.ids import from_global_id

            raw = ObjectId(from_global_id(model_id)[1])  # type: ignore[index]
            with MongoClient(uri) as sync:
                seed_versions(sync["bench_retention"], raw, n)
            policy = await graphql(
                client,
                "mutation($i: CreatePolicyInput!) { createPolicy(input: $i) { id } }",
                i={
                    "namespace": "bench",
                    "name": "keep-some",
                    "kind": "RETENTION",
                    "modelId": model_id,
                    "keepLast": 100,
                    "keepBest": 10,
                    "keepBestBy": "acc",
                },
            )
            evaluate = """mutation($id: ID!) { evaluatePolicy(input: {policyId: $id}) {
              decision reasons } }"""
            Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS from here
            before = rss_mib()
            commands.names.clear()
            start = time.perf_counter()
            result = await graphql(client, evaluate, id=policy["createPolicy"]["id"])
            elapsed = time.perf_counter() - start
            peak = peak_rss_mib()
            used = Counter(commands.names)
            with MongoClient(uri) as sync:
                left = sync["bench_retention"].model_versions.count_documents({"model_id": raw})
                floor_model = ObjectId()
                seed_versions(sync["bench_retention"], floor_model, n)
                doomed = [
                    d["_id"]
                    for d in sync["bench_retention"]
                    .model_versions.find({"model_id": floor_model}, {"_id": 1})
                    .sort("version", 1)
                ][: n - left]
                floor_start = time.perf_counter()
                # In the retention run's batches: one large `$in` is slow on SecantusDB.
                for i in range(0, len(doomed), BATCH):
                    batch = doomed[i : i + BATCH]
                    sync["bench_retention"].model_versions.delete_many({"_id": {"$in": batch}})
                floor = time.perf_counter() - floor_start
    finally:
        server.should_exit = True
        await serving
    evaluation = result["evaluatePolicy"][0]
    print(f"retention over {n} versions (keepLast 100, keepBest 10, one aliased)")
    print(f"  evaluatePolicy: {elapsed:.2f} s, {evaluation['decision']}, {left} versions left")
    print(f"  reasons: {'; '.join(evaluation['reasons'])}")
    kinds = ", ".join(f"{name} {count}" for name, count in sorted(used.items()))
    print(f"  database commands: {sum(used.values())} ({kinds})")
    grown = peak - before
    print(
        f"  server process memory: {before:.0f} MiB before, peak {peak:.0f} MiB (+{grown:.0f} MiB)"
    )
    ratio = elapsed / floor
    print(
        f"  floor, PyMongo delete_many of {len(doomed)} versions, {BATCH} a command: "
        f"{floor:.2f} s ({ratio:.1f}x)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["promotion", "retention"])
    args = parser.parse_args()
    checkpoints, versions = (30, 1000) if args.quick else (200, 10_000)
    with tempfile.TemporaryDirectory() as tmp, EmbeddedDatabase(Path(tmp) / "db") as db:
        if args.only != "retention":
            await promotions(db.uri, checkpoints)
        if args.only != "promotion":
            await retention(db.uri, versions)
    print(
        "(the two cores of this machine are shared with other engineers' test runs: "
        "compare ratios, not absolute times)"
    )


if __name__ == "__main__":
    asyncio.run(main())
