"""docker-compose.yml and the Dockerfile are wired together (no Docker engine runs here)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_modelbox_reaches_the_replica_set_by_service_name_and_port() -> None:
    services = _compose()["services"]
    mongo, modelbox = services["mongodb"], services["modelbox"]
    command = mongo["command"]
    replica_set = command[command.index("--replSet") + 1]
    port = int(command[command.index("--port") + 1])

    uri = urlparse(modelbox["environment"]["MODELBOX_MONGODB_URI"])
    assert uri.scheme == "mongodb"
    assert uri.hostname == "mongodb" and uri.port == port
    assert parse_qs(uri.query)["replicaSet"] == [replica_set]
    assert modelbox["depends_on"]["mongodb"]["condition"] == "service_healthy"


def test_mongodb_is_version_8_and_initiates_itself() -> None:
    mongo = _compose()["services"]["mongodb"]
    assert mongo["image"].startswith("mongo:8")
    check = " ".join(mongo["healthcheck"]["test"])
    assert "rs.initiate" in check
    port = mongo["command"][mongo["command"].index("--port") + 1]
    assert f"host: 'mongodb:{port}'" in check
    assert any(v.endswith(":/data/db") for v in mongo["volumes"])


def test_modelbox_is_built_here_and_listens_where_it_is_published() -> None:
    modelbox = _compose()["services"]["modelbox"]
    assert modelbox["build"] == "."
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["modelbox", "serve"]' in dockerfile
    port = modelbox["environment"]["MODELBOX_PORT"]
    assert modelbox["environment"]["MODELBOX_HOST"] == "0.0.0.0"
    assert f"{port}:{port}" in modelbox["ports"]
    assert f"EXPOSE {port}" in dockerfile
    # Everything the image installs from is copied into it.
    for needed in ("pyproject.toml", "README.md", "modelbox"):
        assert needed in dockerfile
