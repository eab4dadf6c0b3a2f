"""The server as `make serve` runs it: a real uvicorn process and the embedded database."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from modelbox.server.embedded import EmbeddedDatabase, free_port
from tests.servers import ServerProcess

NESTED = """{ namespace(name: "first") { model(name: "resnet") { name
  versions { edges { node { version aliases } } } } } }"""


def _env(**extra: str) -> dict[str, str]:
    """The environment of a fresh shell: no database or token configured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELBOX_")}
    return {**env, **extra}


def gql(server: ServerProcess, token: str, query: str, **variables: object) -> dict:
    response = httpx.post(
        f"{server.url}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    return response.json()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_first_session_with_the_embedded_database(tmp_path: Path) -> None:
    env = _env(MODELBOX_DATA_DIR=str(tmp_path / "db"))
    server = ServerProcess(env, cwd=tmp_path).start()
    try:
        token = server.wait_for(r"admin token \(shown once, keep it\): (mbx_\S+)").group(1)
        db_pid = int(server.wait_for(r"embedded database pid (\d+)").group(1))

        model = gql(
            server,
            token,
            'mutation { createModel(input: {namespace: "first", name: "resnet"}) { id } }',
        )["data"]["createModel"]
        for aliases in ([], ["production"]):
            gql(
                server,
                token,
                "mutation($id: ID!, $a: [String!]!) { createModelVersion(input: "
                "{modelId: $id, aliases: $a}) { version } }",
                id=model["id"],
                a=aliases,
            )
        versions = gql(server, token, NESTED)["data"]["namespace"]["model"]["versions"]["edges"]
        assert [(v["node"]["version"], v["node"]["aliases"]) for v in versions] == [
            (2, ["production"]),
            (1, []),
        ]
        assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    finally:
        server.stop()
    assert _wait_gone(db_pid), "the embedded database outlived the server"

    again = ServerProcess(env, cwd=tmp_path).start()
    try:
        # Start-up is logged after the token would have been printed.
        again.wait_for("Application startup complete")
        assert "admin token" not in again.output, "the admin token is shown only once"
        data = gql(again, token, NESTED)["data"]
        assert len(data["namespace"]["model"]["versions"]["edges"]) == 2
    finally:
        again.stop()


def test_database_outage_is_reported_clearly_and_recovered(tmp_path: Path) -> None:
    port = free_port()
    database = EmbeddedDatabase(tmp_path / "db", port=port).start()
    env = _env(
        MODELBOX_MONGODB_URI=database.uri,
        MODELBOX_ADMIN_TOKEN="mbx_outage-test-token-of-32-characters",
    )
    server = ServerProcess(env).start()
    token = "mbx_outage-test-token-of-32-characters"
    try:
        model = gql(
            server,
            token,
            'mutation { createModel(input: {namespace: "first", name: "resnet"}) { id } }',
        )["data"]["createModel"]
        artifact = gql(
            server,
            token,
            'mutation($id: ID!) { createArtifact(input: {subjectId: $id, name: "w.pt"}) '
            "{ uploadUrl } }",
            id=model["id"],
        )["data"]["createArtifact"]
        database.stop()

        ready = httpx.get(f"{server.url}/readyz", timeout=10)
        assert ready.status_code == 503
        assert "database unreachable" in ready.json()["reason"]
        body = gql(server, token, NESTED)
        [error] = body["errors"]
        assert error["extensions"]["code"] == "DATABASE_UNAVAILABLE"
        assert error["extensions"]["retryable"] is True
        assert "database is unavailable" in error["message"]
        assert "Timeout" not in str(body) and str(port) not in str(body)
        # The artifact routes answer the same error, as a retryable 503.
        auth = {"Authorization": f"Bearer {token}"}
        for method in ("GET", "PUT"):
            answer = httpx.request(
                method, artifact["uploadUrl"], headers=auth, content=b"x", timeout=30
            )
            assert answer.status_code == 503, (method, answer.text)
            assert answer.headers["retry-after"] == "1"
            assert answer.json()["errors"] == [
                {"message": error["message"], "extensions": error["extensions"]}
            ]

        database = EmbeddedDatabase(tmp_path / "db", port=port).start()
        deadline = time.monotonic() + 30
        while httpx.get(f"{server.url}/readyz", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "never became ready again"
            time.sleep(0.5)
        data = gql(server, token, NESTED)["data"]
        assert data["namespace"]["model"]["name"] == "resnet"
    finally:
        server.stop()
        database.stop()


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_stopping_the_server_stops_the_database(tmp_path: Path, signal_name: str) -> None:
    import signal

    server = ServerProcess(_env(MODELBOX_DATA_DIR=str(tmp_path / "db")), cwd=tmp_path).start()
    db_pid = int(server.wait_for(r"embedded database pid (\d+)").group(1))
    assert server.process is not None
    server.process.send_signal(getattr(signal, signal_name))
    server.process.wait(20)
    server.stop()
    assert _wait_gone(db_pid), f"{signal_name} left the database running"
