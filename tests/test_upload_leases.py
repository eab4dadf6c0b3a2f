"""An upload whose server is killed mid-way leaves nothing behind once its lease expires."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from pymongo import MongoClient

from modelbox.server.embedded import EmbeddedDatabase
from tests.servers import ServerProcess
from tests.test_server import _env, gql

TOKEN = "mbx_lease-test-token-long-enough-for-admin"
MIB = 1024 * 1024


def _wait(condition: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_a_killed_upload_is_cleaned_up_without_another_upload(tmp_path: Path) -> None:
    database = EmbeddedDatabase(tmp_path / "db").start()
    env = _env(
        MODELBOX_MONGODB_URI=database.uri,
        MODELBOX_DATABASE="leases",
        MODELBOX_ADMIN_TOKEN=TOKEN,
        MODELBOX_UPLOAD_LEASE_SECONDS="2",
    )
    client: MongoClient[dict] = MongoClient(database.uri)
    db = client["leases"]
    first = ServerProcess(env).start()
    second: ServerProcess | None = None
    stalled = threading.Event()
    try:
        model = gql(
            first, TOKEN, 'mutation { createModel(input: {namespace: "l", name: "m"}) { id } }'
        )
        artifact = gql(
            first,
            TOKEN,
            'mutation($id: ID!) { createArtifact(input: {subjectId: $id, name: "w.pt"}) '
            "{ id uploadUrl } }",
            id=model["data"]["createModel"]["id"],
        )["data"]["createArtifact"]

        def body() -> Iterator[bytes]:
            for _ in range(9):
                yield b"\x07" * MIB
            # The client stalls, as if the upload went on; the server dies meanwhile.
            stalled.wait(60)

        def upload() -> None:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            with contextlib.suppress(httpx.HTTPError):
                httpx.put(artifact["uploadUrl"], content=body(), headers=headers, timeout=60)

        uploader = threading.Thread(target=upload, daemon=True)
        uploader.start()
        _wait(lambda: db["fs.chunks"].count_documents({}) >= 4, "chunks to be written")
        assert first.process is not None
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(20)
        stalled.set()
        assert db["artifact_uploads"].count_documents({}) == 1, "the dead upload's lease"
        assert db["fs.chunks"].count_documents({}) >= 4

        # Another server (nobody uploads to this artifact again) deletes what was left.
        second = ServerProcess(env).start()
        _wait(
            lambda: (
                db["fs.chunks"].count_documents({}) == 0
                and db["artifact_uploads"].count_documents({}) == 0
            ),
            "the expired upload's chunks and lease to be deleted",
        )
        assert db["fs.files"].count_documents({}) == 0
        state = gql(
            second,
            TOKEN,
            "query($id: ID!) { node(id: $id) { ... on Artifact { state } } }",
            id=artifact["id"],
        )
        assert state["data"]["node"]["state"] == "PENDING"
        # And the artifact takes a whole upload afterwards.
        done = httpx.put(
            artifact["uploadUrl"].replace(first.url, second.url),
            content=b"whole",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30,
        )
        assert done.status_code == 200, done.text
    finally:
        stalled.set()
        first.stop()
        if second is not None:
            second.stop()
        client.close()
        database.stop()
