"""One execution per selection for subscription events many subscribers share.

A subscription resolver may yield a payload marked with `shared(...)`: one object handed to
every subscriber that gets the event, whose fields depend on nothing but the object (no
context, no access check below it: the feed checked access before the event was handed
out). Each distinct selection — the operation's text, name and variables, less those only
the root field's arguments use (which subject, which keys: the payload already reflects
them) — is then executed on it once, and every subscriber that asked for that selection
is sent the same bytes (`SharedData`, encoded once by `encode_message`).

This uses graphql-core's documented per-event hook (`Executor.build_per_event_executor`
and `execute_operation`); `tests/test_shared_execution.py` fails loudly if they change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, TypeVar

import orjson
from graphql import (
    ExecutionResult,
    FieldNode,
    ListValueNode,
    ObjectValueNode,
    ValueNode,
    VariableNode,
    print_ast,
)

from modelbox.server.graph.columnar import ColumnarExecutionContext

T = TypeVar("T")
RESULTS = "_modelbox_shared_results"


def shared(payload: T) -> T:
    """Mark `payload` (one object for all its subscribers) as executed once per selection."""
    setattr(payload, RESULTS, {})
    return payload


class SharedData(dict[str, Any]):
    """The `data` of a result several subscribers receive; its JSON is made once."""

    encoded: bytes | None = None

    def json(self) -> bytes:
        if self.encoded is None:
            self.encoded = orjson.dumps(self)
        return self.encoded


def encode_message(message: object) -> bytes:
    """JSON of a response or protocol message, reusing the encoding of shared data."""
    payload = message.get("payload") if isinstance(message, Mapping) else None
    if isinstance(message, Mapping) and isinstance(payload, dict) and len(payload) == 1:
        data = payload.get("data")
        if isinstance(data, SharedData):
            head = orjson.dumps({key: value for key, value in message.items() if key != "payload"})
            return head[:-1] + b',"payload":{"data":' + data.json() + b"}}"
    return orjson.dumps(message)


def _variables_in(value: ValueNode) -> set[str]:
    if isinstance(value, VariableNode):
        return {value.name.value}
    if isinstance(value, ListValueNode):
        return set().union(*map(_variables_in, value.values))
    if isinstance(value, ObjectValueNode):
        return set().union(*(_variables_in(f.value) for f in value.fields))
    return set()


class SharedExecutionContext(ColumnarExecutionContext):
    """Executes a shared payload's selection once, for every subscriber that asks for it."""

    _selection: tuple[str, str | None, bytes] | None = None
    _shared: tuple[dict[Any, Any], Any] | None = None

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        results = getattr(payload, RESULTS, None)
        if results is not None and isinstance(executor, SharedExecutionContext):
            executor._shared = (results, self.selection_key())
        return executor

    def selection_key(self) -> tuple[str, str | None, bytes]:
        """What, besides the payload, the result of an event depends on."""
        if self._selection is None:
            operation = self.operation
            text = operation.loc.source.body if operation.loc else print_ast(operation)
            root_only: set[str] = set()
            for selection in operation.selection_set.selections:
                if isinstance(selection, FieldNode):
                    for argument in selection.arguments or ():
                        root_only |= _variables_in(argument.value)
            variables = {
                name: value
                for name, value in self.variable_values.coerced.items()
                if name not in root_only
            }
            name = operation.name.value if operation.name else None
            self._selection = (text, name, orjson.dumps(variables, option=orjson.OPT_SORT_KEYS))
        return self._selection

    def execute_operation(self, serially: bool | None = None) -> Any:
        if self._shared is None:
            return super().execute_operation(serially)
        results, key = self._shared
        once = results.get(key)
        if once is None:
            result = super().execute_operation(serially)
            if self.is_awaitable(result):
                once = results[key] = asyncio.ensure_future(self._execute_once(result))
            else:
                # No resolver below waits (the usual case): shared at once, no task.
                results[key] = self._shareable(result)
                return result
        if isinstance(once, ExecutionResult):
            return self._own_copy(once, serially)
        return self._share(once, serially)

    @staticmethod
    def _shareable(result: Any) -> ExecutionResult:
        assert isinstance(result, ExecutionResult), "subscriptions have no incremental results"
        if not result.errors and result.data is not None:
            result.data = SharedData(result.data)
        return result

    async def _execute_once(self, pending: Any) -> ExecutionResult:
        return self._shareable(await pending)

    def _own_copy(self, result: ExecutionResult, serially: bool | None) -> Any:
        if result.errors:
            # Errors are each subscriber's own to process: no sharing then.
            return super().execute_operation(serially)
        return ExecutionResult(data=result.data)

    async def _share(
        self, once: asyncio.Future[ExecutionResult], serially: bool | None
    ) -> ExecutionResult:
        # Shielded: the first subscriber leaving must not cancel the others' result.
        own = self._own_copy(await asyncio.shield(once), serially)
        result = await own if self.is_awaitable(own) else own
        assert isinstance(result, ExecutionResult)
        return result
