"""Errors: unexpected ones are masked and logged; subscriptions need a stream."""

from __future__ import annotations

import logging

import pytest
from graphql import GraphQLError

from modelbox.server.errors import NotFound
from modelbox.server.graph.errors import MASKED_MESSAGE, with_codes
from tests.api import Api


def test_unexpected_errors_are_masked_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    secret = RuntimeError("connection string mongodb://user:pw@db")
    with caplog.at_level(logging.ERROR, logger="modelbox.server.errors"):
        [masked, kept] = with_codes(
            [
                GraphQLError("connection string mongodb://user:pw@db", original_error=secret),
                GraphQLError(
                    "model does not exist", original_error=NotFound("model does not exist")
                ),
            ]
        )
    assert masked.message == MASKED_MESSAGE
    assert masked.extensions == {"code": "INTERNAL_SERVER_ERROR"}
    assert "pw@db" in caplog.text, "the real error is in the server log"
    assert kept.extensions == {"code": "NOT_FOUND"}
    assert kept.message == "model does not exist"


async def test_a_subscription_sent_as_a_plain_request_is_refused_by_name(api: Api) -> None:
    body = await api.post('subscription { namespaceChanges(namespace: "x") { type } }')
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "WebSocket" in error["message"]
