"""The search index's orders (store/search_index.py) stay right while changes arrive between
searches: values changed and removed, runs deleted, ties; each search of one namespace,
paged to the end, against the brute-force evaluation of tests/test_search.py."""

from __future__ import annotations

import asyncio
from typing import Any

from modelbox.search.fields import EXPERIMENT_ATTRIBUTES
from modelbox.search.grammar import parse
from modelbox.search.terms import All, Attribute, Metric, Subject, Term
from tests import test_search_index as small
from tests.api import Api
from tests.test_search import LOG, Run, complete, create, expected, generate, page_through
from tests.test_search_index import DELETE, UPDATE

NAMESPACE = "orders"
RUNS = 30
ORDERS: list[tuple[dict[str, Any], list[tuple[Subject, str]]]] = [
    ({"metric": "val_acc", "direction": "DESC"}, [(Metric("val_acc"), "DESC")]),
    ({"metric": "val_acc", "direction": "ASC"}, [(Metric("val_acc"), "ASC")]),
    (
        {"metric": "loss", "aggregate": "MIN", "direction": "ASC"},
        [(Metric("loss", "MIN"), "ASC")],
    ),
    ({"field": "name", "direction": "ASC"}, [(Attribute("name"), "ASC")]),
    ({"field": "name", "direction": "DESC"}, [(Attribute("name"), "DESC")]),
]
# A range on a hyperparameter: its values are candidates from the index too.
QUERY = "params.lr < 0.01"


async def agree(api: Api, runs: list[Run]) -> None:
    term: Term = parse(QUERY, EXPERIMENT_ATTRIBUTES)
    for order_by, order in ORDERS:
        for query, where in ((None, All(())), (QUERY, term)):
            variables = {"orderBy": [order_by], "query": query}
            names, total = await page_through(api, variables, NAMESPACE)
            assert names == expected(runs, where, order), (order_by, query)
            assert total == len(names)
    newest, _ = await page_through(api, {}, NAMESPACE)
    assert newest == expected(runs, All(()), [])


async def log(api: Api, ids: dict[str, str], run: Run, key: str, value: float) -> None:
    """One more point, after the others: its LAST becomes `value` (MIN and MAX follow)."""
    points = run.metrics.setdefault(key, {"points": []})["points"]  # type: ignore[dict-item]
    points.append(value)  # type: ignore[attr-defined]
    run.metrics[key].update(LAST=value, MIN=min(points), MAX=max(points))  # type: ignore[call-overload]
    series = [{"key": key, "steps": [100 + len(points)], "values": [value]}]  # type: ignore[arg-type]
    await api.ok(LOG, {"input": {"subjectId": ids[run.name], "series": series}})


async def test_orders_stay_right_while_changes_arrive_between_searches(app: Any, api: Api) -> None:
    runs = generate(11)[:RUNS]
    ids = {}
    for run in runs:
        created = await create(api, NAMESPACE, run)
        await complete(api, run, created)
        ids[run.name] = created["id"]
    await agree(api, runs)
    index = app.state.store.search_index
    assert index.size > 0  # the searches above were served by the index, and it stays

    by_name = {run.name: run for run in runs}
    # A value changed to one many others hold (ties), one lacking val_acc given one, one
    # raised from the bottom to the top.
    with_acc = [r for r in runs if "val_acc" in r.metrics]
    without = [r for r in runs if "val_acc" not in r.metrics]
    await log(api, ids, with_acc[0], "val_acc", 0.5)
    await log(api, ids, with_acc[1], "val_acc", 0.99)
    if without:
        await log(api, ids, without[0], "val_acc", 0.1)
    await log(api, ids, with_acc[2], "loss", 0.05)
    await agree(api, runs)

    # A hyperparameter removed (the range no longer holds it), another set.
    for run, params in ((runs[3], {"depth": 18}), (runs[4], {"lr": 0.001})):
        run.hyperparameters = params
        await api.ok(UPDATE, {"input": {"id": ids[run.name], "hyperparameters": params}})
    await agree(api, runs)

    # Runs deleted: the best by val_acc, the first by name, and one lacking values.
    best = max(with_acc, key=lambda r: r.metrics["val_acc"]["LAST"])
    for name in {best.name, min(by_name), runs[-1].name}:
        await api.ok(DELETE, {"id": ids[name]})
        runs.remove(by_name[name])
    await agree(api, runs)
    # A new run between two searches, with a value tied with others.
    run = Run(
        index=RUNS,
        name="zz-new",
        owner="ada",
        status="RUNNING",
        labels={},
        hyperparameters={"lr": 0.001},
    )
    created = await create(api, NAMESPACE, run)
    ids[run.name] = created["id"]
    runs.append(run)
    await log(api, ids, run, "val_acc", 0.5)
    await agree(api, runs)
    assert index.size > 0 and index._stream is not None  # kept current, never dropped


async def test_a_load_holds_no_other_search_and_misses_no_change_made_meanwhile(
    app: Any, api: Api, monkeypatch: Any
) -> None:
    ids = await small.seed(api, "vision", 6)
    assert await small.found(api, "vision") == ["vision-00", "vision-03"]
    index = app.state.store.search_index
    # The database's own read, held once it has read a field's values: what changes after
    # reaches that field only through the changes logged while it loads.
    read, gate, held = index._read_field, asyncio.Event(), asyncio.Event()

    async def read_then_wait(namespace: str, field: str) -> Any:
        rows = await read(namespace, field)
        if field == "m.val_acc.max":
            held.set()
            await gate.wait()
        return rows

    monkeypatch.setattr(index, "_read_field", read_then_wait)
    loading = asyncio.create_task(small.found(api, "vision", "metrics.val_acc.max > 0.8"))
    await asyncio.wait_for(held.wait(), 30)
    await small.log(api, ids["vision-01"], 0.95, 0.1)
    # A search of loaded fields is answered while the load waits, the change in it.
    expected = ["vision-00", "vision-01", "vision-03"]
    assert await asyncio.wait_for(small.found(api, "vision", "metrics.val_acc > 0.8"), 30) == (
        expected
    )
    assert not loading.done()
    gate.set()
    assert await asyncio.wait_for(loading, 30) == expected
    assert ("vision", "m.val_acc.max") in index._fields and not index._loading
