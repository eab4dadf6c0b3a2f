"""Where the client finds its server and token: arguments, then `MODELBOX_URL` and
`MODELBOX_TOKEN`, then the file `modelbox login` wrote (`~/.config/modelbox/config.json`,
readable by its owner only)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from modelbox.client._exceptions import ConfigError

DEFAULT_URL = "http://127.0.0.1:8000"


def config_dir() -> Path:
    if explicit := os.environ.get("MODELBOX_CONFIG_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "modelbox"


def spool_dir() -> Path:
    """Where runs keep the points not yet confirmed by the server (`MODELBOX_SPOOL_DIR`)."""
    if explicit := os.environ.get("MODELBOX_SPOOL_DIR"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "modelbox" / "spool"


@dataclass(frozen=True)
class Credentials:
    url: str
    token: str | None


def _saved() -> dict[str, str]:
    path = config_dir() / "config.json"
    if not path.exists():
        return {}
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None
    return saved if isinstance(saved, dict) else {}


def credentials(url: str | None = None, token: str | None = None) -> Credentials:
    saved = _saved() if url is None or token is None else {}
    url = url or os.environ.get("MODELBOX_URL") or saved.get("url") or DEFAULT_URL
    token = token or os.environ.get("MODELBOX_TOKEN") or saved.get("token")
    return Credentials(url.rstrip("/").removesuffix("/graphql"), token)


def save(url: str, token: str) -> Path:
    """Store URL and token for later commands, in a file only its owner can read."""
    directory = config_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / "config.json"
    # Created 0600 before the secret is written, so it is never readable by others.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump({"url": url.rstrip("/"), "token": token}, file)
    return path
