"""Artifact bytes up and down: streamed in chunks, sha256 checked, with a progress bar."""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import httpx

from modelbox.client import _queries as q
from modelbox.client._base import Base
from modelbox.client._exceptions import ConfigError, IntegrityError, TransportError
from modelbox.client._transport import Transport

CHUNK = 1024 * 1024
UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
TRANSFER_TIMEOUT = httpx.Timeout(300.0, connect=10.0)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def artifact_name(path: str) -> str:
    """A relative path as the server takes artifact names: each part of letters, digits,
    `.`, `_` and `-`, not starting with `.` or `-` (Lightning's `epoch=0-step=4.ckpt`
    becomes `epoch_0-step_4.ckpt`)."""
    parts = [UNSAFE.sub("_", part) for part in path.split("/") if part]
    return "/".join(part if part[0] not in ".-" else "_" + part for part in parts)


def files_of(path: Path) -> list[tuple[Path, str]]:
    """`(file, artifact name)` for a file (its own name) or every file under a directory
    (paths relative to it, with forward slashes)."""
    if path.is_file():
        return [(path, path.name)]
    if not path.is_dir():
        raise FileNotFoundError(path)
    return [(f, f.relative_to(path).as_posix()) for f in sorted(path.rglob("*")) if f.is_file()]


def _bar(progress: bool | None, total: int | None, label: str) -> Any:
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return nullcontext(None)
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=label, leave=False)


def upload(transport: Transport, url: str, path: Path, progress: bool | None) -> None:
    size = path.stat().st_size

    with _bar(progress, size, path.name) as bar:

        def chunks() -> Iterator[bytes]:
            with open(path, "rb") as file:
                while chunk := file.read(CHUNK):
                    if bar is not None:
                        bar.update(len(chunk))
                    yield chunk

        try:
            response = transport.http.put(
                url,
                content=chunks(),
                headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
                timeout=TRANSFER_TIMEOUT,
            )
        except httpx.HTTPError as error:
            raise TransportError(f"upload of {path}: {error}") from None
    if response.status_code >= 300:
        transport.answer(response)  # raises the server's error with its code


def download(
    transport: Transport, artifact: dict[str, Any], dest: Path, progress: bool | None
) -> Path:
    """Stream an artifact into `dest` (a file path), verified against its sha256; the file
    appears only once it is complete and correct."""
    if not artifact.get("downloadUrl"):
        raise TransportError(
            f"artifact {artifact['name']} has no downloadUrl ({artifact.get('uri')})"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.part")
    digest = hashlib.sha256()
    try:
        with (
            transport.http.stream(
                "GET", artifact["downloadUrl"], timeout=TRANSFER_TIMEOUT
            ) as response,
            _bar(progress, artifact.get("size"), artifact["name"]) as bar,
        ):
            if response.status_code != 200:
                response.read()
                transport.answer(response)
            with open(partial, "wb") as file:
                for chunk in response.iter_bytes(CHUNK):
                    digest.update(chunk)
                    file.write(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
    except httpx.HTTPError as error:
        partial.unlink(missing_ok=True)
        raise TransportError(f"download of {artifact['name']}: {error}") from None
    expected = artifact.get("sha256")
    if expected and digest.hexdigest() != expected:
        partial.unlink(missing_ok=True)
        raise IntegrityError(
            f"{artifact['name']}: sha256 {digest.hexdigest()} does not match {expected}"
        )
    os.replace(partial, dest)
    return dest


class Artifacts(Base):
    """An object's artifacts: listed, uploaded and downloaded with sha256 checks."""

    def artifacts(self, subject_id: str) -> list[dict[str, Any]]:
        return list(self._pages(q.ARTIFACTS, ["node", "artifacts"], id=subject_id))

    def artifact(self, artifact_id: str) -> dict[str, Any]:
        found = self.graphql(q.ARTIFACT_BY_ID, id=artifact_id)["node"]
        return self._found(found, f"artifact {artifact_id!r}")

    def upload_artifact(
        self,
        subject_id: str,
        path: str | Path,
        name: str | None = None,
        progress: bool | None = None,
    ) -> list[dict[str, Any]]:
        """Upload a file (as `name`, default its file name) or a directory (each file under
        `name/`); the server checks each upload against the sha256 computed here."""
        path = Path(path)
        uploaded = []
        for file, relative in files_of(path):
            given = relative if name is None else (name if path.is_file() else f"{name}/{relative}")
            stored_name = artifact_name(given)
            created = self.graphql(
                q.CREATE_ARTIFACT,
                input={
                    "subjectId": subject_id,
                    "name": stored_name,
                    "sha256": sha256_of(file),
                    "metadata": {"path": given} if given != stored_name else None,
                },
            )["createArtifact"]
            upload(self.transport, created["uploadUrl"], file, progress)
            uploaded.append(self.artifact(created["id"]))
        return uploaded

    def download_artifact(
        self, artifact: str | dict[str, Any], dest: str | Path, progress: bool | None = None
    ) -> Path:
        """Download into `dest` (a file path, or an existing directory to put it in by name)."""
        found = self.artifact(artifact) if isinstance(artifact, str) else artifact
        target = Path(dest)
        if target.is_dir():
            target = inside(target, found["name"])
        return download(self.transport, found, target, progress)


def inside(directory: Path, name: str) -> Path:
    """`directory/name`, refusing a name that would land outside the directory."""
    target = directory / name
    if not target.resolve().is_relative_to(directory.resolve()):
        raise ConfigError(f"artifact name {name!r} points outside {directory}")
    return target
