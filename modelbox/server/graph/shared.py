"""One execution per selection for subscription events many subscribers share.

A subscription resolver may yield a payload marked with `shared(...)`: one object handed to
every subscriber that gets the event, whose fields depend on nothing but the object (no
context, no access check below it: the feed checked access before the event was handed
out), except those named `per_caller`: a selection that names one of them anywhere is
executed for each subscriber, as usual. Each distinct selection — the operation's text,
name and variables, less those only the root field's arguments use (which subject, which
keys: the payload already reflects them) — is then executed on it once, and every
subscriber that asked for that selection is sent the same bytes (`SharedData`, encoded
once by `encode_message`).

Where the transport offers it (`OUTLET`, set by web/ for each WebSocket operation), a
subscription resolver can skip the per-subscriber pipeline altogether: `direct_sender`
executes the selection on the shared payload (once, as above) and hands the shared bytes
to the outlet, which writes them to the socket with the operation's id; nothing is
yielded through graphql-core and Strawberry for that event. `live` puts the two together
for a subscription resolver.

This uses graphql-core's documented per-event hook (`Executor.build_per_event_executor`
and `execute_operation`); `tests/test_shared_execution.py` fails loudly if they change.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Mapping
from contextvars import ContextVar
from typing import Any, TypeVar

import orjson
from graphql import (
    ExecutionResult,
    FieldNode,
    ListValueNode,
    ObjectValueNode,
    OperationType,
    ValueNode,
    VariableNode,
    print_ast,
)

from modelbox.server.graph.columnar import ColumnarExecutionContext

T = TypeVar("T")
U = TypeVar("U")
RESULTS = "_modelbox_shared_results"
PER_CALLER = "_modelbox_per_caller"
# Set for the task that runs one subscription operation (each runs in its own task).
_EXECUTOR: ContextVar[SharedExecutionContext | None] = ContextVar("modelbox_executor", default=None)
# Sends a shared result to this operation's subscriber now: True if sent (or no longer
# wanted), False if it cannot be sent without waiting (the usual path then takes it).
OUTLET: ContextVar[Callable[[SharedData], bool] | None] = ContextVar(
    "modelbox_outlet", default=None
)


def shared(payload: T, per_caller: frozenset[str] = frozenset()) -> T:
    """Mark `payload` (one object for all its subscribers) as executed once per selection,
    unless the selection names a field of `per_caller` (resolved with the caller's context)."""
    setattr(payload, RESULTS, {})
    setattr(payload, PER_CALLER, per_caller)
    return payload


def shared_form(
    forms: dict[Any, Any],
    kind: type[T],
    make: Callable[[], T],
    per_caller: frozenset[str] = frozenset(),
) -> T:
    """The `kind` object of a live update, made (and marked `shared`) by the first of its
    subscribers to ask; `forms` is the update's, one for all who receive it."""
    form = forms.get(kind)
    if form is None:
        form = forms[kind] = shared(make(), per_caller)
    return form  # type: ignore[no-any-return]


async def live(
    updates: Callable[[Callable[[U], bool] | None], AsyncIterator[U]], form: Callable[[U], T]
) -> AsyncGenerator[T, None]:
    """A subscription's results: `updates(push)` are turned into objects by `form`, and
    sent straight to the socket by `push` where the transport allows it (`direct_sender`);
    the updates `push` declines, or all without it, are yielded."""
    send = direct_sender()
    push = (lambda update: send(form(update))) if send is not None else None
    async for update in updates(push):
        yield form(update)


class SharedData(dict[str, Any]):
    """The `data` of a result several subscribers receive; its JSON is made once."""

    encoded: bytes | None = None
    # Protocol messages by type (graphql-transport-ws `next`, graphql-ws `data`) and
    # operation id (clients often use the same ids), and what the transport makes of each
    # (its frames, by how they are encoded).
    messages: dict[tuple[str, str], str] | None = None
    frames: dict[tuple[str, str], dict[Any, bytes]] | None = None

    def json(self) -> bytes:
        if self.encoded is None:
            self.encoded = orjson.dumps(self)
        return self.encoded

    def message(self, kind: str, operation_id: str) -> str:
        """`{"id": operation_id, "type": kind, "payload": {"data": ...}}`, as text."""
        if self.messages is None:
            self.messages = {}
        text = self.messages.get((kind, operation_id))
        if text is None:
            head = {"id": operation_id, "type": kind}
            text = self.messages[kind, operation_id] = self._with_head(head).decode()
        return text

    def frames_of(self, kind: str, operation_id: str) -> dict[Any, bytes]:
        """The transport's frames of `message(kind, operation_id)`, for it to fill."""
        if self.frames is None:
            self.frames = {}
        return self.frames.setdefault((kind, operation_id), {})

    def _with_head(self, head: Mapping[str, Any]) -> bytes:
        return orjson.dumps(head)[:-1] + b',"payload":{"data":' + self.json() + b"}}"


def encode_message(message: object) -> bytes:
    """JSON of a response or protocol message, reusing the encoding of shared data."""
    payload = message.get("payload") if isinstance(message, Mapping) else None
    if isinstance(message, Mapping) and isinstance(payload, dict) and len(payload) == 1:
        data = payload.get("data")
        if isinstance(data, SharedData):
            return data._with_head({k: v for k, v in message.items() if k != "payload"})
    return orjson.dumps(message)


def direct_sender() -> Callable[[Any], bool] | None:
    """For a subscription resolver: sends a `shared` payload's result straight to this
    operation's subscriber (True), or declines (False: yield it instead); None when the
    transport offers no such path."""
    executor, outlet = _EXECUTOR.get(), OUTLET.get()
    if executor is None or outlet is None:
        return None

    def send(payload: Any) -> bool:
        data = executor.shared_data(payload)
        return data is not None and outlet(data)

    return send


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
    _fields: frozenset[str] | None = None
    _shared: tuple[dict[Any, Any], Any] | None = None

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Any:
        built = super().build(*args, **kwargs)
        if isinstance(built, SharedExecutionContext) and (
            built.operation.operation == OperationType.SUBSCRIPTION
        ):
            # The operation's resolver runs in this task next: `direct_sender` finds it.
            _EXECUTOR.set(built)
        return built

    def shared_data(self, payload: Any) -> SharedData | None:
        """The shared result of this selection on `payload`, if it has one without waiting
        and without errors (else None: the usual per-subscriber path takes the event)."""
        results = self._results_of(payload)
        if results is None:
            return None
        once = results.get(self.selection_key())
        if once is None:
            pending = self.build_per_event_executor(payload).execute_operation(False)
            if self.is_awaitable(pending):
                # Left to run for whoever needs it next; this caller does not wait.
                if isinstance(pending, Coroutine):
                    pending.close()
                return None
            once = results.get(self.selection_key())
        if isinstance(once, ExecutionResult) and isinstance(once.data, SharedData):
            return once.data
        return None

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        results = self._results_of(payload)
        if results is not None and isinstance(executor, SharedExecutionContext):
            executor._shared = (results, self.selection_key())
        return executor

    def _results_of(self, payload: Any) -> dict[Any, Any] | None:
        """The shared results of `payload`, if this selection's result is shared."""
        results: dict[Any, Any] | None = getattr(payload, RESULTS, None)
        per_caller: frozenset[str] = getattr(payload, PER_CALLER, frozenset())
        if results is None or (per_caller and not per_caller.isdisjoint(self.field_names())):
            return None
        return results

    def field_names(self) -> frozenset[str]:
        """Every field the operation names, at any depth, its fragments' included."""
        if self._fields is None:
            names: set[str] = set()
            sets = [self.operation.selection_set]
            sets += [fragment.definition.selection_set for fragment in self.fragments.values()]
            while sets:
                for selection in sets.pop().selections:
                    if isinstance(selection, FieldNode):
                        names.add(selection.name.value)
                    below = getattr(selection, "selection_set", None)
                    if below is not None:
                        sets.append(below)
            self._fields = frozenset(names)
        return self._fields

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
