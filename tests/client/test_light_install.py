"""`pip install modelbox` without the server extra: a venv with only the base dependencies
imports the client, runs the CLI, and loads no server dependency."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVER = (
    "strawberry",
    "starlette",
    "uvicorn",
    "pymongo",
    "bson",
    "secantusdb",
    "orjson",
    "graphql",
)


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=300, cwd=cwd
    )
    return done


def test_the_client_installs_and_imports_with_the_base_dependencies_alone(tmp_path: Path) -> None:
    base = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    venv = tmp_path / "venv"
    assert run(sys.executable, "-m", "venv", venv).returncode == 0
    pip = [
        venv / "bin" / "python",
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]
    # From a copy of the package: building in the work tree would leave build/ in it.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT / "modelbox", source / "modelbox", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    installed = run(*pip, "--no-deps", source, cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    deps = run(*pip, *base, cwd=tmp_path)
    assert deps.returncode == 0, deps.stderr

    code = (
        "import sys, modelbox, modelbox.cli;"
        " assert callable(modelbox.init) and modelbox.Client;"
        f" print(sorted(m for m in sys.modules if m.split('.')[0].lower() in {SERVER!r}"
        " or m.startswith('modelbox.server')))"
    )
    imported = run(venv / "bin" / "python", "-c", code, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == "[]"

    cli = run(venv / "bin" / "modelbox", "--help", cwd=tmp_path)
    assert cli.returncode == 0 and "experiments" in cli.stdout
    serve = run(venv / "bin" / "modelbox", "serve", cwd=tmp_path)
    assert serve.returncode == 1
    assert "pip install 'modelbox[server]'" in serve.stderr
