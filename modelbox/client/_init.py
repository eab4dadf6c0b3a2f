"""`modelbox.init`: the experiment found or created, its code and environment captured,
a `Run` started; plus the module-level functions that act on the current run."""

from __future__ import annotations

import atexit
import getpass
import os
import secrets
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from modelbox.client import _capture, _run
from modelbox.client._client import Client
from modelbox.client._exceptions import Conflict, NotFound, TransportError
from modelbox.client._run import Run, status_for
from modelbox.client._system import hardware
from modelbox.client._transport import backoff, retryable

# How long init keeps trying a server that is down or restarting before it gives up.
INIT_PATIENCE = 30.0
_crash: list[type[BaseException]] = []


def _patiently(call: Any, *args: Any, **kwargs: Any) -> Any:
    deadline = time.monotonic() + INIT_PATIENCE
    attempt = 0
    while True:
        try:
            return call(*args, **kwargs)
        except Exception as error:
            if not retryable(error) or time.monotonic() > deadline:
                raise
        time.sleep(backoff(attempt))
        attempt += 1


def _metadata() -> tuple[dict[str, Any], str | None]:
    code, diff = _capture.code()
    return {"code": code, "environment": _capture.environment(), "hardware": hardware()}, diff


def _open(
    client: Client,
    namespace: str,
    name: str,
    config: dict[str, Any],
    metadata: dict[str, Any],
    fields: dict[str, Any],
) -> dict[str, Any]:
    """The experiment `namespace/name`, created if new, else set RUNNING with the config
    and metadata merged into what it has."""
    try:
        found = client.experiment(f"{namespace}/{name}")
    except NotFound:
        try:
            return client.create_experiment(
                namespace, name, hyperparameters=config or None, metadata=metadata, **fields
            )
        except Conflict:  # another process created it first
            found = client.experiment(f"{namespace}/{name}")
    return client.update_experiment(
        found["id"],
        status="RUNNING",
        hyperparameters={**(found.get("hyperparameters") or {}), **config} or None,
        metadata={**(found.get("metadata") or {}), **metadata},
    )


def _upload_captured(run: Run, diff: str | None) -> None:
    """The diff, the installed packages and the entry point, as the experiment's artifacts."""
    directory = run.spool_path.with_suffix(".capture")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        files = {"environment/requirements.txt": _capture.requirements()}
        if diff:
            files["code/diff.patch"] = diff
        for name, text in files.items():
            path = directory / name.replace("/", "_")
            path.write_text(text)
            run.client.upload_artifact(run.id, path, name=name, progress=False)
        script = _capture.entry_point()
        if script is not None and script.is_file():
            run.client.upload_artifact(run.id, script, name=f"code/{script.name}", progress=False)
    except Exception as error:  # capture is a courtesy: never the reason a job fails
        print(f"ModelBox: code and environment not uploaded: {error}", file=sys.stderr)
    finally:
        for path in directory.glob("*"):
            path.unlink(missing_ok=True)
        directory.rmdir() if directory.exists() else None


def init(
    namespace: str | None = None,
    experiment: str | None = None,
    config: dict[str, Any] | None = None,
    url: str | None = None,
    token: str | None = None,
    resume: bool = False,
    *,
    system_metrics: bool = True,
    system_metrics_interval: float = 10.0,
    capture_code: bool = True,
    spool_dir: str | Path | None = None,
    **fields: Any,
) -> Run:
    """Start (or with `resume=True`, continue) logging into experiment `namespace/experiment`,
    created if new. URL and token default to MODELBOX_URL and MODELBOX_TOKEN; the namespace
    and name to MODELBOX_NAMESPACE and MODELBOX_EXPERIMENT, else "default" and a new name.
    Other keyword arguments (owner, framework, task, labels) go to a new experiment."""
    namespace = namespace or os.environ.get("MODELBOX_NAMESPACE") or "default"
    experiment = experiment or os.environ.get("MODELBOX_EXPERIMENT")
    if experiment is None:
        experiment = time.strftime("run-%Y%m%d-%H%M%S-") + secrets.token_hex(2)
    fields.setdefault("owner", getpass.getuser())
    client = Client(url, token)
    metadata, diff = _metadata() if capture_code else ({}, None)
    try:
        record = _patiently(
            _open, client, namespace, experiment, dict(config or {}), metadata, fields
        )
    except TransportError as error:
        raise TransportError(
            f"ModelBox at {client.url} did not answer for {INIT_PATIENCE:.0f} s: {error}"
        ) from None
    run = Run(client, record, Path(spool_dir) if spool_dir else None)
    if system_metrics:
        run.start_system_metrics(system_metrics_interval)
    if capture_code:
        run.background(threading.Thread(target=_upload_captured, args=(run, diff), daemon=True))
    _install_hooks()
    _run._runs.append(run)
    return run


def _install_hooks() -> None:
    if getattr(_install_hooks, "done", False):
        return
    previous = sys.excepthook

    def hook(et: type[BaseException], e: BaseException, tb: TracebackType | None) -> None:
        _crash.append(et)
        previous(et, e, tb)

    sys.excepthook = hook
    atexit.register(_finish_all)
    _install_hooks.done = True  # type: ignore[attr-defined]


def _finish_all() -> None:
    """At exit: finish runs the script left open, FAILED if it died of an exception."""
    for run in list(_run._runs):
        run.finish(status_for(_crash[-1] if _crash else None), timeout=10.0)


def log(data: dict[str, Any], step: int | None = None) -> None:
    _run.current().log(data, step)


def log_params(params: dict[str, Any]) -> None:
    _run.current().log_params(params)


def log_event(name: str, payload: Any = None) -> None:
    _run.current().log_event(name, payload)


def log_checkpoint(path: str | Path, **kwargs: Any) -> dict[str, Any]:
    return _run.current().log_checkpoint(path, **kwargs)


def log_artifact(path: str | Path, name: str | None = None) -> list[dict[str, Any]]:
    return _run.current().log_artifact(path, name)


def finish(status: str = "FINISHED", timeout: float = 30.0) -> bool:
    return _run.current().finish(status, timeout)
