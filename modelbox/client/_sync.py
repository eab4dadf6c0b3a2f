"""`modelbox sync`: send what runs left in the spool (a server that was down when they
finished, a training process that crashed)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from modelbox.client import _spool
from modelbox.client._config import credentials, spool_dir
from modelbox.client._sender import sync_spool
from modelbox.client._transport import Transport


@dataclass
class SyncResult:
    spool: Path
    experiment: str  # namespace/name
    sent: int  # ops confirmed now
    left: int  # ops still unsent (server still down); 0 when the spool is gone
    refused: list[str]
    busy: bool = False  # its run is still going: left alone


def sync(
    directory: str | Path | None = None,
    url: str | None = None,
    token: str | None = None,
    timeout: float | None = None,
) -> list[SyncResult]:
    """Send every spool's unconfirmed ops, oldest spool first, to the server each names
    (or `url`); a spool whose run is still going is left to it."""
    found = sorted(Path(directory or spool_dir()).glob("*.spool"), key=lambda p: p.stat().st_mtime)
    deadline = None if timeout is None else time.monotonic() + timeout
    results = []
    for path in found:
        head = _spool.header(path)
        name = f"{head['namespace']}/{head['experiment']}"

        def transport_for(spooled_url: str) -> Transport:
            found = credentials(url or spooled_url, token)
            return Transport(found.url, found.token)

        try:
            outcome, left = sync_spool(path, transport_for, deadline)
        except RuntimeError:
            results.append(SyncResult(path, name, 0, -1, [], busy=True))
            continue
        results.append(SyncResult(path, name, outcome.sent, left, outcome.refused))
    return results
