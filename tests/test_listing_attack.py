"""Attacks on listings served by the search index: every one of a namespace's listings
(`Namespace.experiments`, filtered or not) and `Query.experiments` over a few namespaces,
merged from each one's index. Each must give the runs, order, cursors and totalCount the
aggregation (`MAX_SPANNED` 0) and a brute-force evaluation give."""

from __future__ import annotations

import random
from typing import Any

import pytest

from modelbox.server.config import Settings
from modelbox.server.store import experiments, search_index
from tests.api import ADMIN_TOKEN, Api
from tests.in_process import CommandCounter
from tests.live import running
from tests.ws import OperationError, WsClient

EVERY = """query($first: Int, $after: String, $query: String, $filter: ExperimentFilter,
                  $orderBy: [ExperimentOrder!]) {
  experiments(first: $first, after: $after, query: $query, filter: $filter, orderBy: $orderBy) {
    totalCount edges { node { %s } } pageInfo { hasNextPage endCursor } } }"""
IN_NAMESPACE = """query($ns: String!, $first: Int, $after: String, $query: String,
                        $filter: ExperimentFilter, $orderBy: [ExperimentOrder!]) {
  namespace(name: $ns) { experiments(first: $first, after: $after, query: $query,
                                     filter: $filter, orderBy: $orderBy) {
    totalCount edges { node { %s } } pageInfo { hasNextPage endCursor } } } }"""
LOG = """mutation($input: LogMetricsInput!) { logMetrics(input: $input) { accepted } }"""
UPDATE = """mutation($input: UpdateExperimentInput!) { updateExperiment(input: $input) { id } }"""
DELETE = """mutation($id: ID!) { deleteExperiment(input: {id: $id}) { deletedId } }"""
NAMES = "name namespace { name }"
FULL = "name status owner namespace { name }"
ORDERS: list[list[dict[str, str]]] = [
    [],
    [{"field": "name", "direction": "ASC"}],
    [{"field": "name", "direction": "DESC"}],
    [{"metric": "loss", "direction": "ASC"}],
    [{"metric": "loss", "direction": "DESC"}],
]
SEARCHES: list[tuple[str | None, dict[str, Any] | None]] = [
    (None, None),
    ("metrics.loss < 0.5", None),
    (None, {"status": "FINISHED"}),
    ("params.k >= 1", {"owner": "ada"}),
]


async def seed(api: Api, namespaces: list[str], runs: int, rng: random.Random) -> None:
    for namespace in namespaces:
        for i in range(runs):
            # Names repeat across namespaces: ties broken by id, as the aggregation does.
            run = await api.create_experiment(
                namespace,
                f"run-{i}",
                owner=rng.choice(["ada", "bob"]),
                hyperparameters={"k": rng.randrange(3)},
            )
            if rng.random() < 0.5:
                await api.ok(UPDATE, {"input": {"id": run["id"], "status": "FINISHED"}})
            if rng.random() < 0.7:
                series = [{"key": "loss", "steps": [0], "values": [round(rng.random(), 1)]}]
                await api.ok(LOG, {"input": {"subjectId": run["id"], "series": series}})


async def paged(
    api: Api,
    monkeypatch: pytest.MonkeyPatch,
    spans: list[int],
    selection: str,
    variables: dict[str, Any],
    token: str = ADMIN_TOKEN,
) -> tuple[list[str], list[int]]:
    """Query.experiments paged 6 at a time to the end, page i with MAX_SPANNED
    spans[i % len(spans)] (so cursors of one path are used on the other): names, totals."""
    names: list[str] = []
    totals: list[int] = []
    after = None
    for page in range(200):
        monkeypatch.setattr(experiments, "MAX_SPANNED", spans[page % len(spans)])
        asked = {**variables, "first": 6, "after": after}
        found = (await api.ok(EVERY % selection, asked, token=token))["experiments"]
        names += [f"{e['node']['namespace']['name']}/{e['node']['name']}" for e in found["edges"]]
        totals.append(found["totalCount"])
        if not found["pageInfo"]["hasNextPage"]:
            return names, totals
        after = found["pageInfo"]["endCursor"]
    raise AssertionError("more pages than runs")


async def test_every_namespace_merged_from_the_index_pages_as_the_aggregation(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exactly MAX_SPANNED namespaces (one of them with no run), then one more: the merged
    pages, their cursors used on either path, and totals are the aggregation's."""
    rng = random.Random(3)
    await seed(api, [f"ns-{n:02d}" for n in range(15)], 2, rng)
    await api.create_model("ns-15", "no-runs")  # a namespace with no experiment
    reader = await api.token(("ns-03", "VIEWER"), ("ns-07", "VIEWER"), ("ns-15", "VIEWER"))
    for more in (False, True):
        if more:
            await seed(api, ["ns-16"], 2, rng)
        for query, filter in SEARCHES:
            for order in ORDERS:
                variables = {"query": query, "filter": filter, "orderBy": order}
                for token in (ADMIN_TOKEN, reader):
                    want = await paged(api, monkeypatch, [0], NAMES, variables, token)
                    assert want[0] or token is reader, variables
                    assert set(want[1]) == {len(want[0])}, variables
                    # Names only (from the index, no run read) or whole records.
                    for spans, selection in (([16], NAMES), ([17, 0], FULL), ([0, 16], NAMES)):
                        got = await paged(api, monkeypatch, spans, selection, variables, token)
                        assert got == want, (spans, variables, token is reader)


async def test_plain_filters_newest_first_match_brute_force_across_deletes(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Namespace.experiments with status, owner and several labels, newest first, paged
    while runs are deleted; its cursors also page Query.experiments over that namespace."""
    rng = random.Random(5)
    runs: list[dict[str, Any]] = []
    for i in range(40):
        labels = {"team": rng.choice(["a", "b"]), "tier": rng.choice(["x", "y"])}
        owner = rng.choice(["ada", "bob"])
        run = await api.create_experiment(
            "plain",
            f"p-{i:02d}",
            owner=owner,
            labels=[{"key": k, "value": v} for k, v in labels.items()],
        )
        status = rng.choice(["RUNNING", "FINISHED", "FAILED"])
        if status != "RUNNING":
            await api.ok(UPDATE, {"input": {"id": run["id"], "status": status}})
        runs.append(
            {"id": run["id"], "name": run["name"], "owner": owner, "status": status, **labels}
        )
    await api.create_experiment("other", "p-99")  # Query.experiments spans two namespaces
    filters = [
        {"status": "FINISHED"},
        {"owner": "ada", "labels": [{"key": "team", "value": "a"}, {"key": "tier", "value": "y"}]},
        {"labels": [{"key": "team", "value": "b"}, {"key": "tier", "value": "x"}]},
        {"status": "FAILED", "owner": "bob"},
    ]

    def matches(run: dict[str, Any], filter: dict[str, Any]) -> bool:
        return all(
            [run[label["key"]] == label["value"] for label in filter.get("labels", [])]
            + [run[f] == filter[f] for f in ("status", "owner") if f in filter]
        )

    for filter in filters:
        names: list[str] = []
        after = None
        for page in range(50):
            asked = {"ns": "plain", "first": 3, "after": after, "filter": filter}
            if page % 2:
                found = (await api.ok(EVERY % "name", asked))["experiments"]
            else:
                found = (await api.ok(IN_NAMESPACE % "name", asked))["namespace"]["experiments"]
            live = [r for r in runs if matches(r, filter)]
            assert found["totalCount"] == len(live), (filter, page)
            names += [e["node"]["name"] for e in found["edges"]]
            if not found["pageInfo"]["hasNextPage"]:
                break
            after = found["pageInfo"]["endCursor"]
            # Delete one not yet listed: it must not appear on later pages.
            unseen = [r for r in live if r["name"] not in names and r["name"] < names[-1]]
            if unseen:
                await api.ok(DELETE, {"id": unseen[0]["id"]})
                runs.remove(unseen[0])
        want = sorted((r["name"] for r in runs if matches(r, filter)), reverse=True)
        assert names == want, filter


CROSS_ORDERS: list[list[dict[str, str]]] = [
    *ORDERS,
    [{"field": "createdAt", "direction": "DESC"}],
    [{"hyperparameter": "k", "direction": "ASC"}],
    [{"field": "owner", "direction": "ASC"}],
]


async def test_cursors_of_other_orders_give_what_the_aggregation_gives(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cursor handed out for one order, used with another: the index (one namespace,
    or several merged) and the aggregation agree, on the runs or on refusing it."""
    rng = random.Random(11)
    await seed(api, ["x-a", "x-b"], 8, rng)

    async def outcome(selection: str, variables: dict[str, Any], spans: int) -> Any:
        monkeypatch.setattr(experiments, "MAX_SPANNED", spans)
        body = await api.post(selection, variables)
        if body.get("errors"):
            return sorted(e["extensions"]["code"] for e in body["errors"])
        found = body["data"].get("namespace") or body["data"]
        return [e["node"]["name"] for e in found["experiments"]["edges"]]

    for given in CROSS_ORDERS:
        first = {"ns": "x-a", "first": 5, "orderBy": given}
        cursors = [
            (await api.ok(IN_NAMESPACE % "name", first))["namespace"]["experiments"],
            (await api.ok(EVERY % "name", first))["experiments"],
        ]
        for cursor in (c["pageInfo"]["endCursor"] for c in cursors):
            for order in CROSS_ORDERS:
                asked = {"first": 30, "after": cursor, "orderBy": order}
                want = await outcome(EVERY % "name namespace { name }", asked, 0)
                assert await outcome(EVERY % "name namespace { name }", asked, 16) == want
                scoped = {**asked, "query": "attributes.namespace = 'x-a'"}
                want = await outcome(EVERY % "name", scoped, 0)
                assert await outcome(IN_NAMESPACE % "name", {**asked, "ns": "x-a"}, 0) == want, (
                    given,
                    order,
                )
                assert await outcome(IN_NAMESPACE % "id name", {**asked, "ns": "x-a"}, 0) == want


async def test_names_across_namespaces_read_no_experiment(
    counted: tuple[Api, CommandCounter],
) -> None:
    """Query.experiments over a few namespaces, reading only names and namespaces, is
    answered from each namespace's index as Namespace.experiments is: no run read."""
    api, counter = counted
    for namespace in ("n-a", "n-b", "n-c"):
        for i in range(4):
            await api.create_experiment(namespace, f"{namespace}-{i}")
    for order in ORDERS[:3]:
        variables = {"first": 5, "orderBy": order}
        whole = await api.ok(EVERY % "name status namespace { name }", variables)
        counter.clear()
        names = await api.ok(EVERY % NAMES, variables)
        assert not [c for c in counter.commands if c.endswith(" experiments")], counter.commands
        assert [e["node"]["name"] for e in names["experiments"]["edges"]] == [
            e["node"]["name"] for e in whole["experiments"]["edges"]
        ]
        assert names["experiments"]["totalCount"] == 12


async def test_names_across_namespaces_keep_to_the_token_and_stop_when_it_is_revoked(
    settings: Settings,
) -> None:
    """The names-only listings from the index, over HTTP and WebSocket: a reader sees its
    namespaces only, another namespace's token its own, a revoked token nothing."""
    async with running(settings) as (server, api):
        for namespace in ("r-a", "r-b", "r-secret"):
            await api.create_experiment(namespace, f"{namespace}-run")
        reader = await api.token(("r-a", "VIEWER"), ("r-b", "VIEWER"), name="reader")
        other = await api.token(("r-secret", "WRITER"), name="other")
        listing = EVERY % "name namespace { name }"
        secret = IN_NAMESPACE % "id name"
        for token, visible in ((reader, ["r-b-run", "r-a-run"]), (other, ["r-secret-run"])):
            async with WsClient(server.url, token=token) as ws:
                for data in (
                    await api.ok(listing, {"first": 5}, token=token),
                    await ws.next(await ws.subscribe(listing, {"first": 5})),
                ):
                    found = data["experiments"]
                    assert [e["node"]["name"] for e in found["edges"]] == visible
                    assert found["totalCount"] == len(visible)
                body = await api.post(secret, {"ns": "r-secret", "first": 5}, token=token)
                assert (body["data"]["namespace"] is None) == (token is reader), body
        viewer = await api.ok("{ viewer { id } }", token=reader)
        async with WsClient(server.url, token=reader) as ws:
            await api.ok(
                "mutation($id: ID!) { revokeApiToken(input: {id: $id}) { deletedId } }",
                {"id": viewer["viewer"]["id"]},
            )
            assert await api.fails(listing, {"first": 5}, token=reader) == ["UNAUTHENTICATED"]
            with pytest.raises(OperationError) as refused:
                await ws.next(await ws.subscribe(listing, {"first": 5}))
            assert refused.value.codes == ["UNAUTHENTICATED"]


async def test_namespaces_the_index_cannot_hold_at_once_are_not_reloaded_every_page(
    counted: tuple[Api, CommandCounter], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Query.experiments over namespaces whose runs pass the index's bound together: each
    namespace loaded evicted another, so every page (and its count again) read every
    namespace's runs from the database. Once the index had to drop something, such a
    listing is left to the one aggregation, with the same answer."""
    api, counter = counted
    for namespace in ("h-a", "h-b", "h-c"):
        for i in range(15):
            await api.create_experiment(namespace, f"{namespace}-{i}")
    want = []
    for spans in (0, 16):
        monkeypatch.setattr(experiments, "MAX_SPANNED", spans)
        want.append(await api.ok(EVERY % "name namespace { name }", {"first": 5}))
    assert want[0] == want[1]
    monkeypatch.setattr(search_index, "MAX_VALUES", 40)  # 2 namespaces' names fit, not 3
    for selection in ("name namespace { name }", "name status namespace { name }"):
        for _ in range(2):
            counter.clear()
            found = await api.ok(EVERY % selection, {"first": 5})
            assert [e["node"]["name"] for e in found["experiments"]["edges"]] == [
                e["node"]["name"] for e in want[0]["experiments"]["edges"]
            ]
            assert found["experiments"]["totalCount"] == 45
            loads = [c for c in counter.commands if c == "find experiments"]
            assert len(loads) <= 3, counter.commands
    assert counter.commands.count("find experiments") == 0, counter.commands
    # A listing of one namespace still uses the index (once loaded, if it was evicted).
    await api.ok(IN_NAMESPACE % "id name", {"ns": "h-a", "first": 5})
    counter.clear()
    data = await api.ok(IN_NAMESPACE % "id name", {"ns": "h-a", "first": 5})
    assert data["namespace"]["experiments"]["totalCount"] == 15
    assert not [c for c in counter.commands if c.endswith(" experiments")], counter.commands


async def test_a_namespace_too_large_for_the_index_is_not_read_again_by_every_listing(
    counted: tuple[Api, CommandCounter], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A namespace with more runs than the index holds (MAX_FIELD_VALUES): finding that
    out reads that many runs' names, and every listing of it, now the default page too,
    did so again (twice: page and count) before the aggregation. It is remembered, as a
    field found too large is."""
    api, counter = counted
    for i in range(8):
        await api.create_experiment("huge", f"huge-{i}")
    monkeypatch.setattr(search_index, "MAX_FIELD_VALUES", 5)
    want = [f"huge-{i}" for i in (7, 6, 5)]
    for query in (IN_NAMESPACE % "id name", EVERY % "name namespace { name }"):
        for attempt in range(2):
            counter.clear()
            found = await api.ok(query, {"ns": "huge", "first": 3})
            found = found.get("namespace") or found
            assert [e["node"]["name"] for e in found["experiments"]["edges"]] == want
            assert found["experiments"]["totalCount"] == 8
            loads = counter.commands.count("find experiments")
            assert loads <= (1 if attempt == 0 and query.startswith("query($ns") else 0), (
                counter.commands
            )
