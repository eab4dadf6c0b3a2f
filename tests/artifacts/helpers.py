"""Helpers of the artifact tests: create, read and move artifacts on the served app."""

from __future__ import annotations

import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo.database import Database

from modelbox.server.resolvers.ids import from_global_id
from tests.api import ADMIN_TOKEN, Api
from tests.servers import ServerProcess

MiB = 1024 * 1024
LIMIT = 8 * MiB
AGENT = "artifact-tests/1.0"

ARTIFACT_FIELDS = (
    "id name kind storage state uri size sha256 contentType uploadUrl downloadUrl updatedAt"
)


@dataclass
class Served:
    server: ServerProcess
    db: Database[dict[str, Any]]

    @property
    def port(self) -> int:
        return self.server.port

    def orphan_chunks(self) -> int:
        """Chunks of no stored file: what a failed or running upload has written."""
        files = self.db["fs.files"].distinct("_id")
        return self.db["fs.chunks"].count_documents({"files_id": {"$nin": files}})

    def wait_for(self, condition: Any, what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.05)


def bearer(token: str | None = ADMIN_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def create_artifact(api: Api, subject_id: str, name: str, **fields: Any) -> dict[str, Any]:
    data = await api.ok(
        f"""mutation($input: CreateArtifactInput!) {{
              createArtifact(input: $input) {{ {ARTIFACT_FIELDS} }} }}""",
        {"input": {"subjectId": subject_id, "name": name, **fields}},
    )
    return data["createArtifact"]


async def read_artifact(api: Api, id: str) -> dict[str, Any]:
    data = await api.ok(
        f"query($id: ID!) {{ node(id: $id) {{ ... on Artifact {{ {ARTIFACT_FIELDS} }} }} }}",
        {"id": id},
    )
    return data["node"]


async def pending_artifact(api: Api, namespace: str, name: str = "model.bin", **fields: Any):
    experiment = await api.create_experiment(namespace, f"run-{uuid.uuid4().hex[:6]}")
    return await create_artifact(api, experiment["id"], name, **fields)


def open_upload(served: Served, url: str, length: int, token: str = ADMIN_TOKEN) -> socket.socket:
    """A raw PUT whose headers promise `length` bytes; the caller sends (some of) them."""
    path = url.removeprefix(served.server.url)
    sock = socket.create_connection(("127.0.0.1", served.port))
    sock.sendall(
        (
            f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Length: {length}\r\n\r\n"
        ).encode()
    )
    return sock


def read_response(sock: socket.socket) -> tuple[int, bytes]:
    """The status and body of the response on a raw connection."""
    sock.settimeout(30)
    received = b""
    while b"\r\n\r\n" not in received:
        part = sock.recv(65536)
        if not part:
            break
        received += part
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split(b" ", 2)[1]), body


def api_id_to_oid(global_id: str) -> ObjectId:
    decoded = from_global_id(global_id)
    assert decoded is not None
    return ObjectId(decoded[1])
