"""Every error a client sees carries `extensions.code`; unexpected ones are masked."""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from modelbox.errors import BadUserInput, ModelBoxError

log = logging.getLogger("modelbox.errors")

MASKED_MESSAGE = "Internal server error"


def _code(error: GraphQLError) -> str | None:
    original = error.original_error
    if isinstance(original, ModelBoxError):
        return original.code
    if original is None:
        # Syntax and validation errors (including the query limits) are the client's to fix.
        return BadUserInput.code
    return None


class ErrorCodes(MaskErrors):
    """Adds `extensions.code`; anything not raised on purpose is logged and masked."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda error: _code(error) is None)

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        processed: list[GraphQLError] = []
        for error in errors:
            code = _code(error)
            if code is None:
                log.error("unexpected error at %s", error.path, exc_info=error.original_error)
                error = self.anonymise_error(error)
                error.message = MASKED_MESSAGE
                code = "INTERNAL_SERVER_ERROR"
            error.extensions = {**(error.extensions or {}), "code": code}
            processed.append(error)
        return processed
