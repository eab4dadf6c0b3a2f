"""graph/shared.py: a shared subscription event is executed once per selection, sent as one
encoding; and the graphql-core hooks it overrides are still the ones it overrides."""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import AsyncGenerator
from typing import Any

import orjson
import strawberry
from graphql.execution.executor import Executor

from modelbox.server.graph.shared import SharedData, SharedExecutionContext, encode_message, shared

calls: list[str] = []


@strawberry.type
class Update:
    key: str

    @strawberry.field
    def value(self) -> float:
        calls.append(self.key)
        return 0.5


@strawberry.type
class Query:
    ok: bool = True


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def updates(self, info: strawberry.Info, subject: str) -> AsyncGenerator[Update, None]:
        events: asyncio.Queue[Update] = info.context["events"]
        while True:
            yield await events.get()


schema = strawberry.Schema(
    query=Query, subscription=Subscription, execution_context_class=SharedExecutionContext
)


async def next_result(stream: Any) -> Any:
    async with asyncio.timeout(5):
        return await anext(stream)


async def test_one_execution_per_selection_and_one_encoding_for_all_who_share_it() -> None:
    same = "subscription($s: String!) { updates(subject: $s) { key value } }"
    other = "subscription($s: String!) { updates(subject: $s) { value } }"
    queues: list[asyncio.Queue[Update]] = []
    streams = []
    for query, subject in ((same, "a"), (same, "b"), (same, "c"), (other, "a")):
        events: asyncio.Queue[Update] = asyncio.Queue()
        queues.append(events)
        context = {"events": events}
        streams.append(
            await schema.subscribe(query, variable_values={"s": subject}, context_value=context)
        )
    calls.clear()
    update = shared(Update(key="loss"))
    for queue in queues:
        queue.put_nowait(update)
    results = [await next_result(stream) for stream in streams]
    # Three subscribers asked for the same selection (subjects aside): executed once; the
    # fourth asked for another one: executed once more.
    assert calls == ["loss", "loss"]
    first, second, third, fourth = (result.data for result in results)
    assert first is second is third and isinstance(first, SharedData)
    assert first == {"updates": {"key": "loss", "value": 0.5}}
    assert fourth == {"updates": {"value": 0.5}}
    message = {"id": "7", "type": "next", "payload": {"data": first}}
    assert orjson.loads(encode_message(message)) == message
    assert encode_message(message).endswith(first.json() + b"}}")

    # An update not marked shared is executed for each subscriber, as usual.
    calls.clear()
    for queue in queues:
        queue.put_nowait(Update(key="own"))
    for stream in streams:
        await next_result(stream)
    assert calls == ["own"] * 4
    for stream in streams:
        await stream.aclose()


def test_the_graphql_core_hooks_overridden_are_unchanged() -> None:
    # Pinned in pyproject.toml (tests/test_columnar_pin.py checks the pins); if an upgrade
    # renames or stops calling these, sharing would silently stop: this fails instead.
    assert list(inspect.signature(Executor.build_per_event_executor).parameters) == [
        "self",
        "payload",
    ]
    assert list(inspect.signature(Executor.execute_operation).parameters) == ["self", "serially"]
    graphql_execute = importlib.import_module("graphql.execution.execute")
    source = inspect.getsource(graphql_execute.map_source_to_response_event)
    assert "build_per_event_executor" in source
    assert "execute_operation" in inspect.getsource(graphql_execute.execute_subscription_event)
