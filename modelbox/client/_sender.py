"""The background sender: sends a run's spooled ops in order, retrying a server that is
down or failing with backoff and jitter; `sync_spool` sends what a run left behind."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from modelbox.client import _spool
from modelbox.client._exceptions import (
    APIError,
    BadUserInput,
    Conflict,
    Forbidden,
    ModelBoxError,
    Unauthenticated,
)
from modelbox.client._transport import Transport, backoff, retryable

logger = logging.getLogger("modelbox")

LOG_METRICS = (
    "mutation($input: LogMetricsInput!) { logMetrics(input: $input) { accepted duplicate } }"
)
LOG_EVENTS = "mutation($input: LogEventsInput!) { logEvents(input: $input) { id } }"
UPDATE = "mutation($input: UpdateExperimentInput!) { updateExperiment(input: $input) { id } }"
QUERIES = {_spool.METRICS: LOG_METRICS, _spool.EVENTS: LOG_EVENTS, _spool.UPDATE: UPDATE}


def _body(subject_id: str, op: _spool.Op) -> bytes:
    """The request for an op, its JSON payload pasted in without decoding it again."""
    if op.kind == _spool.UPDATE:  # an update's payload is the changes object: merged with the id
        return json.dumps(
            {"query": UPDATE, "variables": {"input": {"id": subject_id, **json.loads(op.payload)}}}
        ).encode()
    # The op's id is the idempotency key: a request resent after a lost answer logs once.
    column = "series" if op.kind == _spool.METRICS else "events"
    fields = f'"subjectId":{json.dumps(subject_id)},"idempotencyKey":{json.dumps(op.op_id)}'
    return (
        f'{{"query":{json.dumps(QUERIES[op.kind])},'
        f'"variables":{{"input":{{{fields},"{column}":{op.payload}}}}}}}'
    ).encode()


def _about_key(error: APIError) -> bool:
    """The server refused the op's idempotency key (used before with another batch)."""
    return any(e.get("extensions", {}).get("field") == "idempotencyKey" for e in error.errors)


def send_op(transport: Transport, subject_id: str, op: _spool.Op) -> None:
    """Send one op; a metrics op the server refuses is retried one series at a time, so
    one bad key (a kind clash, say) costs only its own points. An op whose id the server
    knows for another batch is refused as it is: resent under new keys, it would log twice."""
    try:
        transport.post(_body(subject_id, op))
    except (BadUserInput, Conflict) as error:
        if op.kind != _spool.METRICS or _about_key(error):
            raise
        series = json.loads(op.payload)
        if len(series) < 2:
            raise
        refused: list[str] = []
        for i, one in enumerate(series):
            try:
                transport.post(
                    _body(subject_id, _spool.Op(op.kind, f"{op.op_id}/{i}", json.dumps([one])))
                )
            except (BadUserInput, Conflict) as error:
                refused.append(f"{one['key']}: {error}")
        if refused:
            raise BadUserInput("; ".join(refused)) from None


@dataclass
class Outcome:
    sent: int = 0
    refused: list[str] = field(default_factory=list)


def deliver(
    transport: Transport,
    subject_id: str,
    op: _spool.Op,
    acks: _spool.Acks,
    outcome: Outcome,
    give_up: Callable[[int], bool],
    wait: Callable[[float], bool],
) -> bool:
    """Send `op` until it is confirmed or refused for good (both acked); False if
    `give_up(attempt)` said to stop first. `wait(seconds)` returns True to stop waiting.
    A token refused (UNAUTHENTICATED, FORBIDDEN) is raised: the op stays in the spool for
    `modelbox sync` with a token that works."""
    attempt = 0
    while True:
        try:
            send_op(transport, subject_id, op)
        except (Unauthenticated, Forbidden):
            raise
        except ModelBoxError as error:
            if not retryable(error):
                note = error.code if isinstance(error, APIError) else type(error).__name__
                logger.warning("ModelBox refused %s %s: %s", op.kind, op.op_id, error)
                outcome.refused.append(str(error))
                acks.add(op.op_id, f"refused {note}")
                return True
            logger.debug("ModelBox: %s %s not sent (%s), retrying", op.kind, op.op_id, error)
            if give_up(attempt) or wait(backoff(attempt)):
                return False
            attempt += 1
            continue
        logger.debug("ModelBox: %s %s sent", op.kind, op.op_id)
        acks.add(op.op_id)
        outcome.sent += 1
        return True


class Sender(threading.Thread):
    """Tails a run's spool and sends each op as it appears, until the run closes it."""

    def __init__(self, transport: Transport, subject_id: str, path: Path) -> None:
        super().__init__(name="modelbox-sender", daemon=True)
        self.transport = transport
        self.subject_id = subject_id
        self.path = path
        self.wake = threading.Event()
        self.closing = threading.Event()  # the writer wrote its last op
        self.abandoned = threading.Event()  # finish's time is up: stop at once
        self.outcome = Outcome()
        self.refused_token: ModelBoxError | None = None

    def _wait(self, seconds: float) -> bool:
        return self.abandoned.wait(seconds)

    def run(self) -> None:
        tail, acks = _spool.Tail(self.path), _spool.Acks(self.path)
        try:
            while not self.abandoned.is_set():
                op = tail.next()
                if op is None:
                    if self.closing.is_set():
                        # Everything was written before `closing`; one more look, then done.
                        if (op := tail.next()) is None:
                            return
                    else:
                        self.wake.wait(0.5)
                        self.wake.clear()
                        continue
                if op.kind == _spool.HEADER:
                    continue
                try:
                    done = deliver(
                        self.transport,
                        self.subject_id,
                        op,
                        acks,
                        self.outcome,
                        lambda _: self.abandoned.is_set(),
                        self._wait,
                    )
                except (Unauthenticated, Forbidden) as error:
                    logger.error(
                        "ModelBox refused the token (%s); points stay in %s", error, self.path
                    )
                    self.refused_token = error
                    return
                if not done:
                    return
        finally:
            tail.close()
            acks.close()


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False


def sync_spool(
    path: Path, transport_for: Callable[[str], Transport], deadline: float | None = None
) -> tuple[Outcome, int]:
    """Send every unconfirmed op of a spool left by a run; (outcome, ops still unsent).
    The spool is removed once nothing is left. Raises RuntimeError if a run still writes it."""
    with open(path, "rb") as lock:
        if not _spool.try_lock(lock):
            raise RuntimeError(f"{path.name} belongs to a run that is still going")
        head = _spool.header(path)
        transport = transport_for(head["url"])
        ops = list(_spool.pending(path))
        outcome, acks = Outcome(), _spool.Acks(path)
        try:
            for index, op in enumerate(ops):

                def give_up(attempt: int) -> bool:
                    late = deadline is not None and time.monotonic() > deadline
                    return late or attempt >= 8

                if not deliver(
                    transport,
                    head["subjectId"],
                    op,
                    acks,
                    outcome,
                    give_up,
                    _sleep,
                ):
                    return outcome, len(ops) - index
        finally:
            acks.close()
            transport.close()
    _spool.remove(path)
    return outcome, 0
