"""The light `modelbox` package: importing it, and the CLI without the server extra."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SERVER_PACKAGES = ("strawberry", "starlette", "uvicorn", "pymongo", "bson", "secantusdb", "orjson")


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_import_modelbox_loads_no_server_dependency() -> None:
    done = run(
        f"""
        import sys
        import modelbox, modelbox.client, modelbox.cli
        loaded = sorted(
            name for name in sys.modules
            if name.split(".")[0].lower() in {SERVER_PACKAGES!r}
            or name.startswith("modelbox.server")
        )
        print(loaded)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_serve_without_the_server_extra_says_what_to_install() -> None:
    # The server's packages made unimportable, as in an install without the extra.
    done = run(
        f"""
        import sys
        for name in {SERVER_PACKAGES!r}:
            sys.modules[name] = None
        from modelbox.cli import main
        sys.exit(main(["serve"]))
        """
    )
    assert done.returncode == 1
    assert "pip install 'modelbox[server]'" in done.stderr
    assert "Traceback" not in done.stderr
