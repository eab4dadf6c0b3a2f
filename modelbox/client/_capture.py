"""What an experiment ran: the code (git commit, branch, remote, dirty tree, its diff, the
entry point) and the environment (Python, installed packages, host), captured at init."""

from __future__ import annotations

import importlib.metadata
import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MAX_DIFF_BYTES = 10 * 1024 * 1024


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def without_credentials(remote: str) -> str:
    """A remote URL without the user:password some keep in it."""
    parts = urlsplit(remote)
    if parts.scheme and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    return remote


def entry_point() -> Path | None:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return Path(path).resolve() if path else None


def code(directory: Path | None = None) -> tuple[dict[str, Any], str | None]:
    """The code's metadata, and the diff of a dirty tree (None when clean or not git)."""
    script = entry_point()
    cwd = directory or (script.parent if script else Path.cwd())
    found: dict[str, Any] = {"entrypoint": str(script) if script else None, "argv": sys.argv[1:]}
    commit = _git(cwd, "rev-parse", "HEAD")
    if commit is None:
        return found, None
    status = _git(cwd, "status", "--porcelain") or ""
    remote = (_git(cwd, "remote", "get-url", "origin") or "").strip()
    found["git"] = {
        "commit": commit.strip(),
        "branch": (_git(cwd, "rev-parse", "--abbrev-ref", "HEAD") or "").strip() or None,
        "remote": without_credentials(remote) if remote else None,
        "dirty": bool(status.strip()),
    }
    diff = _git(cwd, "diff", "HEAD") if status.strip() else None
    if diff and len(diff.encode()) > MAX_DIFF_BYTES:
        found["git"]["diff_skipped"] = f"over {MAX_DIFF_BYTES} bytes"
        diff = None
    return found, diff or None


def requirements() -> str:
    """The installed distributions, in `pip freeze` format (read from the environment's
    metadata, so it needs no pip and takes milliseconds)."""
    lines = {
        f"{dist.metadata['Name']}=={dist.version}"
        for dist in importlib.metadata.distributions()
        if dist.metadata["Name"]
    }
    return "\n".join(sorted(lines, key=str.lower)) + "\n"


def environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "host": socket.gethostname(),
    }
