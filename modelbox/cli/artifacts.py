"""`modelbox artifacts ls/get/put`: streamed, sha256 checked, with progress bars."""

from __future__ import annotations

from pathlib import Path

import click

from modelbox.cli._output import dump, fails_cleanly, json_option, table
from modelbox.client import Client

COLUMNS = [
    ("NAME", lambda a: a["name"]),
    ("STATE", lambda a: a["state"]),
    ("SIZE", lambda a: a["size"]),
    ("SHA256", lambda a: (a["sha256"] or "")[:12] or None),
    ("ID", lambda a: a["id"]),
]


@click.group()
def artifacts() -> None:
    """Files of experiments, checkpoints, models and versions."""


@artifacts.command("ls")
@click.argument("subject", metavar="SUBJECT_ID")
@json_option
@fails_cleanly
def ls(subject: str, as_json: bool) -> None:
    """Artifacts of an experiment, checkpoint, model or version, newest first."""
    with Client() as client:
        found = client.artifacts(subject)
    if as_json:
        return dump(found)
    table(found, COLUMNS)


@artifacts.command("put")
@click.argument("subject", metavar="SUBJECT_ID")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--name", help="artifact name (default: the file name; for a directory, a prefix)")
@json_option
@fails_cleanly
def put(subject: str, path: Path, name: str | None, as_json: bool) -> None:
    """Upload a file, or every file of a directory, to SUBJECT_ID."""
    with Client() as client:
        uploaded = client.upload_artifact(subject, path, name, progress=None)
    if as_json:
        return dump(uploaded)
    table(uploaded, COLUMNS)


@artifacts.command("get")
@click.argument("artifact", metavar="ARTIFACT_ID")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="file or directory (default: here, by name)",
)
@fails_cleanly
def get(artifact: str, output: Path | None) -> None:
    """Download an artifact, verified against its sha256."""
    with Client() as client:
        found = client.artifact(artifact)
        target = output or Path(Path(found["name"]).name)
        path = client.download_artifact(found, target, progress=None)
    click.echo(f"{path}  {found['size']} bytes  sha256 {found['sha256']}")
