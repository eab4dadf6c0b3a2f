"""Nested query cost: namespace -> 20 models -> 10 versions each -> experiment.

Runs a real uvicorn server in this process on the embedded database, counts the
database commands the query issues (PyMongo command monitoring) and times 50 runs
over HTTP. Baseline, in the same run on the same data: the same objects read with
PyMongo the way a resolver without DataLoaders would (one query per parent).

    .venv/bin/python bench/nested_query.py
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import uvicorn
from pymongo import AsyncMongoClient
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

from modelbox.server.config import Settings
from modelbox.server.embedded import EmbeddedDatabase, free_port
from modelbox.server.web.app import create_app

TOKEN = "mbx_bench-admin-token-of-32-characters"
RUNS = 50
QUERY = """
query { namespace(name: "bench") { models(first: 20) { totalCount edges { node {
  name versions(first: 10) { totalCount edges { node { version experiment { name status } } } }
} } } } }
"""
HOUSEKEEPING = {"hello", "isMaster", "ismaster", "ping", "endSessions", "buildInfo"}


class Commands(CommandListener):
    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: CommandStartedEvent) -> None:
        # The change stream's own polling (policies keep one open) is not the query's work.
        stream = event.command_name == "getMore" and event.command["collection"] == "$cmd.aggregate"
        if event.command_name not in HOUSEKEEPING and not stream:
            self.names.append(event.command_name)

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass


async def graphql(client: httpx.AsyncClient, query: str, **variables: object) -> dict:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]


async def seed(client: httpx.AsyncClient) -> None:
    create = "mutation($i: CreateExperimentInput!) { createExperiment(input: $i) { id } }"
    run = await graphql(client, create, i={"namespace": "bench", "name": "run"})
    experiment_id = run["createExperiment"]["id"]
    for m in range(20):
        model = await graphql(
            client,
            "mutation($i: CreateModelInput!) { createModel(input: $i) { id } }",
            i={"namespace": "bench", "name": f"model-{m:02d}"},
        )
        for _ in range(10):
            await graphql(
                client,
                "mutation($i: CreateModelVersionInput!) { createModelVersion(input: $i) { id } }",
                i={"modelId": model["createModel"]["id"], "experimentId": experiment_id},
            )


async def naive_reads(uri: str, database: str, commands: Commands) -> int:
    """One query per parent object, as resolvers without DataLoaders would do."""
    async with AsyncMongoClient(uri, event_listeners=[commands]) as client:
        db = client[database]
        namespace = await db.namespaces.find_one({"name": "bench"})
        models = await db.models.find({"namespace": namespace["name"]}).to_list(20)
        total = 0
        for model in models:
            versions = await db.model_versions.find({"model_id": model["_id"]}).to_list(10)
            for version in versions:
                await db.experiments.find_one({"_id": version["experiment_id"]})
                total += 1
        return total


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedDatabase(Path(tmp) / "db") as db:
        settings = Settings(mongodb_uri=db.uri, database="bench", admin_token=TOKEN)
        commands = Commands()
        app = create_app(settings, event_listeners=[commands])
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as c:
            await seed(c)
            await graphql(c, QUERY)  # warm-up: connections, parser and validation caches
            commands.names.clear()
            data = await graphql(c, QUERY)
            api_commands = list(commands.names)
            edges = data["namespace"]["models"]["edges"]
            objects = sum(len(e["node"]["versions"]["edges"]) for e in edges)

            api_times = []
            for _ in range(RUNS):
                start = time.perf_counter()
                await graphql(c, QUERY)
                api_times.append(time.perf_counter() - start)

        naive = Commands()
        await naive_reads(db.uri, "bench", naive)
        naive_commands = list(naive.names)
        naive_times = []
        for _ in range(RUNS):
            start = time.perf_counter()
            await naive_reads(db.uri, "bench", Commands())
            naive_times.append(time.perf_counter() - start)

        server.should_exit = True
        await serving

    print(f"nested query: 1 namespace -> {len(edges)} models -> {objects} versions -> experiment")
    print(
        f"  ModelBox over HTTP: {len(api_commands)} database commands ({', '.join(api_commands)})"
    )
    print(f"  ModelBox over HTTP: median {median_ms(api_times):.1f} ms over {RUNS} runs")
    print(f"  baseline, PyMongo one query per parent: {len(naive_commands)} database commands")
    print(f"  baseline, PyMongo one query per parent: median {median_ms(naive_times):.1f} ms")
    print(
        f"  ratio: {len(naive_commands) / len(api_commands):.0f}x fewer commands, "
        f"{statistics.median(naive_times) / statistics.median(api_times):.2f}x the baseline's speed"
    )


if __name__ == "__main__":
    asyncio.run(main())
