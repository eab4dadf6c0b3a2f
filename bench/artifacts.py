"""Artifact transfer: 1 GiB up and down through the API, against GridFS used directly.

The API side is a real `modelbox serve` subprocess on an embedded SecantusDB started here;
the client streams the upload from a generator (it never holds the file) and reads the
download as it arrives. Baseline, in the same run on the same database: the same bytes
written with `AsyncGridFSBucket.open_upload_stream` and read back with
`open_download_stream`, 1 MiB chunks as the server uses. The server's resident memory is
sampled from /proc/<pid>/status while it transfers.

    .venv/bin/python bench/artifacts.py [--mib 1024] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
from gridfs import AsyncGridFSBucket
from pymongo import AsyncMongoClient

from modelbox.server.embedded import EmbeddedDatabase, free_port
from modelbox.server.store.artifacts import CHUNK_BYTES

TOKEN = "mbx_bench-admin-token-of-32-characters"
MiB = 1024 * 1024
# The file is this random block over and over: random, so nothing compresses it away.
BLOCK = os.urandom(16 * MiB)
PIECE = MiB


def pieces(size: int) -> Iterator[memoryview]:
    view = memoryview(BLOCK)
    for offset in range(0, size, PIECE):
        start = offset % len(BLOCK)
        yield view[start : start + min(PIECE, size - offset)]


def check(offset: int, data: bytes) -> None:
    """`data` is what the file holds at `offset`: compared, not hashed, to spare the CPU."""
    while data:
        start = offset % len(BLOCK)
        part = min(len(data), len(BLOCK) - start)
        # bytes == bytes is a memcmp; comparing memoryviews goes item by item (1000x slower).
        assert BLOCK[start : start + part] == data[:part], f"wrong bytes at {offset}"
        data = data[part:]
        offset += part


class Memory:
    """Samples a process's VmRSS until stopped; reports the peak above a starting point."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def status(self, field: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise KeyError(field)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.status("VmRSS"))
            time.sleep(0.02)

    def __enter__(self) -> Memory:
        self.peak = self.status("VmRSS")
        # Growth is measured from the server's resident size before its first transfer.
        self.start = getattr(self, "start", self.peak)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def start_server(uri: str, database: str) -> tuple[subprocess.Popen[bytes], str]:
    """`modelbox serve` on `database`, and its URL."""
    port = free_port()
    env = {
        **os.environ,
        "MODELBOX_MONGODB_URI": uri,
        "MODELBOX_DATABASE": database,
        "MODELBOX_ADMIN_TOKEN": TOKEN,
        "MODELBOX_PORT": str(port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "modelbox", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError("server did not start")


async def graphql(client: httpx.AsyncClient, query: str, **variables: object) -> dict:
    body = (await client.post("/graphql", json={"query": query, "variables": variables})).json()
    assert not body.get("errors"), body
    return body["data"]


async def direct(uri: str, database: str, size: int) -> tuple[float, float]:
    """Seconds to write and to read the file with AsyncGridFSBucket."""
    client: AsyncMongoClient = AsyncMongoClient(uri)
    bucket = AsyncGridFSBucket(client[database], "direct", chunk_size_bytes=CHUNK_BYTES)
    started = time.perf_counter()
    upload = bucket.open_upload_stream("bench.bin")
    for piece in pieces(size):
        await upload.write(bytes(piece))
    await upload.close()
    written = time.perf_counter() - started

    started = time.perf_counter()
    download = await bucket.open_download_stream(upload._id)
    offset = 0
    while chunk := await download.readchunk():
        check(offset, chunk)
        offset += len(chunk)
    read = time.perf_counter() - started
    assert offset == size
    await bucket.delete(upload._id)
    await client.close()
    return written, read


async def curl_get(url: str, size: int) -> float:
    """Seconds for curl to GET `url` (a client with no Python overhead), or NaN without curl."""
    if shutil.which("curl") is None:
        return math.nan
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        "curl", "-sf", "-o", "/dev/null", "-w", "%{size_download}",
        "-H", f"Authorization: Bearer {TOKEN}", url,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await process.communicate()
    assert int(out) == size, out
    return time.perf_counter() - started


async def through_api(
    url: str, size: int, digest: str, memory: Memory
) -> tuple[float, float, float]:
    """Seconds to PUT, to GET (httpx) and to GET (curl) the file through the API.

    The server's memory is sampled meanwhile.
    """
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=600) as client:
        data = await graphql(
            client,
            "mutation($i: CreateExperimentInput!) { createExperiment(input: $i) { id } }",
            i={"namespace": "bench", "name": f"run-{time.time_ns()}"},
        )
        data = await graphql(
            client,
            """mutation($i: CreateArtifactInput!) { createArtifact(input: $i) {
                 id uploadUrl } }""",
            i={"subjectId": data["createExperiment"]["id"], "name": "bench.bin", "sha256": digest},
        )
        artifact = data["createArtifact"]

        async def body() -> AsyncIterator[bytes]:
            for piece in pieces(size):
                yield bytes(piece)

        with memory:
            started = time.perf_counter()
            put = await client.put(
                artifact["uploadUrl"], content=body(), headers={"Content-Length": str(size)}
            )
            written = time.perf_counter() - started
            assert put.status_code == 200, put.text

            started = time.perf_counter()
            offset = 0
            async with client.stream("GET", artifact["uploadUrl"]) as response:
                assert response.headers["etag"] == f'"{digest}"'
                async for data in response.aiter_raw():
                    check(offset, data)
                    offset += len(data)
            read = time.perf_counter() - started
            assert offset == size
            read_curl = await curl_get(artifact["uploadUrl"], size)
        await graphql(
            client,
            "mutation($id: ID!) { deleteArtifact(input: {id: $id}) { deletedId } }",
            id=artifact["id"],
        )
    return written, read, read_curl


def rate(size: int, seconds: float) -> float:
    return size / seconds / 1e6


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=1024, help="file size in MiB")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    size = args.mib * MiB
    digest = hashlib.sha256()
    for piece in pieces(size):
        digest.update(piece)

    with tempfile.TemporaryDirectory() as tmp, EmbeddedDatabase(Path(tmp) / "db") as db:
        server, url = start_server(db.uri, "bench")
        try:
            memory = Memory(server.pid)
            ratios: dict[str, list[float]] = {"upload": [], "download": [], "download (curl)": []}
            for round in range(1, args.rounds + 1):
                # Alternate which goes first, so neither always finds the database warmer.
                if round % 2:
                    d_up, d_down = await direct(db.uri, "bench", size)
                    a_up, a_down, a_curl = await through_api(url, size, digest.hexdigest(), memory)
                else:
                    a_up, a_down, a_curl = await through_api(url, size, digest.hexdigest(), memory)
                    d_up, d_down = await direct(db.uri, "bench", size)
                print(f"round {round}: {args.mib} MiB, GridFS chunks of {CHUNK_BYTES // MiB} MiB")
                for what, api, base in (
                    ("upload", a_up, d_up),
                    ("download", a_down, d_down),
                    ("download (curl)", a_curl, d_down),
                ):
                    ratios[what].append(base / api)
                    print(
                        f"  {what:15}  API {rate(size, api):6.1f} MB/s   "
                        f"AsyncGridFSBucket {rate(size, base):6.1f} MB/s   "
                        f"ratio {base / api:.0%}"
                    )
                before, peak = memory.start / MiB, memory.peak / MiB
                print(
                    f"  server RSS: {before:.0f} MiB before the first transfer, peak {peak:.0f}"
                    f" MiB during this round's (+{peak - before:.0f} MiB);"
                    f" VmHWM {memory.status('VmHWM') / MiB:.0f} MiB"
                )
            print(
                "median API/direct: "
                + ", ".join(f"{k} {statistics.median(v):.0%}" for k, v in ratios.items())
            )
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    asyncio.run(main())
