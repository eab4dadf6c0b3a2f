"""What every part of `Client` stands on: the connection, GraphQL, and paging."""

from __future__ import annotations

import math
from collections.abc import Iterator
from types import TracebackType
from typing import Any, Self

from modelbox.client._config import credentials
from modelbox.client._exceptions import ConfigError, NotFound
from modelbox.client._transport import Transport

PAGE_SIZE = 100


def key_values(values: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Metrics as the API's `[{key, value}]`; NaN and infinities are refused before
    sending, as JSON cannot carry them to the API's Float."""
    found = {k: float(v) for k, v in (values or {}).items()}
    for key, value in found.items():
        if not math.isfinite(value):
            raise ValueError(f"metric {key!r} is {value}: it must be finite")
    return [{"key": k, "value": v} for k, v in found.items()]


def split_path(ref: str, what: str) -> tuple[str, str]:
    namespace, _, name = ref.partition("/")
    if not namespace or not name:
        raise ConfigError(f"{ref!r} is neither an id nor namespace/{what}")
    return namespace, name


class Base:
    """The connection `Client`'s parts share."""

    def __init__(self, url: str | None = None, token: str | None = None) -> None:
        found = credentials(url, token)
        self.url, self.token = found.url, found.token
        self.transport = Transport(self.url, self.token)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        """Any GraphQL operation; its `data`."""
        return self.transport.graphql(query, variables)

    def _found(self, found: Any, what: str) -> dict[str, Any]:
        """An object the API answered, or NotFound naming what was asked for."""
        if not found:
            raise NotFound(f"no {what} (or not yours to read)")
        return dict(found)

    def _mutate(self, query: str, field: str, **input: Any) -> dict[str, Any]:
        """What the mutation `field` answers to `input`."""
        return dict(self.graphql(query, input=input)[field])

    def _pages(
        self, query: str, path: list[str], limit: int | None = None, **variables: Any
    ) -> Iterator[dict[str, Any]]:
        """The nodes of a connection at `path` in the answer, page after page."""
        after, seen = None, 0
        while True:
            data: Any = self.graphql(query, first=PAGE_SIZE, after=after, **variables)
            for step in path:
                data = (data or {}).get(step)
            if data is None:
                return
            for edge in data["edges"]:
                yield edge["node"]
                seen += 1
                if limit is not None and seen >= limit:
                    return
            if not data["pageInfo"]["hasNextPage"]:
                return
            after = data["pageInfo"]["endCursor"]
