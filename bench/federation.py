"""Federation overhead: one nested query straight to ModelBox, and through Hive Gateway.

Real processes on loopback: the embedded SecantusDB, `python -m modelbox serve`, the
JavaScript `deployments` subgraph and Hive Gateway over a supergraph composed by
@apollo/composition (tests/federation, `npm ci` there first; `make test` does it).
The same query, data and token go both ways, requests alternating, one keep-alive client
each; then the query with `deployments` added, which costs the gateway a second subgraph.

    .venv/bin/python bench/federation.py                 # 200 runs after 50 warm-up
    .venv/bin/python bench/federation.py --runs 1000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from modelbox.server.embedded import EmbeddedDatabase  # noqa: E402
from tests import gateways  # noqa: E402
from tests.api import ADMIN_TOKEN, Api  # noqa: E402
from tests.servers import ServerProcess  # noqa: E402

NAMESPACE = "bench"
NESTED = """query($ns: String!) { namespace(name: $ns) { name
  models(first: 10) { totalCount edges { node { name description
    versions(first: 10) { edges { node { id version name createdAt %s } } } } } } } }"""
DEPLOYMENTS = "deployments { environment replicas }"


async def seed(url: str, models: int, versions: int) -> str:
    """`models` models of `versions` versions each; returns a VIEWER token of the namespace."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        api = Api(client)
        for m in range(models):
            model = await api.create_model(NAMESPACE, f"model-{m}", description="benchmark")
            for _ in range(versions):
                await api.create_version(model["id"], name=f"v-of-{m}")
        return await api.token((NAMESPACE, "VIEWER"), name="bench-viewer")


class Timer:
    """POSTs one query over one keep-alive connection, and keeps each round trip's seconds."""

    def __init__(self, url: str, query: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        self.body = {"query": query, "variables": {"ns": NAMESPACE}}
        self.seconds: list[float] = []

    def once(self) -> dict[str, Any]:
        start = time.perf_counter()
        response = self.client.post("/graphql", json=self.body)
        elapsed = time.perf_counter() - start
        body = response.json()
        assert response.status_code == 200 and not body.get("errors"), body
        self.seconds.append(elapsed)
        return body["data"]

    def ms(self, q: float) -> float:
        return statistics.quantiles(self.seconds, n=100)[int(q) - 1] * 1000

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--versions", type=int, default=10)
    args = parser.parse_args()
    if (reason := gateways.unavailable()) is not None:
        print(f"bench/federation.py skipped: {reason}")
        return 0

    with tempfile.TemporaryDirectory() as tmp, EmbeddedDatabase(Path(tmp) / "db") as db:
        modelbox = ServerProcess(
            {
                "MODELBOX_MONGODB_URI": db.uri,
                "MODELBOX_DATABASE": "bench_federation",
                "MODELBOX_ADMIN_TOKEN": ADMIN_TOKEN,
            }
        )
        deployments = gateways.deployments_subgraph()
        supergraph = Path(tmp) / "supergraph.graphql"
        composed = gateways.compose(
            supergraph,
            {
                "modelbox": (f"{modelbox.url}/graphql", gateways.modelbox_sdl(Path(tmp))),
                "deployments": (f"{deployments.url}/graphql", gateways.deployments_sdl(Path(tmp))),
            },
        )
        assert composed.returncode == 0, composed.stderr
        hive = gateways.hive_gateway(supergraph)
        try:
            deployments.launch()
            hive.launch()
            modelbox.start()
            deployments.wait_ready()
            hive.wait_ready()
            token = asyncio.run(seed(modelbox.url, args.models, args.versions))
            run(modelbox.url, hive.url, token, args)
        finally:
            hive.stop()
            deployments.stop()
            modelbox.stop()
    return 0


def run(modelbox: str, hive: str, token: str, args: argparse.Namespace) -> None:
    plain = NESTED % ""
    timers = {
        "ModelBox directly": Timer(modelbox, plain, token),
        "through Hive Gateway": Timer(hive, plain, token),
        "through Hive, + deployments (2 subgraphs)": Timer(hive, NESTED % DEPLOYMENTS, token),
    }
    direct, gateway, joined = timers.values()
    answer = direct.once()
    assert gateway.once() == answer, "the gateway answers differently"
    versions = sum(
        len(e["node"]["versions"]["edges"]) for e in answer["namespace"]["models"]["edges"]
    )
    print(
        f"nested query: 1 namespace, {len(answer['namespace']['models']['edges'])} models, "
        f"{versions} versions; VIEWER token; {args.runs} runs each after {args.warmup} "
        "warm-up, alternating"
    )
    for _ in range(args.warmup):
        for timer in timers.values():
            timer.once()
    for timer in timers.values():
        timer.seconds.clear()
    for _ in range(args.runs):
        for timer in timers.values():
            timer.once()

    print(f"{'':44} {'median':>9} {'p90':>9} {'p99':>9}")
    for name, timer in timers.items():
        print(f"{name:44} {timer.median_ms:7.2f}ms {timer.ms(90):7.2f}ms {timer.ms(99):7.2f}ms")
    print(f"ratio through Hive / direct (median): {gateway.median_ms / direct.median_ms:.2f}x")
    print(f"ratio with deployments / direct (median): {joined.median_ms / direct.median_ms:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
