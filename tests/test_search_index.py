"""The process's search index (store/search_index.py): a write acknowledged, in this process
or another, is found by the very next search; a broken stream leaves searches to the other
plans until the index is built again; another namespace's runs never appear."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelbox.server.config import Settings
from modelbox.server.store import indexed, search_index
from modelbox.server.web.app import create_app
from tests.api import ADMIN_TOKEN, Api
from tests.live import running
from tests.restarts import kill_and_restart, own_database
from tests.test_changes import retried
from tests.test_search import IN_NAMESPACE, LOG, SEARCH

THREE = "metrics.val_acc > 0.8 and params.optimizer = 'adam' and metrics.loss < 0.5"
BY_NAME = [{"field": "name", "direction": "ASC"}]
UPDATE = """mutation($input: UpdateExperimentInput!) { updateExperiment(input: $input) { id } }"""
DELETE = """mutation($id: ID!) { deleteExperiment(input: {id: $id}) { deletedId } }"""
STEPS = itertools.count()


async def log(api: Api, run_id: str, val_acc: float, loss: float) -> None:
    # Each at a later step than the one before: the run's last value becomes this one.
    step = [next(STEPS)]
    series = [
        {"key": "val_acc", "steps": step, "values": [val_acc]},
        {"key": "loss", "steps": step, "values": [loss]},
    ]
    await api.ok(LOG, {"input": {"subjectId": run_id, "series": series}})


async def seed(api: Api, namespace: str, n: int) -> dict[str, str]:
    """`n` runs, every third one matching THREE; their ids by name."""
    ids = {}
    for i in range(n):
        name = f"{namespace}-{i:02d}"
        run = await api.create_experiment(
            namespace, name, hyperparameters={"optimizer": "adam" if i % 3 == 0 else "sgd"}
        )
        await log(api, run["id"], 0.9 if i % 3 == 0 else 0.5, 0.2)
        ids[name] = run["id"]
    return ids


async def found(
    api: Api, namespace: str, query: str = THREE, counted: bool = True, **extra: Any
) -> list[str]:
    # Without totalCount, one search a request: counting is a search of the index too.
    search = IN_NAMESPACE if counted else IN_NAMESPACE.replace("totalCount ", "")
    data = await api.ok(search, {"ns": namespace, "query": query, "orderBy": BY_NAME, **extra})
    return [edge["node"]["name"] for edge in data["namespace"]["experiments"]["edges"]]


async def test_a_write_is_found_by_the_next_search_in_the_same_process(app: Any, api: Api) -> None:
    ids = await seed(api, "vision", 9)
    assert await found(api, "vision") == ["vision-00", "vision-03", "vision-06"]
    index = app.state.store.search_index
    assert index.size > 0  # the search above loaded it: what follows is kept current

    # A run's metric now matches; another's stops matching; each seen at once.
    await log(api, ids["vision-01"], 0.95, 0.1)
    await api.ok(
        UPDATE, {"input": {"id": ids["vision-01"], "hyperparameters": {"optimizer": "adam"}}}
    )
    await log(api, ids["vision-03"], 0.95, 0.7)
    assert await found(api, "vision") == ["vision-00", "vision-01", "vision-06"]
    # New runs (one sorting first by name), a deleted one, a hyperparameter replaced.
    first = await api.create_experiment("vision", "a-first", hyperparameters={"optimizer": "adam"})
    await log(api, first["id"], 0.99, 0.01)
    await api.ok(DELETE, {"id": ids["vision-06"]})
    await api.ok(
        UPDATE, {"input": {"id": ids["vision-00"], "hyperparameters": {"optimizer": "lamb"}}}
    )
    assert await found(api, "vision") == ["a-first", "vision-01"]
    # A page of one, then the rest through its cursor, by the highest val_acc.
    data = await api.ok(
        IN_NAMESPACE,
        {"ns": "vision", "query": THREE, "first": 1, "orderBy": [{"metric": "val_acc"}]},
    )
    page = data["namespace"]["experiments"]
    assert [e["node"]["name"] for e in page["edges"]] == ["a-first"]
    assert page["pageInfo"]["hasNextPage"]
    rest = await found(
        api, "vision", first=5, after=page["pageInfo"]["endCursor"], orderBy=[{"metric": "val_acc"}]
    )
    assert rest == ["vision-01"]
    assert index.size > 0  # served by the index all along, not rebuilt from nothing


async def test_a_write_in_another_process_is_found_at_once(settings: Settings, api: Api) -> None:
    await seed(api, "vision", 3)
    assert await found(api, "vision") == ["vision-00"]
    async with running(settings) as (_, other):
        for round_ in range(6):
            # Written through the other process, searched here straight after its answer.
            run = await other.create_experiment(
                "vision", f"late-{round_}", hyperparameters={"optimizer": "adam"}
            )
            await log(other, run["id"], 0.9, 0.1)
            assert f"late-{round_}" in await found(api, "vision"), round_
            await log(other, run["id"], 0.1, 0.1)
            assert f"late-{round_}" not in await found(api, "vision"), round_


async def test_another_namespaces_runs_never_appear(api: Api) -> None:
    await seed(api, "vision", 6)
    await seed(api, "secret", 6)
    # Both namespaces' values are in the index once the admin searched them.
    assert await found(api, "secret") == ["secret-00", "secret-03"]
    reader = await api.token(("vision", "VIEWER"))
    for token in (reader, ADMIN_TOKEN):
        data = await api.ok(SEARCH, {"query": THREE, "orderBy": BY_NAME}, token=token)
        names = [e["node"]["name"] for e in data["experiments"]["edges"]]
        if token == reader:
            assert names == ["vision-00", "vision-03"]
        else:
            assert names == ["secret-00", "secret-03", "vision-00", "vision-03"]
    body = await api.post(IN_NAMESPACE, {"ns": "secret", "query": THREE}, token=reader)
    assert body["data"]["namespace"] is None


async def test_after_the_database_restarts_the_index_starts_again_from_nothing(
    tmp_path: Path,
) -> None:
    async with own_database(tmp_path / "db") as database:
        settings = Settings(mongodb_uri=database.uri, database="index", admin_token=ADMIN_TOKEN)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://mb.test") as client:
                api = Api(client)
                ids = await seed(api, "vision", 6)
                assert await found(api, "vision") == ["vision-00", "vision-03"]
                index = app.state.store.search_index
                stream = index._stream
                await kill_and_restart(database)
                await retried(lambda: log(api, ids["vision-01"], 0.9, 0.1))
                update = {"id": ids["vision-01"], "hyperparameters": {"optimizer": "adam"}}
                await api.ok(UPDATE, {"input": update})
                # A token does not replay a restarted database: a new stream, values reloaded.
                assert await found(api, "vision") == ["vision-00", "vision-01", "vision-03"]
                assert index._stream is not stream and index.size > 0
                await log(api, ids["vision-00"], 0.1, 0.1)
                assert await found(api, "vision") == ["vision-01", "vision-03"]


async def test_too_many_changes_to_catch_up_leave_one_search_to_the_database(
    app: Any, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search_index, "MAX_DELTA", 10)
    ids = await seed(api, "vision", 6)
    assert await found(api, "vision") == ["vision-00", "vision-03"]
    index = app.state.store.search_index
    for name in ("vision-01", "vision-02", "vision-04"):  # 3 changed values a write, and more
        await log(api, ids[name], 0.9, 0.1)
        await api.ok(UPDATE, {"input": {"id": ids[name], "hyperparameters": {"optimizer": "adam"}}})
    # Dropped rather than caught up: this search ran on the database alone, and is right.
    assert await found(api, "vision", counted=False) == [f"vision-0{i}" for i in range(5)]
    assert index.size == 0 and index._stream is None
    await log(api, ids["vision-00"], 0.1, 0.1)
    assert await found(api, "vision") == [f"vision-0{i}" for i in range(1, 5)]
    assert index.size > 0


async def test_the_index_keeps_within_its_bounds_and_searches_stay_right(
    app: Any, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    await seed(api, "vision", 9)
    await seed(api, "speech", 9)
    index = app.state.store.search_index
    # A namespace with more values of a field than a field may hold is left to the database.
    monkeypatch.setattr(search_index, "MAX_FIELD_VALUES", 5)
    # (Found too large, it is not tried again for a while: here, once the bound is raised.)
    monkeypatch.setattr(search_index, "TOO_LARGE_SECONDS", 0.0)
    assert await found(api, "vision") == ["vision-00", "vision-03", "vision-06"]
    assert index.size == 0
    # Past the bound on all values, the least recently used namespace's go first.
    monkeypatch.setattr(search_index, "MAX_FIELD_VALUES", 1000)
    monkeypatch.setattr(search_index, "MAX_VALUES", 40)
    for namespace in ("vision", "speech", "vision"):
        assert await found(api, namespace) == [f"{namespace}-0{i}" for i in (0, 3, 6)]
        assert {ns for ns, _ in index._fields} == {namespace}
        assert list(index._names) == [namespace]


async def test_fields_nobody_set_count_toward_the_bound(
    app: Any, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A search may name any hyperparameter: each one named is a field of the index, values
    # or not, and 2,000,000 of those must not grow the process without bound either.
    await seed(api, "vision", 3)
    index = app.state.store.search_index
    monkeypatch.setattr(search_index, "MAX_VALUES", 40)
    for i in range(60):
        assert await found(api, "vision", f"params.unset_{i} > 0") == []
        assert len(index._fields) + len(index._names) <= 40
    assert await found(api, "vision") == ["vision-00"]


async def test_a_filter_that_turns_most_candidates_down_is_left_to_the_database(
    app: Any, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await seed(api, "vision", 9)
    await api.ok(UPDATE, {"input": {"id": ids["vision-08"], "status": "FAILED"}})
    monkeypatch.setattr(indexed, "EXTRA_CHECKED", 0)
    # No range to take candidates from: every run by name is one, and few are FAILED.
    query = "attributes.status = 'FAILED'"
    assert await found(api, "vision", query, first=1) == ["vision-08"]
    assert await found(api, "vision", query, first=1, orderBy=[{"metric": "loss"}]) == ["vision-08"]


async def test_a_cursor_of_another_order_is_no_server_error(api: Api) -> None:
    # A client that changes the order but keeps its cursor: the index compared a metric's
    # value with names (INTERNAL_SERVER_ERROR); the database's plans page it as usual.
    await seed(api, "vision", 6)
    by_metric = {"ns": "vision", "query": THREE, "first": 1, "orderBy": [{"metric": "val_acc"}]}
    data = await api.ok(IN_NAMESPACE, by_metric)
    cursor = data["namespace"]["experiments"]["pageInfo"]["endCursor"]
    # Numbers sort before strings: every name is past a metric's cursor, and (the highest
    # first) every metric past a name's.
    assert await found(api, "vision", after=cursor) == ["vision-00", "vision-03"]
    data = await api.ok(IN_NAMESPACE, {**by_metric, "orderBy": BY_NAME})
    cursor = data["namespace"]["experiments"]["pageInfo"]["endCursor"]
    after_name = await found(api, "vision", after=cursor, orderBy=by_metric["orderBy"])
    assert sorted(after_name) == ["vision-00", "vision-03"]


async def test_a_delete_or_a_value_removed_in_another_process_is_gone_at_once(
    app: Any, settings: Settings, api: Api
) -> None:
    ids = await seed(api, "vision", 6)
    by_param = "params.optimizer = 'adam'"
    assert await found(api, "vision", by_param) == ["vision-00", "vision-03"]
    async with running(settings) as (_, other):
        await other.ok(DELETE, {"id": ids["vision-00"]})
        assert await found(api, "vision", by_param) == ["vision-03"]
        # The hyperparameter removed (not changed): no value left to match.
        await other.ok(UPDATE, {"input": {"id": ids["vision-03"], "hyperparameters": {}}})
        assert await found(api, "vision", by_param) == []
        # A new run under a deleted one's name is found once, with its own values.
        await other.create_experiment("vision", "vision-00", hyperparameters={"optimizer": "adam"})
        assert await found(api, "vision", by_param) == ["vision-00"]
        assert await found(api, "vision", "params.optimizer = 'sgd'") == [
            f"vision-0{i}" for i in (1, 2, 4, 5)
        ]
    assert app.state.store.search_index.size > 0  # kept current, not rebuilt
