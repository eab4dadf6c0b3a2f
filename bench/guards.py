"""Hostile requests and everyone else: how long a small query waits while they are refused.

One run, one machine: a real `modelbox serve` on the embedded SecantusDB. A small
authenticated query (`{ viewer { name } }`) is timed alone (the baseline), then while
each hostile request is in flight: an anonymous `nodes(ids:)` with 500,000 ids (a 2 MB
body), the same with a made-up token and with a valid one (over the list limit), 8 MiB of
`[]` with a valid token (over `max_json_values`), an anonymous `_entities` with 100,000
representations, the 500,000 ids as an anonymous WebSocket message, and a 64 MB HTTP
header. Figures are p50 and max of the small query and their ratio to the baseline; each
hostile request's own time to be refused is shown too.

    .venv/bin/python bench/guards.py            # full run
    .venv/bin/python bench/guards.py --quick    # fewer rounds
    .venv/bin/python bench/guards.py --parse    # in-process: counting and parsing by shape
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import orjson
import websockets
from websockets.typing import Subprotocol

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from modelbox.server.config import Settings  # noqa: E402
from modelbox.server.embedded import EmbeddedDatabase  # noqa: E402
from modelbox.server.web.http_limits import (  # noqa: E402
    bare_structure,
    outside_strings,
    too_many_values,
)
from tests.servers import ServerProcess  # noqa: E402

TOKEN = "mbx_bench-admin-token-of-32-characters"
SMALL = {"query": "{ viewer { name } }"}
NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"
ENTITIES = "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }"


async def _ws_message(url: str, body: bytes) -> str:
    """One message on a socket whose connection_init carried no token: how it was closed."""
    ws = url.replace("http://", "ws://") + "/graphql"
    protocols = [Subprotocol("graphql-transport-ws")]
    async with websockets.connect(ws, subprotocols=protocols) as socket_:
        await socket_.send('{"type": "connection_init", "payload": {}}')
        await socket_.recv()
        await socket_.send(body.decode())
        try:
            while True:
                await socket_.recv()
        except websockets.ConnectionClosed as closed:
            return f"{closed.rcvd.code}, {closed.rcvd.reason}" if closed.rcvd else "dropped"


def _huge_header(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * (64 << 20))
        return conn.recv(1024).split(b"\r\n", 1)[0].decode()


async def _small(client: httpx.AsyncClient) -> float:
    started = time.perf_counter()
    response = await client.post(
        "/graphql", json=SMALL, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.json()["data"]["viewer"]["name"] == "bootstrap-admin", response.text
    return (time.perf_counter() - started) * 1000


async def _under(
    client: httpx.AsyncClient, hostile: Callable[[], Awaitable[object]] | None, rounds: int
) -> tuple[list[float], list[float], set[object]]:
    """The small query's latencies (ms), each sent 20 ms after a hostile request started;
    the hostile requests' times to be refused (ms), and their answers."""
    small, refused, answers = [], [], set()
    for _ in range(rounds):
        if hostile is None:
            small.append(await _small(client))
            continue
        started = time.perf_counter()
        task = asyncio.ensure_future(hostile())
        await asyncio.sleep(0.02)
        small.append(await _small(client))
        answers.add(await task)
        refused.append((time.perf_counter() - started) * 1000)
    return small, refused, answers


async def run(url: str, port: int, rounds: int) -> None:
    nodes = orjson.dumps({"query": NODES, "variables": {"ids": ["x"] * 500_000}})
    reps = [{"__typename": "Model", "id": "x"}] * 100_000
    entities = orjson.dumps({"query": ENTITIES, "variables": {"r": reps}})
    lists = _nodes_body(b"[]", (8 << 20) - 100)
    json_headers = {"Content-Type": "application/json"}
    async with (
        httpx.AsyncClient(base_url=url, timeout=60) as client,
        httpx.AsyncClient(base_url=url, timeout=60) as attacker,
    ):

        async def post(body: bytes, token: str | None = None) -> object:
            headers = {**json_headers, **({"Authorization": f"Bearer {token}"} if token else {})}
            response = await attacker.post("/graphql", content=body, headers=headers)
            error = response.json()["errors"][0]
            return f"{response.status_code} {error['extensions']['code']}: {error['message']}"

        message = orjson.dumps({"id": "1", "type": "subscribe", "payload": orjson.loads(nodes)})

        cases: list[tuple[str, Callable[[], Awaitable[object]] | None]] = [
            ("alone (baseline)", None),
            ("anonymous nodes, 500,000 ids", lambda: post(nodes)),
            ("nodes, 500,000 ids, made-up token", lambda: post(nodes, token="mbx_" + "x" * 40)),
            ("nodes, 500,000 ids, valid token", lambda: post(nodes, token=TOKEN)),
            ("8 MiB of [], valid token", lambda: post(lists, token=TOKEN)),
            ("anonymous _entities, 100,000", lambda: post(entities)),
            ("anonymous WebSocket, 500,000 ids", lambda: _ws_message(url, message)),
            ("64 MB header", lambda: asyncio.to_thread(_huge_header, port)),
        ]
        await _under(client, None, 5)  # warm up
        baseline = None
        print(f"{'while':34} {'p50 ms':>8} {'max ms':>8} {'x base':>7} {'refused in ms':>14}")
        for label, hostile in cases:
            small, refused, answers = await _under(client, hostile, rounds)
            p50 = statistics.median(small)
            baseline = baseline or p50
            refusal = f"{statistics.median(refused):14.0f}" if refused else f"{'-':>14}"
            print(f"{label:34} {p50:8.1f} {max(small):8.1f} {p50 / baseline:7.1f} {refusal}")
            for answer in answers:
                print(f"    answered: {answer}")


def _nodes_body(item: bytes, size: int) -> bytes:
    """A `nodes(ids:)` request of about `size` bytes whose list repeats `item`."""
    head = b'{"query":"' + NODES.encode() + b'","variables":{"ids":['
    return head + b",".join([item] * ((size - len(head)) // (len(item) + 1))) + b"]}}"


def _p50_ms(work: Callable[[], object]) -> float:
    runs = []
    for _ in range(7):
        started = time.perf_counter()
        work()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


def _log_metrics(points: int, **columns: object) -> bytes:
    steps = list(range(points))
    series = [{"key": "loss", "steps": steps, "values": [s / 7 for s in steps], **columns}]
    return orjson.dumps(
        {"query": "m", "variables": {"input": {"subjectId": "x", "series": series}}}
    )


def parse_costs() -> None:
    """What a body a valid token may send holds the event loop before GraphQL sees it, by
    its shape: its values counted (`max_json_values`), then, under the limit, its parse;
    against the parse of a legitimate 100,000-point logMetrics body (the baseline)."""
    settings = Settings()
    nan = [{"index": s, "value": "NAN"} for s in range(100_000)]
    clocks = [1.7e9 + s / 10 for s in range(100_000)]
    tensor = orjson.dumps([[0] * 29, [0] * 29]).decode()
    tensors = {"key": "t", "steps": list(range(20_000)), "tensors": [tensor] * 20_000}
    bodies = [
        ("logMetrics, 100,000 points (baseline)", _log_metrics(100_000)),
        (
            "logMetrics, + wallclocks, all non-finite",
            _log_metrics(100_000, wallclocks=clocks, nonFinite=nan),
        ),
        ("20,000 tensor strings, 60 [ and , each", orjson.dumps({"variables": tensors})),
        ('nodes, 500,000 ids ("x")', _nodes_body(b'"x"', 2_000_000)),
        ('8 MiB (max_body_bytes) of "x"', _nodes_body(b'"x"', 8 << 20)),
        ("8 MiB of 1 KB strings", _nodes_body(b'"' + b"y" * 1000 + b'"', 8 << 20)),
        ('8 MiB of "[,{" strings', _nodes_body(b'"[,{"', 8 << 20)),
        ('8 MiB of "\\"[" strings (escapes)', _nodes_body(b'"\\\\\\"["', 8 << 20)),
        ("8 MiB of small ints", _nodes_body(b"1", 8 << 20)),
        ("8 MiB of empty lists", _nodes_body(b"[]", 8 << 20)),
        ('8 MiB of "[" strings', _nodes_body(b'"["', 8 << 20)),
        ('8 MiB of {"[":"["} keys', _nodes_body(b'{"[":"["}', 8 << 20)),
        ('1,000,000 "[" (at the values limit)', _nodes_body(b'"["', 4_000_000)),
        ('200,000 {"a":{}} (at the containers limit)', _nodes_body(b'{"a":{}}', 900_000)),
        ('800,000 "x" (at the values limit)', _nodes_body(b'"x"', 3_200_000)),
    ]
    baseline = None
    print(
        f"{'body':42} {'MB':>5} {'values':>9} {'lists+obj':>9} {'count ms':>8} {'parse ms':>8}"
        f" {'held ms':>8} {'x base':>6}"
    )
    for label, body in bodies:
        structure = outside_strings(bare_structure(body))
        containers = structure.count(b"[") + structure.count(b"{")
        count = _p50_ms(lambda: too_many_values(body, settings))  # noqa: B023
        parse = _p50_ms(lambda: orjson.loads(body))  # noqa: B023
        baseline = baseline or parse
        held = count + (parse if too_many_values(body, settings) is None else 0)
        print(
            f"{label:42} {len(body) / 1e6:5.2f} {len(structure):9} {containers:9} {count:8.1f}"
            f" {parse:8.1f} {held:8.1f} {held / baseline:6.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--parse", action="store_true", help="only the JSON parse costs")
    arguments = parser.parse_args()
    if arguments.parse:
        return parse_costs()
    rounds = 5 if arguments.quick else 20
    with tempfile.TemporaryDirectory() as tmp, EmbeddedDatabase(Path(tmp) / "db") as db:
        env = {
            "MODELBOX_MONGODB_URI": db.uri,
            "MODELBOX_DATABASE": "bench",
            "MODELBOX_ADMIN_TOKEN": TOKEN,
        }
        with ServerProcess(env) as server:
            asyncio.run(run(server.url, server.port, rounds))


if __name__ == "__main__":
    main()
