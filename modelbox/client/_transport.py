"""GraphQL over HTTP with httpx: one connection pool, errors turned into the client's tree."""

from __future__ import annotations

import json
import random
from typing import Any

import httpx

from modelbox.client._exceptions import (
    APIError,
    ServerError,
    TransportError,
    Unauthenticated,
    api_error,
)

USER_AGENT = "modelbox-python/0.1"
TIMEOUT = httpx.Timeout(30.0, connect=5.0)


def backoff(attempt: int, base: float = 0.2, cap: float = 5.0) -> float:
    """Seconds to wait before retry `attempt` (0-based): exponential, full jitter, so that
    many clients retrying after one outage do not all arrive at once."""
    return random.uniform(0, min(cap, base * 2**attempt))


def retryable(error: Exception) -> bool:
    """A failure that may pass by itself: the server down, restarting or overloaded."""
    return isinstance(error, TransportError | ServerError)


class Transport:
    def __init__(self, url: str, token: str | None, timeout: httpx.Timeout = TIMEOUT) -> None:
        self.url = url
        self.token = token
        headers = {"User-Agent": USER_AGENT}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(base_url=url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of one operation; raises APIError for errors the server reports."""
        body = json.dumps({"query": query, "variables": variables or {}}, allow_nan=False)
        return self.post(body.encode())

    def post(self, body: bytes) -> dict[str, Any]:
        """The `data` of a request body already encoded as JSON."""
        try:
            response = self.http.post(
                "/graphql", content=body, headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as error:
            raise TransportError(f"{self.url}: {type(error).__name__}: {error}") from None
        return self.answer(response)

    @staticmethod
    def answer(response: httpx.Response) -> dict[str, Any]:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if isinstance(payload, dict) and payload.get("errors"):
            raise api_error(payload["errors"])
        if response.status_code >= 500:
            raise ServerError(f"HTTP {response.status_code}", "INTERNAL_SERVER_ERROR")
        if response.status_code == 401:
            raise Unauthenticated(f"HTTP 401 from {response.url}")
        if response.status_code >= 400:
            raise APIError(f"HTTP {response.status_code} from {response.url}")
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
            raise TransportError(f"not a GraphQL answer (HTTP {response.status_code})")
        return payload["data"]
