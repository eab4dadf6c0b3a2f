"""Every error the client raises: one tree under `ModelBoxError`.

`APIError` and its subclasses are the server's GraphQL errors, one class per
`extensions.code`; `TransportError` is a server that could not be reached or answered
garbage, and is what the background sender retries.
"""

from __future__ import annotations

from typing import Any


class ModelBoxError(Exception):
    """Base of every error the ModelBox client raises."""


class ConfigError(ModelBoxError):
    """No server URL or token, or a config file that cannot be read."""


class TransportError(ModelBoxError):
    """The server could not be reached, timed out, or answered something not GraphQL."""


class IntegrityError(ModelBoxError):
    """Bytes downloaded or uploaded do not match their sha256."""


class APIError(ModelBoxError):
    """An error the server reported, with its `extensions.code`."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, code: str | None = None, errors: list[Any] | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or type(self).code
        self.errors = errors or []

    def __str__(self) -> str:
        return f"{self.message} ({self.code})"


class BadUserInput(APIError):
    code = "BAD_USER_INPUT"


class NotFound(APIError):
    code = "NOT_FOUND"


class Conflict(APIError):
    code = "CONFLICT"


class Unauthenticated(APIError):
    code = "UNAUTHENTICATED"


class Forbidden(APIError):
    code = "FORBIDDEN"


class PayloadTooLarge(APIError):
    code = "PAYLOAD_TOO_LARGE"


class ServerError(APIError):
    """INTERNAL_SERVER_ERROR or an HTTP 5xx: worth retrying later."""


_BY_CODE: dict[str, type[APIError]] = {
    cls.code: cls
    for cls in (BadUserInput, NotFound, Conflict, Unauthenticated, Forbidden, PayloadTooLarge)
}


def api_error(errors: list[dict[str, Any]]) -> APIError:
    """The exception for a GraphQL `errors` list: the first error's code and message."""
    first = errors[0] if errors else {}
    code = (first.get("extensions") or {}).get("code") or "INTERNAL_SERVER_ERROR"
    message = "; ".join(str(e.get("message", "")) for e in errors) or "unknown error"
    return _BY_CODE.get(code, ServerError)(message, code, errors)
