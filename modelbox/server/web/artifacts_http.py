"""`PUT/GET/HEAD /artifacts/{id}`: artifact bytes over plain HTTP, streamed both ways.

Authorized like the API (the same bearer token; WRITER to upload, VIEWER to download), and
an artifact the caller may not read is answered exactly like one that does not exist.
Ranges: one `bytes=a-b` (or `a-`, `-n`) range is answered 206; several ranges in one
request are answered with the whole body (200), which RFC 9110 allows. `If-None-Match`
with the ETag is answered 304: an artifact's bytes never change.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

import orjson
from starlette.requests import ClientDisconnect, HTTPConnection, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from modelbox.server.errors import BadUserInput, DatabaseUnavailable, ModelBoxError
from modelbox.server.resolvers import artifacts
from modelbox.server.resolvers.context import Context
from modelbox.server.resolvers.ids import to_global_id
from modelbox.server.store.artifacts import ArtifactRecord

log = logging.getLogger("modelbox.artifacts")

ContextFactory = Callable[[HTTPConnection], Awaitable[Context]]

SINGLE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class RangeNotSatisfiable(Exception):
    pass


# Positions past 10^18 bytes are past the end of any artifact; longer digit strings are
# taken as that (Python refuses to parse integers of over 4,300 digits).
BEYOND_ANY_SIZE = 10**18


def _position(digits: str) -> int:
    return int(digits) if len(digits) <= 18 else BEYOND_ANY_SIZE


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range asked for, inclusive; None for the whole file.

    Malformed and multi-range headers are ignored (whole body), as RFC 9110 permits.
    """
    match = SINGLE_RANGE.fullmatch(header.replace(" ", "")) if header else None
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first and last and _position(last) < _position(first):
        return None
    if first == "":
        # A suffix: the last `last` bytes.
        length = _position(last)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(size - length, 0), size - 1
    start = _position(first)
    end = min(_position(last), size - 1) if last else size - 1
    if start >= size:
        raise RangeNotSatisfiable
    return start, end


def _json(body: object, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def _error(error: ModelBoxError, doing: str) -> Response:
    # The same shape as a GraphQL error, so clients read one format; failures are masked.
    body = {"errors": [{"message": error.message, "extensions": error.extensions}]}
    if error.code == ModelBoxError.code:
        log.error("%s failed", doing, exc_info=error)
        body = {"errors": [{"message": "Internal server error", "extensions": error.extensions}]}
    headers = {"WWW-Authenticate": "Bearer"} if error.http_status == 401 else None
    if isinstance(error, DatabaseUnavailable):
        headers = {"Retry-After": str(error.retry_after)}
    return _json(body, error.http_status, headers)


def _closing(response: Response) -> Response:
    """A refused upload ends its connection: the rest of its body (gigabytes, maybe) is not
    read and thrown away, as it would be to keep the connection alive."""
    response.headers["Connection"] = "close"
    return response


def _declared_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    if not raw.isdigit():
        raise BadUserInput("Content-Length: not a number of bytes")
    return int(raw)


def _matches(if_none_match: str | None, etag: str) -> bool:
    tags = [tag.strip().removeprefix("W/") for tag in (if_none_match or "").split(",")]
    return "*" in tags or etag in tags


def _headers(record: ArtifactRecord) -> dict[str, str]:
    filename = record["name"].rsplit("/", 1)[-1]
    return {
        "ETag": f'"{record["sha256"]}"',
        "Accept-Ranges": "bytes",
        "Content-Type": record.get("content_type") or "application/octet-stream",
        # Names are plain path segments (validated), so they need no quoting beyond this.
        "Content-Disposition": f'attachment; filename="{filename}"',
    }


async def upload(ctx: Context, request: Request) -> Response:
    """`PUT`: the bytes of a PENDING artifact, streamed into the store."""
    try:
        record = await artifacts.upload(
            ctx,
            request.path_params["artifact_id"],
            request.stream(),
            _declared_length(request),
        )
    except ModelBoxError as error:
        return _closing(_error(error, "artifact upload"))
    except ClientDisconnect:
        # Nobody is left to answer; the partial upload is already cleaned up.
        return Response(status_code=400)
    body = {
        "id": to_global_id("Artifact", record["id"]),
        "state": record["state"],
        "size": record["size"],
        "sha256": record["sha256"],
    }
    return _json(body, 200, {"ETag": f'"{record["sha256"]}"'})


async def download(ctx: Context, request: Request) -> Response:
    """`GET` and `HEAD`: an AVAILABLE artifact's bytes, whole or one range, audited."""
    try:
        record = await artifacts.downloadable(ctx, request.path_params["artifact_id"])
    except ModelBoxError as error:
        return _error(error, "artifact download")
    size = record.get("size")
    # `downloadable` hands out AVAILABLE GridFS artifacts only, which an upload sized.
    assert size is not None
    headers = _headers(record)
    # The bytes never change, so a client holding this ETag has them already.
    if _matches(request.headers.get("if-none-match"), headers["ETag"]):
        return Response(status_code=304, headers={"ETag": headers["ETag"]})
    try:
        byte_range = parse_range(request.headers.get("range"), size)
    except RangeNotSatisfiable:
        message = f"Range: no byte of it lies within the {size} bytes of this artifact"
        refusal = {"errors": [{"message": message, "extensions": {"code": BadUserInput.code}}]}
        kept = {k: headers[k] for k in ("ETag", "Accept-Ranges")}
        return _json(refusal, 416, {**kept, "Content-Range": f"bytes */{size}"})
    start, end = byte_range or (0, size - 1)
    headers["Content-Length"] = str(end - start + 1)
    status = 200
    if byte_range is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers)
    try:
        await artifacts.record_download(
            ctx, record, {"range": headers.get("Content-Range"), "bytes": end - start + 1}
        )
    except ModelBoxError as error:
        return _error(error, "artifact download")
    if size == 0:
        return Response(b"", status, headers)
    body = artifacts.content(ctx, record, start, end)
    return StreamingResponse(body, status, headers)


def artifact_routes(context: ContextFactory) -> list[Route]:
    """The routes, each building the same per-request context as the GraphQL endpoint."""

    async def put(request: Request) -> Response:
        return await upload(await context(request), request)

    async def get(request: Request) -> Response:
        return await download(await context(request), request)

    path = f"{artifacts.ARTIFACTS_PATH}/{{artifact_id}}"
    return [Route(path, put, methods=["PUT"]), Route(path, get, methods=["GET", "HEAD"])]
