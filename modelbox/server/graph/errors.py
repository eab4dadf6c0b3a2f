"""Every error a client sees carries `extensions.code`; unexpected ones are masked."""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from modelbox.server.errors import BadUserInput, ModelBoxError

log = logging.getLogger("modelbox.server.errors")

MASKED_MESSAGE = "Internal server error"


def _code(error: GraphQLError) -> str | None:
    original = error.original_error
    if isinstance(original, ModelBoxError):
        # A DatabaseError is a failure, not an answer: masked and logged like any other.
        return None if original.code == ModelBoxError.code else original.code
    if original is None:
        # Syntax and validation errors (including the query limits) are the client's to fix.
        return BadUserInput.code
    if error.path is None and isinstance(original, (GraphQLError, ValueError)):
        # A variable a scalar refused before execution (an Int over 32 bits, bad Base64).
        return BadUserInput.code
    return None


def _replaced(error: GraphQLError, message: str, extensions: dict[str, object]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )


def needs_masking(error: GraphQLError) -> bool:
    """True for an unexpected error; any other gets its `extensions.code` here. Idempotent."""
    if "code" in (error.extensions or {}):
        return False
    code = _code(error)
    if code is None:
        return True
    error.extensions = {**(error.extensions or {}), "code": code}
    return False


def _masked(error: GraphQLError) -> GraphQLError:
    log.error("unexpected error at %s", error.path, exc_info=error.original_error)
    return _replaced(error, MASKED_MESSAGE, {"code": "INTERNAL_SERVER_ERROR"})


def with_codes(errors: list[GraphQLError]) -> list[GraphQLError]:
    """Give each error its `extensions.code`, masking unexpected ones; idempotent."""
    return [_masked(error) if needs_masking(error) else error for error in errors]


class ErrorCodes(MaskErrors):
    """Codes (and masking) for errors raised while executing operations and subscriptions."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=needs_masking, error_message=MASKED_MESSAGE)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        # Logged, and coded INTERNAL_SERVER_ERROR like every error a client sees.
        return _masked(error)
