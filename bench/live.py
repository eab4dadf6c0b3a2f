"""Events and live delivery: logEvents throughput, and latency to 1, 100 and 1,000 subscribers.

One run, one machine:

* ingest: events/s through `logEvents` in batches of 100, over HTTP to a real
  `modelbox serve` process, from one client and from 4 concurrent ones; against the floor:
  the same documents written straight into the same database with PyMongo `insert_many`.
* live: latency from sending a one-event `logEvents` to each subscriber receiving the event
  over graphql-transport-ws, p50 and p99, with 1, 100 and 1,000 subscribers on one API
  process; every subscriber must receive every event (nothing lost).

The database is the embedded SecantusDB started here; the server is `python -m modelbox
serve` pointed at it (one uvicorn worker: one change stream feeds every subscriber).

    .venv/bin/python bench/live.py                  # full run
    .venv/bin/python bench/live.py --quick          # smaller, for a look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from bson import ObjectId
from pymongo import MongoClient

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from bench.serving import TOKEN, graphql, serving  # noqa: E402
from modelbox.server.embedded import EmbeddedDatabase  # noqa: E402
from modelbox.server.store.events import order_key  # noqa: E402
from modelbox.server.store.records import now  # noqa: E402
from tests.ws import WsClient  # noqa: E402

LOG = "mutation($input: LogEventsInput!) { logEvents(input: $input) { id } }"
WATCH = "subscription($id: ID!) { events(subjectId: $id) { id name sincePrevious } }"
BATCH = 100


def batch(subject_id: str, first: int, size: int = BATCH) -> dict[str, Any]:
    events = [
        {"name": "step_done", "source": "bench", "payload": {"step": first + i, "loss": 0.5}}
        for i in range(size)
    ]
    return {"input": {"subjectId": subject_id, "events": events}}


async def ingest(client: httpx.AsyncClient, subject_ids: list[str], batches: int) -> float:
    """Events/s with one client per subject, `batches` requests each, all at once."""

    async def one(subject_id: str) -> None:
        for b in range(batches):
            await graphql(client, LOG, batch(subject_id, b * BATCH))

    started = time.perf_counter()
    await asyncio.gather(*(one(s) for s in subject_ids))
    return len(subject_ids) * batches * BATCH / (time.perf_counter() - started)


def floor(uri: str, database: str, batches: int, transaction: bool) -> float:
    """The same documents, `insert_many` of 100, straight into the database; with
    `transaction`, each batch with its timeline update in a transaction, as logEvents does."""
    with MongoClient(uri) as client:
        collection = client[database]["bench_floor_events"]
        timelines = client[database]["bench_floor_timelines"]
        subject = ObjectId()
        started = time.perf_counter()
        for b in range(batches):
            documents = [document(subject, b * BATCH + i) for i in range(BATCH)]
            if not transaction:
                collection.insert_many(documents)
                continue
            with client.start_session() as session, session.start_transaction():
                timelines.find_one_and_update(
                    {"_id": subject},
                    {"$max": {"last": documents[-1]["order"]}, "$inc": {"events": BATCH}},
                    upsert=True,
                    session=session,
                )
                collection.insert_many(documents, session=session)
        rate = batches * BATCH / (time.perf_counter() - started)
        collection.drop()
        timelines.drop()
        return rate


def document(subject: ObjectId, step: int) -> dict[str, Any]:
    stamp, oid = now(), ObjectId()
    return {
        "_id": oid,
        "subject_type": "Experiment",
        "subject_id": subject,
        "namespace": "bench",
        "name": "step_done",
        "source": "bench",
        "wallclock": stamp,
        "payload": {"step": step, "loss": 0.5},
        "since_previous": 0.0,
        "order": order_key(stamp, oid),
        "created_at": stamp,
    }


class Subscriber:
    """One WebSocket connection with one `events` subscription; records arrival times."""

    def __init__(self, client: WsClient) -> None:
        self.client = client
        self.arrivals: dict[str, float] = {}
        self.errors: list[Any] = []
        self.task: asyncio.Task[None] | None = None

    async def read(self) -> None:
        assert self.client.socket is not None
        while True:
            raw = await self.client.socket.recv()
            arrived = time.perf_counter()
            message = json.loads(raw)
            if message.get("type") == "ping":
                await self.client.socket.send('{"type": "pong"}')
                continue
            if message.get("type") != "next":
                continue
            payload = message["payload"]
            if payload.get("errors"):
                self.errors.append(payload["errors"])
                continue
            self.arrivals.setdefault(payload["data"]["events"]["name"], arrived)


async def subscribe_all(url: str, subject_id: str, count: int) -> list[Subscriber]:
    subscribers: list[Subscriber] = []

    async def one() -> Subscriber:
        client = await WsClient(url, token=TOKEN).connect()
        await client.subscribe(WATCH, {"id": subject_id})
        subscriber = Subscriber(client)
        subscriber.task = asyncio.create_task(subscriber.read())
        return subscriber

    for start in range(0, count, 50):
        subscribers += await asyncio.gather(*(one() for _ in range(min(50, count - start))))
    return subscribers


async def log_one(client: httpx.AsyncClient, subject_id: str, name: str) -> float:
    """Log one event; returns when the request was sent."""
    sent = time.perf_counter()
    await graphql(client, LOG, {"input": {"subjectId": subject_id, "events": [{"name": name}]}})
    return sent


async def latency(
    client: httpx.AsyncClient, url: str, subject_id: str, count: int, events: int, gap: float
) -> dict[str, Any]:
    subscribers = await subscribe_all(url, subject_id, count)
    try:
        # Live once every subscriber has seen a probe (a subscription starts a moment late).
        for attempt in range(200):
            await log_one(client, subject_id, f"probe-{attempt}")
            await asyncio.sleep(0.2)
            if all(any(n.startswith("probe") for n in s.arrivals) for s in subscribers):
                break
        else:
            raise RuntimeError("subscribers did not go live")
        sent: dict[str, float] = {}
        for i in range(events):
            sent[f"e{i}"] = await log_one(client, subject_id, f"e{i}")
            await asyncio.sleep(gap)
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline and not all(
            all(name in s.arrivals for name in sent) for s in subscribers
        ):
            await asyncio.sleep(0.1)
        delays = [
            (s.arrivals[name] - at) * 1000
            for s in subscribers
            for name, at in sent.items()
            if name in s.arrivals
        ]
        lost = count * events - len(delays)
        errors = sum(len(s.errors) for s in subscribers)
        delays.sort()
        return {
            "subscribers": count,
            "events": events,
            "delivered": len(delays),
            "lost": lost,
            "errors": errors,
            "p50_ms": statistics.median(delays) if delays else None,
            "p99_ms": delays[min(len(delays) - 1, int(len(delays) * 0.99))] if delays else None,
            "max_ms": delays[-1] if delays else None,
        }
    finally:
        for s in subscribers:
            if s.task:
                s.task.cancel()
        await asyncio.gather(*(s.client.close() for s in subscribers), return_exceptions=True)


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedDatabase(Path(tmp) / "db") as db:
        async with serving(db.uri, "bench_live") as (server, c):
            runs = []
            for i in range(4):
                create = """mutation($n: String!) {
                  createExperiment(input: {namespace: "bench", name: $n}) { id } }"""
                runs.append((await graphql(c, create, {"n": f"run-{i}"}))["createExperiment"])
            ids = [r["id"] for r in runs]

            floor_rate = await asyncio.to_thread(floor, db.uri, "bench_live", args.batches, False)
            floor_tx = await asyncio.to_thread(floor, db.uri, "bench_live", args.batches, True)
            one_client = await ingest(c, ids[:1], args.batches)
            four_clients = await ingest(c, ids, args.batches // 4)
            print(f"\nlogEvents, batches of {BATCH} ({args.batches * BATCH:,} events a run)")
            print(f"  PyMongo insert_many floor   {floor_rate:10,.0f} events/s")
            print(
                f"  the same in transactions    {floor_tx:10,.0f} events/s"
                "  (with the timeline update, as logEvents writes)"
            )
            print(
                f"  1 client                    {one_client:10,.0f} events/s"
                f"  ({one_client / floor_rate:.0%} of the floor)"
            )
            print(
                f"  4 concurrent clients        {four_clients:10,.0f} events/s"
                f"  ({four_clients / floor_rate:.0%} of the floor)"
            )

            print("\nlive delivery: send of logEvents (1 event) -> subscriber receives it")
            print("  subscribers  events  delivered   lost  errors   p50 ms   p99 ms   max ms")
            for count in args.subscribers:
                events = args.events
                gap = 0.05 if count <= 100 else 0.5
                result = await latency(c, server.url, ids[0], count, events, gap)
                print(
                    f"  {count:>11,}  {events:>6}  {result['delivered']:>9,}"
                    f"  {result['lost']:>5}  {result['errors']:>6}"
                    f"  {result['p50_ms']:7.1f}  {result['p99_ms']:7.1f}"
                    f"  {result['max_ms']:7.1f}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer batches and events")
    parser.add_argument("--subscribers", type=int, nargs="*", default=[1, 100, 1000])
    args = parser.parse_args()
    args.batches = 40 if args.quick else 200
    args.events = 20 if args.quick else 50
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
