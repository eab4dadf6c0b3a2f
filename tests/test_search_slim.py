"""Pages of experiments' ids and names only, answered from the process's search index
(store/indexed.py `named`): no experiment document read, and the same runs in the same
order, with interchangeable cursors, as a selection that reads the documents and as
`Query.experiments`, whose aggregation does not use the index."""

from __future__ import annotations

import random
from typing import Any

import pytest

from modelbox.server.store import experiments, search_index
from tests.api import ADMIN_TOKEN, Api
from tests.in_process import CommandCounter
from tests.test_listing_attack import paged

SEARCH = """query($ns: String!, $first: Int, $after: String, $query: String,
                  $orderBy: [ExperimentOrder!]) {
  namespace(name: $ns) { experiments(first: $first, after: $after, query: $query,
                                     orderBy: $orderBy) {
    totalCount edges { cursor node { %s } } pageInfo { hasNextPage endCursor } } } }"""
NAMES = SEARCH % "id name"
FULL = SEARCH % "id name status hyperparameters"
# Across namespaces: one aggregation, never the index.
EVERY = """query($query: String, $orderBy: [ExperimentOrder!]) {
  experiments(first: 100, query: $query, orderBy: $orderBy) {
    totalCount edges { node { name } } } }"""
LOG = """mutation($input: LogMetricsInput!) { logMetrics(input: $input) { accepted } }"""
BY_NAME = [{"field": "name", "direction": "ASC"}]
CASES: list[tuple[str | None, list[dict[str, str]]]] = [
    (None, BY_NAME),
    # Runs whose last loss is NaN match no comparison with a number.
    ("metrics.loss < 0.5", BY_NAME),
    ("metrics.loss <= 0.5 and params.flag = true", [{"field": "name", "direction": "DESC"}]),
    ("params.flag = false", []),  # newest first
    ("params.layers = 128", BY_NAME),  # an element of an array
    ("params.lr in (0.1, 0.001) and metrics.val_acc >= 0.3", BY_NAME),
    ("params.optimizer > 'adam'", BY_NAME),  # strings only: adamw and sgd
    ("params.lr < 0.05 and metrics.val_acc > 0.2 and metrics.loss > 0.1", []),
    # Not ranges alone: the database matches the rest.
    ("params.optimizer != 'sgd' and metrics.loss < 0.8", BY_NAME),
    ("metrics.loss < 0.3 or params.flag = true", BY_NAME),
]


async def seed(api: Api, runs: int = 60, namespace: str = "slim", seed: int = 7) -> None:
    rng = random.Random(seed)
    for i in range(runs):
        params: dict[str, Any] = {
            "optimizer": rng.choice(["adam", "sgd", "adamw"]),
            "flag": rng.random() < 0.5,
            "layers": rng.choice([[64, 128], [128, 256], [32]]),
        }
        if rng.random() < 0.8:
            params["lr"] = rng.choice([0.1, 0.01, 0.001, "0.1"])
        name = f"run-{rng.randrange(1000):03d}-{i}"
        run = await api.create_experiment(namespace, name, hyperparameters=params)
        series = [{"key": "val_acc", "steps": [0], "values": [round(rng.random(), 1)]}]
        loss: dict[str, Any] = {"key": "loss", "steps": [0, 1], "values": [0.9, rng.random()]}
        if rng.random() < 0.2:
            loss["nonFinite"] = [{"index": 1, "value": "NAN"}]
        await api.ok(LOG, {"input": {"subjectId": run["id"], "series": [*series, loss]}})


async def page_through(api: Api, query: str | None, order: list[dict[str, str]]) -> list[str]:
    """Every page of 7, the selection alternating between names only and whole records."""
    names: list[str] = []
    after = None
    for page in range(100):
        selection = NAMES if page % 2 == 0 else FULL
        variables = {"ns": "slim", "first": 7, "after": after, "query": query, "orderBy": order}
        found = (await api.ok(selection, variables))["namespace"]["experiments"]
        for edge in found["edges"]:
            names.append(edge["node"]["name"])
            if selection == FULL:
                assert edge["node"]["status"] == "RUNNING"
                assert isinstance(edge["node"]["hyperparameters"]["layers"], list)
        if not found["pageInfo"]["hasNextPage"]:
            return names
        after = found["pageInfo"]["endCursor"]
    raise AssertionError("more pages than runs")


async def test_names_only_pages_agree_with_documents_read_and_with_the_aggregation(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(experiments, "MAX_SPANNED", 0)  # EVERY: the aggregation, no index
    await seed(api)
    for query, order in CASES:
        every = await api.ok(EVERY, {"query": query, "orderBy": order})
        want = [edge["node"]["name"] for edge in every["experiments"]["edges"]]
        assert want, f"{query}: the case should match some runs"
        assert every["experiments"]["totalCount"] == len(want)
        assert await page_through(api, query, order) == want, query
        for selection in (NAMES, FULL):
            variables = {"ns": "slim", "first": 100, "query": query, "orderBy": order}
            found = (await api.ok(selection, variables))["namespace"]["experiments"]
            assert [edge["node"]["name"] for edge in found["edges"]] == want, query
            assert found["totalCount"] == len(want), query


async def test_a_page_of_names_reads_no_experiment_and_any_other_field_reads_them(
    counted: tuple[Api, CommandCounter],
) -> None:
    api, counter = counted
    await seed(api, runs=12)
    variables = {"ns": "slim", "first": 5, "query": "metrics.val_acc >= 0", "orderBy": BY_NAME}
    names = await api.ok(NAMES, variables)  # the first search loads the index
    assert names["namespace"]["experiments"]["totalCount"] == 12
    # Filtered and counted, or newest first with no filter (the runs page's default).
    for asked in (variables, {"ns": "slim", "first": 5}):
        counter.clear()
        assert await api.ok(NAMES, asked) == await api.ok(NAMES, asked)
        assert not [c for c in counter.commands if c.endswith(" experiments")], counter.commands

    # A field outside id and name, asked directly or through a fragment, reads the runs.
    fragment = SEARCH % "... on Experiment { name } ...Status" + (
        " fragment Status on Experiment { status }"
    )
    for query in (FULL, fragment):
        counter.clear()
        found = (await api.ok(query, variables))["namespace"]["experiments"]["edges"]
        assert [e["node"]["name"] for e in found] == [
            e["node"]["name"] for e in names["namespace"]["experiments"]["edges"]
        ]
        assert {e["node"]["status"] for e in found} == {"RUNNING"}
        assert [c for c in counter.commands if c.endswith(" experiments")], counter.commands


NESTED = """query { namespaces(first: 10) { edges { node { name
  experiments(first: 2, filter: {status: FINISHED}) { totalCount edges { node { name status } } }
} } } }"""


async def test_listings_of_many_namespaces_cost_the_same_commands_as_of_two(
    counted: tuple[Api, CommandCounter],
) -> None:
    """Nested under several namespaces, pages and counts are one command each, whatever the
    number of namespaces; a status filter is matched by the database."""
    api, counter = counted
    for n in range(5):
        for i in range(3):
            run = await api.create_experiment(f"team-{n}", f"team-{n}-{i}")
            if i != 1:
                await api.ok(
                    "mutation($id: ID!) { updateExperiment(input: {id: $id, status: FINISHED})"
                    " { id } }",
                    {"id": run["id"]},
                )
        if n == 1:
            counter.clear()
            two = await api.ok(NESTED)
            few = list(counter.names)
    counter.clear()
    five = await api.ok(NESTED)
    assert len(counter.names) == len(few), (few, counter.names)
    assert five["namespaces"]["edges"][:2] == two["namespaces"]["edges"]
    for n, edge in enumerate(five["namespaces"]["edges"]):
        experiments = edge["node"]["experiments"]
        assert experiments["totalCount"] == 2
        assert [e["node"]["name"] for e in experiments["edges"]] == [f"team-{n}-2", f"team-{n}-0"]


async def test_a_search_of_several_namespaces_merges_theirs_and_keeps_to_the_token(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n, namespace in enumerate(("slim", "other", "secret")):
        await seed(api, runs=20, namespace=namespace, seed=n)
    reader = await api.token(("slim", "VIEWER"), ("other", "VIEWER"))
    names = "name namespace { name }"
    for query, order in CASES[:6]:
        for token in (reader, ADMIN_TOKEN):
            asked = {"query": query, "orderBy": order}
            # MAX_SPANNED 0: the aggregation; 16: each namespace's index, merged.
            want = await paged(api, monkeypatch, [0], names, asked, token)
            assert want[0], query
            # Names and namespaces only (no run read), then whole records.
            assert await paged(api, monkeypatch, [16], names, asked, token) == want
            full = "name status hyperparameters namespace { name }"
            assert await paged(api, monkeypatch, [16], full, asked, token) == want, query
            secret = [name for name in want[0] if name.startswith("secret/")]
            assert (secret == []) == (token is reader), query


async def test_a_search_of_several_namespaces_catches_the_index_up_once(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each namespace's page and count reads the index; the stream is pulled once for the
    page and once for the count, not once per namespace, and a write made just before is
    found."""
    for n in range(5):
        await seed(api, runs=3, namespace=f"team-{n}", seed=n)
    query = "query { experiments(first: 50) { totalCount edges { node { name } } } }"
    await api.ok(query)  # loads each namespace's names
    pulls = 0
    pull = search_index.SearchIndex._pull

    async def counted(index: search_index.SearchIndex) -> bool:
        nonlocal pulls
        pulls += 1
        return await pull(index)

    monkeypatch.setattr(search_index.SearchIndex, "_pull", counted)
    await api.create_experiment("team-3", "latest")
    found = (await api.ok(query))["experiments"]
    assert found["edges"][0]["node"]["name"] == "latest"
    assert found["totalCount"] == 16
    assert pulls == 2
