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


def _scale() -> dict[str, dict]:
    return {
        name: service
        for name, service in _compose()["services"].items()
        if "scale" in service.get("profiles", [])
    }


def test_scale_profile_is_a_three_member_replica_set() -> None:
    services = _scale()
    members = {name: s for name, s in services.items() if s.get("image", "").startswith("mongo:8")}
    assert len(members) == 3
    replica_sets = set()
    for service in members.values():
        command = service["command"]
        replica_sets.add(command[command.index("--replSet") + 1])
        assert any(v.endswith(":/data/db") for v in service["volumes"])
    [replica_set] = replica_sets
    # One member initiates the set naming all three, by service name and port.
    [initiator] = [s for s in members.values() if "rs.initiate" in str(s.get("healthcheck"))]
    check = " ".join(initiator["healthcheck"]["test"])
    assert f"_id: '{replica_set}'" in check
    for name, service in members.items():
        port = service["command"][service["command"].index("--port") + 1]
        assert f"host: '{name}:{port}'" in check
    # Each member keeps its data in a volume of its own.
    volumes = [v for s in members.values() for v in s["volumes"]]
    assert len(set(volumes)) == 3


def test_scale_profile_runs_modelbox_replicas_on_the_whole_replica_set() -> None:
    services = _scale()
    members = [n for n, s in services.items() if s.get("image", "").startswith("mongo:8")]
    replicas = {n: s for n, s in services.items() if s.get("build") == "."}
    assert len(replicas) >= 2
    for service in replicas.values():
        environment = service["environment"]
        uri = urlparse(environment["MODELBOX_MONGODB_URI"])
        hosts = {h.split(":")[0] for h in uri.netloc.split(",")}
        assert hosts == set(members)
        assert parse_qs(uri.query)["replicaSet"] == [
            services[members[0]]["command"][services[members[0]]["command"].index("--replSet") + 1]
        ]
        assert environment["MODELBOX_HOST"] == "0.0.0.0"
        # Links handed to clients go through the load balancer.
        assert "8080" in environment["MODELBOX_PUBLIC_URL"]
        assert "ports" not in service, "replicas are reached through the load balancer only"


def test_scale_profile_balances_http_and_websockets_over_every_replica() -> None:
    services = _scale()
    replicas = {n: s for n, s in services.items() if s.get("build") == "."}
    [lb] = [s for s in services.values() if s.get("image", "").startswith("nginx")]
    assert set(lb["depends_on"]) == set(replicas)
    assert "8080:80" in lb["ports"]
    [mount] = lb["volumes"]
    config_path = ROOT / mount.split(":")[0]
    config = config_path.read_text()
    for name, service in replicas.items():
        assert f"server {name}:{service['environment']['MODELBOX_PORT']};" in config
    # WebSocket upgrades pass, subscriptions are not cut, uploads are not capped or buffered.
    assert "proxy_set_header Upgrade $http_upgrade;" in config
    assert "proxy_set_header Connection $connection_upgrade;" in config
    assert "proxy_http_version 1.1;" in config
    assert "proxy_read_timeout 1h;" in config
    assert "client_max_body_size 0;" in config
    assert "proxy_request_buffering off;" in config
    assert "listen 80;" in config
