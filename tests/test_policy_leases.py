"""Retention leases on the real database: one holder at a time, reruns asked for are kept."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bson import ObjectId

from modelbox.server.store import Store
from modelbox.server.store.records import now

MINUTE = timedelta(minutes=1)


async def test_one_process_holds_a_policys_lease_and_a_rerun_asked_meanwhile_is_kept(
    store: Store,
) -> None:
    leases, policy = store.policy_leases, str(ObjectId())
    assert await leases.take(policy, "a", MINUTE)
    assert not await leases.take(policy, "b", MINUTE), "never two runs of one policy at once"
    assert await leases.ask_rerun(policy)
    started = now()
    assert await leases.release(policy, "a", started), "the holder is told to run again"
    assert await leases.take(policy, "b", MINUTE)
    assert not await leases.release(policy, "b", now()), "no rerun asked this time"
    assert not await leases.ask_rerun(policy), "nobody runs it now"


async def test_a_scheduled_run_waits_for_the_interval_after_the_last_run(store: Store) -> None:
    leases, policy = store.policy_leases, str(ObjectId())
    ran = now()
    assert await leases.take(policy, "a", MINUTE, ran_before=ran)
    await leases.release(policy, "a", ran)
    assert not await leases.take(policy, "b", MINUTE, ran_before=ran - MINUTE), "ran recently"
    assert await leases.take(policy, "b", MINUTE, ran_before=ran + MINUTE)


async def test_a_lease_whose_holder_died_expires(store: Store) -> None:
    leases, policy = store.policy_leases, str(ObjectId())
    assert await leases.take(policy, "dead", timedelta(milliseconds=1))
    await asyncio.sleep(0.01)
    assert await leases.take(policy, "alive", MINUTE)
