"""Load: 20 writers logging metrics while 100 `metricsLogged` subscribers watch, and without.

One run, one machine, two phases on the same embedded database, each against a fresh
`python -m modelbox serve` process (one uvicorn worker: one change stream):

* 0 subscribers: 20 writers, each logging its own key of one experiment, 100 points a
  request, back to back, for DURATION seconds;
* 100 subscribers: the same, while 100 WebSocket connections (in a separate process, so
  that their reading does not slow the writers' loop) each hold one `metricsLogged`
  subscription on that experiment, all with the same selection.

Reported per phase: points acknowledged, stored (the series' counts afterwards) and
delivered to each subscriber (lost = acknowledged - the least any subscriber got), write
requests/s and latency p50/p99, delivery latency p50/p99 (from the write's acknowledgement
to a subscriber reading the update; and from the request being sent), and the server's RSS
over time. The ratio that matters: write throughput with subscribers / without.

With `--events`, the writers (8, unless `--writers` says) log 5 events a request instead,
each to an experiment of its own, and the subscribers each hold one `events` subscription
on their namespace (each event is a change of its own: a delivery per event and
subscriber). The server's CPU per delivery is what the subscribers add to its CPU per
write, over the deliveries a write makes.

    .venv/bin/python bench/load.py              # 60 s a phase
    .venv/bin/python bench/load.py --quick      # 15 s a phase
    .venv/bin/python bench/load.py --rounds 3   # alternated, for a machine whose load varies
    .venv/bin/python bench/load.py --events     # events instead of metric points
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from bench.serving import TOKEN, graphql, serving  # noqa: E402
from modelbox.server.embedded import EmbeddedDatabase  # noqa: E402
from tests.ws import WsClient  # noqa: E402

CREATE = """mutation($name: String!) {
  createExperiment(input: {namespace: "bench", name: $name}) { id } }"""
WRITERS, SUBSCRIBERS = 20, 100


@dataclass(frozen=True)
class Workload:
    """What the writers log and the subscribers watch: `per_request` units (points, events)
    a request; `arrived` reads an update as (writer's key, first step, units in it). With
    `own_subjects` each writer logs to an experiment of its own (events of one subject are
    ordered, so writers of one subject would wait for each other)."""

    log: str
    watch: str
    stored: str
    per_request: int
    writers: int
    request: Callable[[str, int], dict[str, Any]]
    arrived: Callable[[dict[str, Any]], tuple[str, int, int]]
    count: Callable[[dict[str, Any]], int]
    own_subjects: bool = False


def _points(key: str, first: int) -> dict[str, Any]:
    return {
        "series": [{"key": key, "steps": list(range(first, first + 100)), "values": [0.5] * 100}]
    }


def _point_update(data: dict[str, Any]) -> tuple[str, int, int]:
    update = data["metricsLogged"]
    steps = update["points"]["steps"]
    return update["key"], steps[0], len(steps)


def _events(key: str, first: int) -> dict[str, Any]:
    events = [{"name": "step", "payload": {"w": key, "step": first + i}} for i in range(5)]
    return {"events": events}


def _event_update(data: dict[str, Any]) -> tuple[str, int, int]:
    payload = data["events"]["payload"]
    return payload["w"], payload["step"], 1


WORKLOADS = {
    "metrics": Workload(
        log="mutation($input: LogMetricsInput!) { logMetrics(input: $input) { accepted } }",
        watch="""subscription($id: ID!) { metricsLogged(subjectId: $id) {
  key points { steps wallclocks values } } }""",
        stored="""query($id: ID!) { node(id: $id) { ... on Experiment {
  metricSeries { key count } } } }""",
        per_request=100,
        writers=WRITERS,
        request=_points,
        arrived=_point_update,
        count=lambda data: sum(s["count"] for s in data["node"]["metricSeries"]),
    ),
    "events": Workload(
        log="mutation($input: LogEventsInput!) { logEvents(input: $input) { id } }",
        watch="""subscription { events(namespace: "bench") {
  id name payload wallclock sincePrevious } }""",
        stored="""query { namespace(name: "bench") { events(first: 1) { totalCount } } }""",
        per_request=5,
        writers=8,
        request=_events,
        arrived=_event_update,
        count=lambda data: data["namespace"]["events"]["totalCount"],
        own_subjects=True,
    ),
}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# Subscribers: a process of their own.


async def _subscribe(
    url: str, run_id: str, work: str, count: int, deflate: bool, ready: Any, stop: Any
) -> dict[str, Any]:
    """Hold `count` subscriptions until `stop` is set to how many units were acknowledged and
    each has received that many (or 60 s more passed); per connection, what arrived when."""
    clients = []
    options: dict[str, Any] = {} if deflate else {"compression": None}
    for start in range(0, count, 25):
        batch = [
            WsClient(url, token=TOKEN, **options).connect() for _ in range(min(25, count - start))
        ]
        clients += await asyncio.gather(*batch)
    for client in clients:
        await client.subscribe(WORKLOADS[work].watch, {"id": run_id})
    received: list[dict[tuple[str, int], float]] = [{} for _ in clients]
    points = [0] * len(clients)
    messages = [0] * len(clients)  # updates received
    errors: list[Any] = []
    arrived = WORKLOADS[work].arrived

    async def read(i: int, client: WsClient) -> None:
        assert client.socket is not None
        async for raw in client.socket:
            at = time.time()
            # orjson: this process stands in for 100 clients on other machines, so that its
            # parsing takes as little as possible of the CPU the server and database share.
            message = orjson.loads(raw)
            if message.get("type") == "ping":
                await client.socket.send('{"type": "pong"}')
            elif message.get("type") == "next":
                payload = message["payload"]
                if payload.get("errors"):
                    errors.append(payload["errors"])
                    continue
                key, step, units = arrived(payload["data"])
                points[i] += units
                messages[i] += 1
                received[i][(key, step)] = at

    readers = [asyncio.create_task(read(i, c)) for i, c in enumerate(clients)]
    ready.set()
    while not stop.value:
        await asyncio.sleep(0.2)
    deadline = time.time() + 60
    while min(points) < stop.value and time.time() < deadline:
        await asyncio.sleep(0.2)
    for reader in readers:
        reader.cancel()
    for client in clients:
        await client.close()
    arrivals = [[[k, s, t] for (k, s), t in r.items()] for r in received]
    return {"points": points, "messages": sum(messages), "arrivals": arrivals, "errors": errors[:5]}


def subscriber_process(
    url: str, run_id: str, work: str, count: int, deflate: bool, ready: Any, stop: Any, results: Any
) -> None:
    results.put(asyncio.run(_subscribe(url, run_id, work, count, deflate, ready, stop)))


# Writers: the bench's own process.


async def writer(
    client: httpx.AsyncClient,
    work: Workload,
    run_id: str,
    w: int,
    until: float,
    acks: dict[tuple[str, int], Any],
) -> None:
    key, first = f"w{w}", 0
    while time.time() < until:
        sent = time.time()
        variables = {"input": {"subjectId": run_id, **work.request(key, first)}}
        await graphql(client, work.log, variables)
        acks[(key, first)] = (sent, time.time())
        first += work.per_request


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def phase(
    uri: str,
    name: str,
    work: str,
    writers: int,
    subscribers: int,
    duration: float,
    deflate: bool = True,
) -> dict[str, Any]:
    workload = WORKLOADS[work]
    async with serving(uri, name, writers + 5, 60) as (server, client):
        assert server.process is not None
        pid = server.process.pid
        run_ids = [
            (await graphql(client, CREATE, {"name": f"load-{w}"}))["createExperiment"]["id"]
            for w in range(writers if workload.own_subjects else 1)
        ]
        run_id = run_ids[0]
        context = multiprocessing.get_context("spawn")
        ready, stop, results = context.Event(), context.Value("q", 0), context.Queue()
        process = None
        if subscribers:
            process = context.Process(
                target=subscriber_process,
                args=(server.url, run_id, work, subscribers, deflate, ready, stop, results),
            )
            process.start()
            await asyncio.to_thread(ready.wait, 120)
            await asyncio.sleep(2)  # the subscriptions start a moment after they are sent
        rss: list[tuple[float, float]] = [(0.0, rss_mib(pid))]
        acks: dict[tuple[str, int], Any] = {}
        started, cpu_before = time.time(), cpu_seconds(pid)
        readers_cpu = cpu_seconds(process.pid) if process and process.pid else 0.0

        async def sample() -> None:
            while True:
                await asyncio.sleep(5)
                rss.append((time.time() - started, rss_mib(pid)))

        sampler = asyncio.create_task(sample())
        await asyncio.gather(
            *(
                writer(client, workload, run_ids[w % len(run_ids)], w, started + duration, acks)
                for w in range(writers)
            )
        )
        elapsed = time.time() - started
        cpu = cpu_seconds(pid) - cpu_before
        if process is not None and process.pid is not None:
            readers_cpu = cpu_seconds(process.pid) - readers_cpu
        acknowledged = len(acks) * workload.per_request
        delivered: dict[str, Any] = {"points": [], "arrivals": [], "errors": []}
        if process is not None:
            # The subscribers read until everything acknowledged has arrived (or 60 s more).
            stop.value = max(1, acknowledged)
            delivered = await asyncio.to_thread(results.get, True, 180)
            await asyncio.to_thread(process.join, 30)
        # Until everything was delivered: a fan-out behind the writes finishes after them.
        cpu_total = cpu_seconds(pid) - cpu_before
        sampler.cancel()
        rss.append((time.time() - started, rss_mib(pid)))
        stored = workload.count(await graphql(client, workload.stored, {"id": run_id}))
    from_ack: list[float] = []
    from_send: list[float] = []
    for arrivals in delivered["arrivals"]:
        for key, step, arrived in arrivals:
            sent, acked = acks.get((key, step - step % workload.per_request), (None, None))
            if sent is not None:
                from_ack.append((arrived - acked) * 1000)
                from_send.append((arrived - sent) * 1000)
    writes = [(acked - sent) * 1000 for sent, acked in acks.values()]
    return {
        "subscribers": subscribers,
        "seconds": round(elapsed, 1),
        "acknowledged": acknowledged,
        "stored": stored,
        "delivered_least": min(delivered["points"], default=None),
        "delivered_most": max(delivered["points"], default=None),
        "lost": acknowledged - min(delivered["points"]) if delivered["points"] else None,
        "subscription_errors": delivered["errors"],
        "write_requests_per_s": round(len(acks) / elapsed, 1),
        "write_points_per_s": round(acknowledged / elapsed),
        "write_p50_ms": round(statistics.median(writes), 1),
        "write_p99_ms": round(percentile(writes, 0.99), 1),
        "delivery_p50_ms": round(percentile(from_ack, 0.5), 1) if from_ack else None,
        "delivery_p99_ms": round(percentile(from_ack, 0.99), 1) if from_ack else None,
        "delivery_from_send_p50_ms": round(percentile(from_send, 0.5), 1) if from_send else None,
        "delivery_from_send_p99_ms": round(percentile(from_send, 0.99), 1) if from_send else None,
        "server_cpu_share": round(cpu / elapsed, 2),
        "server_cpu_ms_per_write": round(cpu * 1000 / max(1, len(acks)), 2),
        "server_cpu_s_until_delivered": round(cpu_total, 2),
        "writes": len(acks),
        "deliveries": delivered.get("messages", 0),
        "subscriber_process_cpu_share": round(readers_cpu / elapsed, 2),
        "server_rss_mib": [(round(t), round(m)) for t, m in rss],
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="15 s a phase")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--subscribers", type=int, default=SUBSCRIBERS)
    parser.add_argument("--events", action="store_true", help="events instead of metric points")
    parser.add_argument("--writers", type=int, default=None)
    parser.add_argument(
        "--no-deflate", action="store_true", help="subscribers do not ask for permessage-deflate"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="alternate the two phases this many times: a load that comes and goes then "
        "falls on both, not on one",
    )
    args = parser.parse_args()
    duration = args.seconds or (15.0 if args.quick else 60.0)
    work = "events" if args.events else "metrics"
    writers = args.writers or WORKLOADS[work].writers
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        database = await asyncio.to_thread(EmbeddedDatabase(Path(tmp) / "db").start)
        try:
            for round_ in range(args.rounds):
                alone = await phase(
                    database.uri, f"bench_load_alone{round_}", work, writers, 0, duration
                )
                print(json.dumps(alone))
                watched = await phase(
                    database.uri,
                    f"bench_load_watched{round_}",
                    work,
                    writers,
                    args.subscribers,
                    duration,
                    not args.no_deflate,
                )
                print(json.dumps(watched))
                pairs.append((alone, watched))
        finally:
            await asyncio.to_thread(database.stop)
    for alone, watched in pairs:
        report(alone, watched, duration, args.subscribers, work, writers)
    if len(pairs) > 1:
        alone_rate = rate([alone for alone, _ in pairs])
        watched_rate = rate([watched for _, watched in pairs])
        print(
            f"\nall {len(pairs)} rounds: write throughput with subscribers / without: "
            f"{watched_rate / alone_rate:.0%}"
        )


def rate(phases: list[dict[str, Any]]) -> float:
    """Write requests per second over several phases together."""
    requests = sum(p["write_requests_per_s"] * p["seconds"] for p in phases)
    return requests / sum(p["seconds"] for p in phases)


def report(
    alone: dict[str, Any],
    watched: dict[str, Any],
    duration: float,
    subscribers: int,
    work: str,
    writers: int,
) -> None:
    ratio = watched["write_requests_per_s"] / alone["write_requests_per_s"]
    unit, per_request = ("events" if work == "events" else "points"), WORKLOADS[work].per_request
    print(f"\n{writers} writers x {per_request} {unit} a request, {duration:.0f} s a phase")
    for result in (alone, watched):
        print(
            f"{result['subscribers']:>3} subscribers: {result['write_requests_per_s']} req/s "
            f"({result['write_points_per_s']} {unit}/s), write p50/p99 "
            f"{result['write_p50_ms']}/{result['write_p99_ms']} ms; acknowledged "
            f"{result['acknowledged']}, stored {result['stored']}, delivered to each "
            f"{result['delivered_least']}..{result['delivered_most']}, lost {result['lost']}; "
            f"delivery p50/p99 {result['delivery_p50_ms']}/{result['delivery_p99_ms']} ms after "
            f"the response ({result['delivery_from_send_p50_ms']}/"
            f"{result['delivery_from_send_p99_ms']} ms after the request); "
            f"server CPU {result['server_cpu_share']:.0%} of a core, "
            f"{result['server_cpu_ms_per_write']} ms a write; "
            f"subscribers' process CPU {result['subscriber_process_cpu_share']:.0%}; "
            f"RSS MiB {result['server_rss_mib']}"
        )
    # What the subscribers add to the server's CPU (until all was delivered), a delivery.
    writing = alone["server_cpu_ms_per_write"] / 1000 * watched["writes"]
    added = watched["server_cpu_s_until_delivered"] - writing
    per_delivery = added * 1e6 / max(1, watched["deliveries"])
    print(f"server CPU per delivery: {per_delivery:.1f} µs")
    print(f"write throughput with {subscribers} subscribers / without: {ratio:.0%} (≥ 70%)")


if __name__ == "__main__":
    asyncio.run(main())
