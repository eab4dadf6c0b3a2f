"""Policies at work inside each API process, driven by the process's one change stream.

Every process sees every change and evaluates it; the store makes each decision once
(see `store/policies/evaluations.py`). The enabled policies are kept in memory, updated
from the same stream in its order, so a change is only queued when some policy cares
about it. Changes to one subject are evaluated in order; different subjects side by
side, a bounded number at a time. Retention also runs on a schedule, under a lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from modelbox.server.config import Settings
from modelbox.server.errors import NotFound
from modelbox.server.resolvers.policies.decide import Decider, Trigger, actor_of, in_scope
from modelbox.server.resolvers.policies.webhooks import Webhooks
from modelbox.server.store import Change, Record, Store
from modelbox.server.store.policies import PolicyRecord, policy_record
from modelbox.server.store.records import now

log = logging.getLogger(__name__)

# A version change that can change a LABELING decision (aliases move as its effect).
LABELING_FIELDS = frozenset({"metrics", "labels", "datasets"})
CONCURRENCY = 16
# Large: a burst of writes must not drop the engine as a slow subscriber would be.
QUEUE = 100_000
# After the stream was lost: subjects created from a little before the last change seen
# (API processes' clocks differ) are caught up, at most this many of each kind.
SKEW = timedelta(seconds=5)
CATCH_UP = 1000
SUBJECT_TYPES = {"checkpoints": "Checkpoint", "model_versions": "ModelVersion"}


class PolicyEngine:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.interval = settings.policy_interval
        self.webhooks = Webhooks(store, settings)
        self.decider = Decider(store, self.webhooks, settings.policy_interval)
        self.collections = frozenset(
            {store.policies.collection_name, store.artifacts.collection_name, *SUBJECT_TYPES}
        )
        self._by_namespace: dict[str, dict[str, PolicyRecord]] = {}
        # Policy changes seen while the policies are first read; applied after that read.
        self._pending: list[Change] | None = None
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._chains: dict[str, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._seen_at = now()  # when the stream last handed over a change, or opened

    async def start(self) -> None:
        ready = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._follow(ready), name="modelbox-policies"),
            asyncio.create_task(self._schedule(), name="modelbox-policy-schedule"),
        ]
        await ready.wait()

    async def stop(self) -> None:
        for task in [*self._tasks, *self._chains.values()]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._chains.values(), return_exceptions=True)
        await self.webhooks.close()

    async def _follow(self, ready: asyncio.Event) -> None:
        lost_since: datetime | None = None
        while True:
            try:
                self._pending = []
                async with self.store.changes.subscribe(
                    self.collections, self._match, QUEUE
                ) as feed:
                    await self._load()
                    self._seen_at = now()
                    ready.set()
                    if lost_since is not None:
                        await self._catch_up(lost_since - SKEW)
                        lost_since = None
                    async for change in feed:
                        self._dispatch(change)
            except Exception as error:
                ready.set()
                # Changes from the last one seen on may never have reached this process.
                lost_since = lost_since or self._seen_at
                log.error("policies stopped following changes (%r); starting again", error)
                await asyncio.sleep(1.0)

    async def _catch_up(self, since: datetime) -> None:
        """Checkpoints and versions created while the stream was down, that no process has
        evaluated for a policy, are evaluated now; records stay one per (policy, subject,
        state) and applied ones one per (policy, subject), as for live changes."""
        policies = [p for ps in self._by_namespace.values() for p in ps.values()]
        sources = (
            ("PROMOTION", self.store.checkpoints, "Checkpoint", self.decider.promotion),
            ("LABELING", self.store.versions, "ModelVersion", self.decider.labeling),
        )
        for kind, subjects, subject_type, decide in sources:
            relevant = [p for p in policies if p["kind"] == kind]
            if not relevant:
                continue
            namespaces = sorted({p["namespace"] for p in relevant})
            found = await self.store.policy_actions.created_since(
                subjects, namespaces, since, CATCH_UP
            )
            if len(found) == CATCH_UP:
                log.warning("%s catch-up stops at %d subjects: run evaluatePolicy", kind, CATCH_UP)
            done = await self.store.policy_evaluations.evaluated(
                [p["id"] for p in relevant], [s["id"] for s in found]
            )
            for subject in found:
                trigger = Trigger("RESUME", subject["updated_at"].isoformat())
                work: list[Callable[[], Awaitable[Any]]] = [
                    partial(decide, policy, subject, trigger)
                    for policy in relevant
                    if (policy["id"], subject["id"]) not in done
                    and in_scope(policy, subject_type, subject)
                ]
                self._enqueue(subject["id"], work)

    async def _load(self) -> None:
        self._by_namespace = {}
        for policy in await self.store.policies.enabled():
            self._by_namespace.setdefault(policy["namespace"], {})[policy["id"]] = policy
        pending, self._pending = self._pending or [], None
        for change in pending:
            self._apply(change)

    def _apply(self, change: Change) -> None:
        for policies in self._by_namespace.values():
            policies.pop(change.document_id, None)
        if change.document is not None and change.document.get("enabled"):
            policy = policy_record(change.document)
            self._by_namespace.setdefault(policy["namespace"], {})[policy["id"]] = policy

    def _match(self, change: Change) -> bool:
        """Runs in the stream's order for every change: policies are kept up to date here."""
        self._seen_at = now()
        if change.collection == self.store.policies.collection_name:
            if self._pending is not None:
                self._pending.append(change)
            else:
                self._apply(change)
            return False
        return self._pending is not None or bool(self._work(change))

    def _work(self, change: Change) -> list[Callable[[], Awaitable[Any]]]:
        """What to evaluate for `change`: cheap, no I/O."""
        document = change.document
        if document is None or change.operation not in ("insert", "update", "replace"):
            return []
        policies = self._by_namespace.get(document.get("namespace") or "", {})
        if not policies:
            return []
        if change.collection == self.store.artifacts.collection_name:
            return self._artifact_work(change, document, policies)
        subject_type = SUBJECT_TYPES[change.collection]
        inserted = change.operation == "insert"
        trigger = Trigger("CHANGE", document["updated_at"].isoformat())
        work: list[Callable[[], Awaitable[Any]]] = []
        for policy in policies.values():
            if not in_scope(policy, subject_type, document):
                continue
            kind = policy["kind"]
            if kind == "PROMOTION" and (inserted or "metrics" in change.updated):
                work.append(partial(self.decider.promotion, policy, document, trigger))
            elif kind == "LABELING" and (inserted or LABELING_FIELDS & change.updated):
                work.append(partial(self.decider.labeling, policy, document, trigger))
            elif kind == "RETENTION" and inserted:
                work.append(partial(self.decider.retention, policy, Trigger("CHANGE")))
        return work

    def _artifact_work(
        self, change: Change, artifact: Record, policies: dict[str, PolicyRecord]
    ) -> list[Callable[[], Awaitable[Any]]]:
        """A checkpoint's artifact became available: versions promoted from it get it too."""
        if artifact.get("subject_type") != "Checkpoint" or artifact.get("state") != "AVAILABLE":
            return []
        if change.operation == "update" and "state" not in change.updated:
            return []
        if not any(p["kind"] == "PROMOTION" for p in policies.values()):
            return []
        return [lambda: self._attach(artifact["subject_id"])]

    async def _attach(self, checkpoint_id: str) -> None:
        for version in await self.store.policy_actions.promoted_from(checkpoint_id):
            policy = await self.store.policies.get(version["promoted_by"])
            actor = actor_of(policy)
            # A version or checkpoint deleted meanwhile takes nothing more.
            with contextlib.suppress(NotFound):
                await self.store.policy_actions.attach_artifacts(actor, checkpoint_id, version)

    def _dispatch(self, change: Change) -> None:
        self._enqueue(change.document_id, self._work(change))

    def _enqueue(self, key: str, work: list[Callable[[], Awaitable[Any]]]) -> None:
        """Run `work` after whatever is queued for the same subject."""
        if not work:
            return
        previous = self._chains.get(key)
        task = asyncio.create_task(self._run(previous, work))
        self._chains[key] = task
        task.add_done_callback(
            lambda t: self._chains.pop(key, None) if self._chains.get(key) is t else None
        )

    async def _run(
        self, previous: asyncio.Task[None] | None, work: list[Callable[[], Awaitable[Any]]]
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        async with self._slots:
            for step in work:
                try:
                    await step()
                except Exception:
                    # One policy failing never stops the others, nor the engine.
                    log.exception("a policy evaluation failed")

    async def _schedule(self) -> None:
        """Retention on the clock: each due policy, by whichever process takes its lease."""
        tick = max(0.2, self.interval / 4)
        while True:
            await asyncio.sleep(tick)
            retention = [
                p
                for ps in self._by_namespace.values()
                for p in ps.values()
                if p["kind"] == "RETENTION"
            ]
            for policy in retention:
                try:
                    await self.decider.retention(policy, Trigger("SCHEDULE"))
                except Exception:
                    log.exception("a scheduled retention run of %s failed", policy["name"])
