"""Artifact bytes through a real server: streamed uploads and downloads, failures, ranges,
access and audit."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
from bson import ObjectId

from modelbox.server.store.tokens import BOOTSTRAP_NAME
from tests.api import Api
from tests.artifacts.helpers import (
    AGENT,
    LIMIT,
    MiB,
    Served,
    api_id_to_oid,
    bearer,
    open_upload,
    pending_artifact,
    read_artifact,
    read_response,
)


async def test_multi_megabyte_round_trip_is_byte_for_byte(
    api: Api, http: httpx.AsyncClient, served: Served
) -> None:
    data = os.urandom(5 * MiB + 12345)
    digest = hashlib.sha256(data).hexdigest()
    artifact = await pending_artifact(
        api, "roundtrip", "weights/model.safetensors", sha256=digest, contentType="application/x-st"
    )
    assert artifact["state"] == "PENDING" and artifact["storage"] == "GRIDFS"
    assert artifact["uploadUrl"].startswith(f"{served.server.url}/artifacts/")
    assert artifact["downloadUrl"] is None
    early = await http.get(artifact["uploadUrl"], headers=bearer())
    assert early.status_code == 404 and "PENDING" in early.json()["errors"][0]["message"]

    put = await http.put(artifact["uploadUrl"], content=data, headers=bearer())
    assert put.status_code == 200, put.text
    assert put.json()["sha256"] == digest and put.json()["size"] == len(data)

    stored = await read_artifact(api, artifact["id"])
    assert stored["state"] == "AVAILABLE"
    assert (stored["size"], stored["sha256"]) == (len(data), digest)
    assert stored["uploadUrl"] is None and stored["downloadUrl"] == artifact["uploadUrl"]

    got = await http.get(stored["downloadUrl"], headers=bearer())
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["content-length"] == str(len(data))
    assert got.headers["content-type"] == "application/x-st"
    assert got.headers["etag"] == f'"{digest}"'
    assert got.headers["accept-ranges"] == "bytes"
    assert 'filename="model.safetensors"' in got.headers["content-disposition"]
    cached = await http.get(
        stored["downloadUrl"], headers={**bearer(), "If-None-Match": f'"{digest}"'}
    )
    assert cached.status_code == 304 and cached.content == b""


async def test_wrong_sha256_is_refused_then_a_correct_upload_succeeds(
    api: Api, http: httpx.AsyncClient, served: Served
) -> None:
    data = os.urandom(3 * MiB)
    artifact = await pending_artifact(api, "checksums", sha256=hashlib.sha256(b"other").hexdigest())

    put = await http.put(artifact["uploadUrl"], content=data, headers=bearer())
    assert put.status_code == 400
    error = put.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert hashlib.sha256(data).hexdigest() in error["message"]
    assert error["extensions"]["field"] == "sha256"
    assert error["extensions"]["received"] == hashlib.sha256(data).hexdigest()
    assert (await read_artifact(api, artifact["id"]))["state"] == "PENDING"
    assert served.orphan_chunks() == 0

    good = await pending_artifact(api, "checksums", sha256=hashlib.sha256(data).hexdigest())
    retry = await http.put(good["uploadUrl"], content=data, headers=bearer())
    assert retry.status_code == 200


async def test_oversize_body_is_413_and_leaves_nothing(
    api: Api, http: httpx.AsyncClient, served: Served
) -> None:
    artifact = await pending_artifact(api, "limits")

    async def body() -> AsyncIterator[bytes]:
        # Chunked: no Content-Length, so the limit is enforced while streaming.
        for _ in range(LIMIT // MiB + 2):
            yield os.urandom(MiB)

    put = await http.put(artifact["uploadUrl"], content=body(), headers=bearer())
    assert put.status_code == 413
    error = put.json()["errors"][0]
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "max_artifact_bytes" in error["message"]
    assert (await read_artifact(api, artifact["id"]))["state"] == "PENDING"
    assert served.orphan_chunks() == 0

    # Declared too large up front: refused before a byte of the body is sent.
    sock = open_upload(served, artifact["uploadUrl"], LIMIT + 1)
    with sock:
        status, response = read_response(sock)
    assert status == 413, response
    assert b"max_artifact_bytes" in response

    exact = os.urandom(LIMIT)
    put = await http.put(artifact["uploadUrl"], content=exact, headers=bearer())
    assert put.status_code == 200, put.text


async def test_client_gone_mid_upload_leaves_no_chunks_and_a_retry_succeeds(
    api: Api, http: httpx.AsyncClient, served: Served
) -> None:
    artifact = await pending_artifact(api, "disconnects")
    data = os.urandom(7 * MiB)
    assert served.orphan_chunks() == 0

    sock = open_upload(served, artifact["uploadUrl"], len(data))
    sock.sendall(data[: 6 * MiB])
    # The upload is under way: its first chunks are in GridFS.
    served.wait_for(lambda: served.orphan_chunks() > 0, "chunks of the running upload")
    sock.close()

    served.wait_for(lambda: served.orphan_chunks() == 0, "the partial upload to be deleted")
    assert (await read_artifact(api, artifact["id"]))["state"] == "PENDING"

    put = await http.put(artifact["uploadUrl"], content=data, headers=bearer())
    assert put.status_code == 200, put.text
    got = await http.get(artifact["uploadUrl"], headers=bearer())
    assert got.content == data


async def test_concurrent_upload_is_refused_and_an_uploaded_artifact_is_immutable(
    api: Api, http: httpx.AsyncClient, served: Served
) -> None:
    artifact = await pending_artifact(api, "concurrency")
    data = os.urandom(6 * MiB)

    sock = open_upload(served, artifact["uploadUrl"], len(data))
    with sock:
        sock.sendall(data[: 5 * MiB])
        served.wait_for(lambda: served.orphan_chunks() > 0, "chunks of the first upload")
        second = await http.put(artifact["uploadUrl"], content=b"x" * 10, headers=bearer())
        assert second.status_code == 409
        assert "in progress" in second.json()["errors"][0]["message"]
        sock.sendall(data[5 * MiB :])
        status, response = read_response(sock)
    assert status == 200, response

    again = await http.put(artifact["uploadUrl"], content=b"new bytes", headers=bearer())
    assert again.status_code == 409
    assert again.json()["errors"][0]["extensions"]["code"] == "CONFLICT"
    # Refused before its body: answered at once, and the connection closed rather than the
    # promised bytes read and thrown away.
    with open_upload(served, artifact["uploadUrl"], LIMIT) as sock:
        status, _ = read_response(sock)
        assert status == 409
        assert sock.recv(1) == b""
    got = await http.get(artifact["uploadUrl"], headers=bearer())
    assert got.content == data


async def test_an_upload_left_by_a_dead_server_is_taken_over_when_its_lease_expires(
    api: Api, http: httpx.AsyncClient, served: Served
) -> None:
    artifact = await pending_artifact(api, "takeover")
    # What a server killed mid-upload leaves: a lease, and the chunks it had written.
    stale = ObjectId()
    served.db["fs.chunks"].insert_many(
        [{"files_id": stale, "n": n, "data": b"partial"} for n in range(3)]
    )
    oid = api_id_to_oid(artifact["id"])
    leases = served.db["artifact_uploads"]
    expires = datetime.now(UTC) + timedelta(minutes=1)
    leases.insert_one({"_id": oid, "file_id": stale, "expires_at": expires})

    busy = await http.put(artifact["uploadUrl"], content=b"data", headers=bearer())
    assert busy.status_code == 409

    expired = {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}
    leases.update_one({"_id": oid}, {"$set": expired})
    put = await http.put(artifact["uploadUrl"], content=b"data", headers=bearer())
    assert put.status_code == 200, put.text
    assert served.db["fs.chunks"].count_documents({"files_id": stale}) == 0
    assert served.orphan_chunks() == 0
    assert leases.count_documents({"_id": oid}) == 0


async def test_ranges_and_head(api: Api, http: httpx.AsyncClient) -> None:
    data = os.urandom(2 * MiB + 100)
    size = len(data)
    artifact = await pending_artifact(api, "ranges")
    assert (await http.put(artifact["uploadUrl"], content=data, headers=bearer())).is_success
    url = artifact["uploadUrl"]

    async def ranged(spec: str) -> httpx.Response:
        return await http.get(url, headers={**bearer(), "Range": spec})

    cases = {
        "bytes=100-199": (100, 199),
        # Across the boundary of two 1 MiB GridFS chunks.
        f"bytes={MiB - 10}-{MiB + 9}": (MiB - 10, MiB + 9),
        "bytes=-10": (size - 10, size - 1),
        f"bytes={size - 5}-": (size - 5, size - 1),
        f"bytes=0-{size + 1000}": (0, size - 1),
    }
    for spec, (start, end) in cases.items():
        response = await ranged(spec)
        assert response.status_code == 206, spec
        assert response.content == data[start : end + 1], spec
        assert response.headers["content-range"] == f"bytes {start}-{end}/{size}"
        assert response.headers["content-length"] == str(end - start + 1)

    for spec in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
        response = await ranged(spec)
        assert response.status_code == 416, spec
        assert response.headers["content-range"] == f"bytes */{size}"

    # Several ranges at once, or a malformed one: answered with the whole file.
    for spec in ("bytes=0-9,20-29", "bytes=20-10", "items=0-9"):
        whole = await ranged(spec)
        assert whole.status_code == 200 and whole.content == data, spec

    head = await http.head(url, headers=bearer())
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(size)
    assert head.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    head_range = await http.head(url, headers={**bearer(), "Range": "bytes=0-9"})
    assert head_range.status_code == 206 and head_range.headers["content-length"] == "10"


async def test_transfers_need_a_token_and_the_right_role(api: Api, http: httpx.AsyncClient) -> None:
    uploaded = await pending_artifact(api, "team-a", "up.bin")
    assert (await http.put(uploaded["uploadUrl"], content=b"abc", headers=bearer())).is_success
    pending = await pending_artifact(api, "team-a", "pending.bin")
    viewer = await api.token(("team-a", "VIEWER"), name="viewer")
    writer = await api.token(("team-a", "WRITER"), name="writer")
    outsider = await api.token(("team-b", "ADMIN"), name="outsider")

    for url in (uploaded["uploadUrl"], pending["uploadUrl"]):
        for method in ("GET", "PUT"):
            response = await http.request(method, url, content=b"x")
            assert response.status_code == 401, (method, url)
            assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
            bad = await http.request(method, url, content=b"x", headers=bearer("mbx_nope"))
            assert bad.status_code == 401

    assert (await http.get(uploaded["uploadUrl"], headers=bearer(viewer))).content == b"abc"
    refused = await http.put(pending["uploadUrl"], content=b"x", headers=bearer(viewer))
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await http.put(pending["uploadUrl"], content=b"x", headers=bearer(writer))).is_success

    # Another namespace's artifact is answered exactly like one that does not exist.
    base = uploaded["uploadUrl"].rsplit("/", 1)[0]
    missing = f"{base}/{(await pending_artifact(api, 'team-a', 'tmp.bin'))['id']}"
    await api.ok(
        "mutation($id: ID!) { deleteArtifact(input: {id: $id}) { deletedId } }",
        {"id": missing.rsplit("/", 1)[1]},
    )
    for method in ("GET", "HEAD", "PUT"):
        foreign = await http.request(
            method, uploaded["uploadUrl"], content=b"x", headers=bearer(outsider)
        )
        absent = await http.request(method, missing, content=b"x", headers=bearer(outsider))
        garbage = await http.request(method, f"{base}/nonsense", headers=bearer(outsider))
        assert foreign.status_code == absent.status_code == garbage.status_code == 404
        assert foreign.content == absent.content == garbage.content
    assert (await read_artifact(api, uploaded["id"]))["state"] == "AVAILABLE"


async def test_uploads_and_downloads_are_audited(api: Api, http: httpx.AsyncClient) -> None:
    writer = await api.token(("audited", "WRITER"), name="trainer")
    artifact = await pending_artifact(api, "audited")
    assert await http.put(artifact["uploadUrl"], content=b"0123456789", headers=bearer(writer))
    assert (await http.get(artifact["uploadUrl"], headers=bearer(writer))).content == b"0123456789"
    ranged = await http.get(artifact["uploadUrl"], headers={**bearer(), "Range": "bytes=2-3"})
    assert ranged.content == b"23"

    data = await api.ok(
        """{ namespace(name: "audited") { auditEvents(filter: {actions: [UPLOADED, DOWNLOADED]}) {
             edges { node { action objectType objectId actor clientAddress userAgent changes } }
           } } }"""
    )
    events = [e["node"] for e in data["namespace"]["auditEvents"]["edges"]]
    assert [e["action"] for e in events] == ["DOWNLOADED", "DOWNLOADED", "UPLOADED"]
    assert {e["objectId"] for e in events} == {artifact["id"]}
    assert {e["objectType"] for e in events} == {"Artifact"}
    assert [e["actor"] for e in events] == [BOOTSTRAP_NAME, "trainer", "trainer"]
    assert all(e["clientAddress"] == "127.0.0.1" and e["userAgent"] == AGENT for e in events)
    upload = events[2]["changes"]
    assert upload == {"size": 10, "sha256": hashlib.sha256(b"0123456789").hexdigest()}
    assert events[0]["changes"]["range"] == "bytes 2-3/10"


async def test_of_many_simultaneous_uploads_exactly_one_wins(
    api: Api, http: httpx.AsyncClient, served: Served
) -> None:
    artifact = await pending_artifact(api, "races")
    bodies = [os.urandom(2 * MiB) for _ in range(6)]
    responses = await asyncio.gather(
        *(http.put(artifact["uploadUrl"], content=body, headers=bearer()) for body in bodies)
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409, 409, 409, 409, 409]
    winner = bodies[[r.status_code for r in responses].index(200)]
    assert (await http.get(artifact["uploadUrl"], headers=bearer())).content == winner
    assert served.orphan_chunks() == 0


async def test_deleting_an_artifact_mid_upload_ends_the_upload_and_leaves_no_bytes(
    api: Api, http: httpx.AsyncClient, served: Served
) -> None:
    artifact = await pending_artifact(api, "doomed")
    before = (await read_artifact(api, artifact["id"]))["updatedAt"]
    data = os.urandom(7 * MiB)
    with open_upload(served, artifact["uploadUrl"], len(data)) as sock:
        sock.sendall(data[: 5 * MiB])
        served.wait_for(lambda: served.orphan_chunks() > 0, "chunks of the running upload")
        # A running upload leaves the artifact itself untouched (nothing for live watchers).
        assert (await read_artifact(api, artifact["id"]))["updatedAt"] == before
        await api.ok(
            "mutation($id: ID!) { deleteArtifact(input: {id: $id}) { deletedId } }",
            {"id": artifact["id"]},
        )
        sock.sendall(data[5 * MiB :])
        status, body = read_response(sock)
    assert status == 409, body
    assert b"deleted" in body
    served.wait_for(lambda: served.orphan_chunks() == 0, "the upload's chunks to be deleted")
    assert served.db["artifact_uploads"].count_documents({}) == 0
