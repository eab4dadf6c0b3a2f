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
        return original.code
    if original is None:
        # Syntax and validation errors (including the query limits) are the client's to fix.
        return BadUserInput.code
    if error.path is None and isinstance(original, (GraphQLError, ValueError)):
        # A variable a scalar refused before execution (an Int over 32 bits, bad Base64).
        return BadUserInput.code
    return None


def _masked(error: GraphQLError) -> GraphQLError:
    log.error("unexpected error at %s", error.path, exc_info=error.original_error)
    return GraphQLError(
        MASKED_MESSAGE,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={"code": "INTERNAL_SERVER_ERROR"},
    )


def with_codes(errors: list[GraphQLError]) -> list[GraphQLError]:
    """Give each error its `extensions.code`, masking unexpected ones; idempotent."""
    processed: list[GraphQLError] = []
    for error in errors:
        if "code" not in (error.extensions or {}):
            code = _code(error)
            if code is None:
                error = _masked(error)
            else:
                error.extensions = {**(error.extensions or {}), "code": code}
        processed.append(error)
    return processed


class ErrorCodes(MaskErrors):
    """Codes (and masking) for errors raised while executing operations and subscriptions."""

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return with_codes(errors)
