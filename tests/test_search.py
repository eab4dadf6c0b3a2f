"""Search of experiments: filters, sorts and the query text against a brute-force evaluation
of the same search over a few hundred generated runs, paged to the end with cursors."""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass, field
from typing import Any

from modelbox.search.fields import EXPERIMENT_ATTRIBUTES
from modelbox.search.grammar import parse
from modelbox.search.terms import (
    All,
    Any_,
    Attribute,
    Condition,
    Label,
    Metric,
    Not,
    Param,
    Subject,
    Term,
)
from modelbox.server.config import Settings
from tests.api import Api
from tests.in_process import CommandCounter
from tests.live import running, until_live
from tests.ws import WsClient

RUNS = 240
PAGE = 17
SEARCH = """query($first: Int, $after: String, $filter: ExperimentFilter,
                  $orderBy: [ExperimentOrder!], $query: String) {
  experiments(first: $first, after: $after, filter: $filter, orderBy: $orderBy, query: $query) {
    totalCount edges { cursor node { name } } pageInfo { hasNextPage endCursor } } }"""
IN_NAMESPACE = """query($ns: String!, $first: Int, $after: String, $filter: ExperimentFilter,
                        $orderBy: [ExperimentOrder!], $query: String) {
  namespace(name: $ns) { experiments(first: $first, after: $after, filter: $filter,
                                     orderBy: $orderBy, query: $query) {
    totalCount edges { cursor node { name } } pageInfo { hasNextPage endCursor } } } }"""
LOG = """mutation($input: LogMetricsInput!) { logMetrics(input: $input) { accepted } }"""


@dataclass
class Run:
    """What the test generated for one run, to evaluate searches by brute force."""

    index: int
    name: str
    owner: str
    status: str
    labels: dict[str, str]
    hyperparameters: dict[str, Any]
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)


def generate(seed: int) -> list[Run]:
    rng = random.Random(seed)
    runs = []
    for i in range(RUNS):
        params: dict[str, Any] = {
            "lr": rng.choice([0.1, 0.01, 0.001, 0.0001]),
            "optimizer": {
                "name": rng.choice(["adam", "sgd", "lamb"]),
                "beta": rng.choice([0.9, 0.99]),
            },
        }
        if rng.random() < 0.7:
            params["depth"] = rng.choice([18, 34, 50])
        if rng.random() < 0.2:
            params["note"] = rng.choice(["baseline", "ablation", "b2"])
        run = Run(
            index=i,
            name=f"{rng.choice(['resnet', 'vit', 'res'])}-{i:03d}",
            owner=rng.choice(["ada", "bob", "cy"]),
            status=rng.choice(["RUNNING", "FINISHED", "FAILED"]),
            labels={"team": rng.choice(["a", "b"])} if rng.random() < 0.8 else {},
            hyperparameters=params,
        )
        for key in ("val_acc", "loss"):
            if rng.random() < 0.85:
                # Few distinct values, so that ties are common.
                values = [
                    rng.choice([0.1, 0.2, 0.3, 0.5, 0.7, 0.9]) for _ in range(rng.randint(1, 3))
                ]
                run.metrics[key] = {"LAST": values[-1], "MIN": min(values), "MAX": max(values)}
                run.metrics[key]["points"] = values  # type: ignore[assignment]
        runs.append(run)
    return runs


async def create(api: Api, namespace: str, run: Run) -> dict[str, Any]:
    return await api.create_experiment(
        namespace,
        run.name,
        owner=run.owner,
        hyperparameters=run.hyperparameters,
        labels=[{"key": k, "value": v} for k, v in run.labels.items()],
    )


async def complete(api: Api, run: Run, created: dict[str, Any]) -> None:
    if run.status != "RUNNING":
        await api.ok(
            "mutation($id: ID!, $s: ExperimentStatus!) {"
            " updateExperiment(input: {id: $id, status: $s}) { id } }",
            {"id": created["id"], "s": run.status},
        )
    series = [
        {"key": key, "steps": list(range(len(m["points"]))), "values": m["points"]}  # type: ignore[arg-type]
        for key, m in run.metrics.items()
    ]
    if series:
        await api.ok(LOG, {"input": {"subjectId": created["id"], "series": series}})


# -- the brute-force evaluation ---------------------------------------------------------------


def value_of(run: Run, subject: Subject) -> Any:
    """The run's value for `subject`, or `MISSING`."""
    if isinstance(subject, Param):
        value: Any = run.hyperparameters
        for segment in subject.path:
            if not isinstance(value, dict) or segment not in value:
                return MISSING
            value = value[segment]
        return value
    if isinstance(subject, Metric):
        return run.metrics.get(subject.key, {}).get(subject.aggregate, MISSING)
    if isinstance(subject, Label):
        return run.labels.get(subject.key, MISSING)
    assert isinstance(subject, Attribute)
    return {"name": run.name, "owner": run.owner, "status": run.status}[subject.name]


MISSING = object()


def same_kind(a: Any, b: Any) -> bool:
    """MongoDB compares numbers with numbers and strings with strings (bools apart)."""
    number = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    return (isinstance(a, number) and isinstance(b, number)) or type(a) is type(b)


def equal(a: Any, b: Any) -> bool:
    return a is not MISSING and same_kind(a, b) and a == b


def holds(run: Run, term: Term) -> bool:
    if isinstance(term, All):
        return all(holds(run, t) for t in term.terms)
    if isinstance(term, Any_):
        return any(holds(run, t) for t in term.terms)
    if isinstance(term, Not):
        return not holds(run, term.term)
    assert isinstance(term, Condition)
    value, op, wanted = value_of(run, term.subject), term.op, term.value
    if op == "EXISTS":
        return (value is not MISSING) == wanted
    if op == "EQ":
        return equal(value, wanted)
    if op == "NE":
        return value is not MISSING and not equal(value, wanted)
    if op == "IN":
        return any(equal(value, w) for w in wanted)
    if op == "NIN":
        return value is not MISSING and not any(equal(value, w) for w in wanted)
    if op in ("PREFIX", "LIKE"):
        if not isinstance(value, str):
            return False
        pattern = re.escape(wanted) if op == "PREFIX" else _like(wanted)
        return re.match(pattern + ("" if op == "PREFIX" else "$"), value) is not None
    if value is MISSING or isinstance(value, dict) or not same_kind(value, wanted):
        return False
    return {
        "GT": value > wanted,
        "GTE": value >= wanted,
        "LT": value < wanted,
        "LTE": value <= wanted,
    }[op]


def _like(pattern: str) -> str:
    return "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)


def expected(runs: list[Run], term: Term, order: list[tuple[Subject, str]]) -> list[str]:
    """Names in the order the search must return them: lacking a value last, ties by
    creation order in the first key's direction (newest first without an order)."""
    found = [run for run in runs if holds(run, term)]
    tiebreak_descending = not order or order[0][1] == "DESC"
    found.sort(key=lambda run: run.index, reverse=tiebreak_descending)
    for subject, direction in reversed(order):
        present = [r for r in found if _sortable(value_of(r, subject))]
        absent = [r for r in found if not _sortable(value_of(r, subject))]
        present.sort(key=lambda r: _sort_key(value_of(r, subject)), reverse=direction == "DESC")
        found = present + absent
    return [run.name for run in found]


def _sortable(value: Any) -> bool:
    return value is not MISSING and value is not None and not isinstance(value, list)


def _sort_key(value: Any) -> tuple[int, Any]:
    # BSON order between types: numbers, then strings, then objects.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (2, str(value))


# -- the test ---------------------------------------------------------------------------------


async def page_through(
    api: Api, variables: dict[str, Any], namespace: str | None = None
) -> tuple[list[str], int]:
    names: list[str] = []
    after = None
    total = -1
    for _ in range(RUNS // PAGE + 3):
        request = {**variables, "first": PAGE, "after": after}
        if namespace is None:
            connection = (await api.ok(SEARCH, request))["experiments"]
        else:
            request["ns"] = namespace
            connection = (await api.ok(IN_NAMESPACE, request))["namespace"]["experiments"]
        total = connection["totalCount"]
        names += [edge["node"]["name"] for edge in connection["edges"]]
        if not connection["pageInfo"]["hasNextPage"]:
            return names, total
        after = connection["pageInfo"]["endCursor"]
        assert after == connection["edges"][-1]["cursor"]
    raise AssertionError("paging did not end")


CASES: list[tuple[str, dict[str, Any], str | None, list[tuple[Subject, str]]]] = [
    (
        "top val_acc where lr < 0.01",
        {
            "filter": {
                "hyperparameters": [{"path": "lr", "op": "LT", "value": 0.01}],
                "metrics": [{"key": "val_acc", "op": "GT", "value": 0.2}],
            },
            "orderBy": [{"metric": "val_acc", "direction": "DESC"}],
        },
        None,
        [(Metric("val_acc"), "DESC")],
    ),
    (
        "or, in, nested path, metric min; two sort keys",
        {
            "orderBy": [
                {"hyperparameter": "lr", "direction": "ASC"},
                {"metric": "val_acc", "aggregate": "MAX"},
            ]
        },
        "(params.optimizer.name = 'adam' or params.optimizer.name in ('lamb')) "
        "and metrics.loss.min <= 0.3",
        [(Param(("lr",)), "ASC"), (Metric("val_acc", "MAX"), "DESC")],
    ),
    (
        "not, is null, attributes; sort by a field",
        {"orderBy": [{"field": "name", "direction": "ASC"}]},
        "params.depth is null or not attributes.status = 'FINISHED'",
        [(Attribute("name"), "ASC")],
    ),
    (
        "name prefix, labels, owner, in and exists; lowest loss first, lacking it last",
        {
            "filter": {
                "namePrefix": "res",
                "labels": [{"key": "team", "value": "a"}],
                "hyperparameters": [
                    {"path": "depth", "in": [18, 50]},
                    {"path": "optimizer.beta", "exists": True},
                ],
            },
            "orderBy": [{"metric": "loss", "aggregate": "MIN", "direction": "ASC"}],
        },
        "attributes.owner != 'cy'",
        [(Metric("loss", "MIN"), "ASC")],
    ),
    (
        "everything, ascending by a metric some runs lack",
        {"orderBy": [{"metric": "val_acc", "direction": "ASC"}]},
        None,
        [(Metric("val_acc"), "ASC")],
    ),
    (
        "a hyperparameter some runs lack, text LIKE and NE",
        {"orderBy": [{"hyperparameter": "note", "direction": "DESC"}, {"metric": "loss"}]},
        "params.note like 'b%' or params.depth != 34",
        [(Param(("note",)), "DESC"), (Metric("loss"), "DESC")],
    ),
    # Candidates from search-value ranges (store/ranked.py), intersected, then matched.
    (
        "ranges on a metric and hyperparameters, by name",
        {
            "filter": {
                "metrics": [{"key": "val_acc", "op": "GTE", "value": 0.3}],
                "hyperparameters": [{"path": "optimizer.name", "in": ["adam", "sgd"]}],
            },
            "orderBy": [{"field": "name", "direction": "ASC"}],
        },
        "params.lr >= 0.001 and metrics.loss.max != 0.9",
        [(Attribute("name"), "ASC")],
    ),
    ("a range, newest first", {}, "metrics.loss.max < 0.5 and params.depth = 50", []),
    (
        "highest loss first, bands with ties, a hyperparameter filter",
        {"orderBy": [{"metric": "loss", "aggregate": "MAX"}]},
        "params.optimizer.beta = 0.9",
        [(Metric("loss", "MAX"), "DESC")],
    ),
]


def _filter_term(variables: dict[str, Any], text: str | None) -> Term:
    """The brute-force side's reading of the `filter` input, through the same term types."""
    spec = variables.get("filter", {})
    terms: list[Term] = []
    if "namePrefix" in spec:
        terms.append(Condition(Attribute("name"), "PREFIX", spec["namePrefix"]))
    for label in spec.get("labels", []):
        terms.append(Condition(Label(label["key"]), "EQ", label["value"]))
    for h in spec.get("hyperparameters", []):
        path = Param(tuple(h["path"].split(".")))
        if "in" in h:
            terms.append(Condition(path, "IN", tuple(h["in"])))
        elif "exists" in h:
            terms.append(Condition(path, "EXISTS", h["exists"]))
        else:
            terms.append(Condition(path, h["op"], h["value"]))
    for m in spec.get("metrics", []):
        terms.append(Condition(Metric(m["key"], m.get("aggregate", "LAST")), m["op"], m["value"]))
    if text:
        terms.append(parse(text, EXPERIMENT_ATTRIBUTES))
    return All(tuple(terms))


async def test_search_agrees_with_brute_force_paged_to_the_end(api: Api) -> None:
    runs = generate(seed=14)
    half = len(runs) // 2
    # Two namespaces: Query.experiments spans both, Namespace.experiments one.
    # Created one by one, so that creation order (the tiebreaker) is the runs' order.
    created = [await create(api, "vision" if r.index < half else "speech", r) for r in runs]
    for group in range(0, len(runs), 8):
        await asyncio.gather(
            *(
                complete(api, r, c)
                for r, c in zip(runs[group : group + 8], created[group : group + 8], strict=True)
            )
        )
    for label, variables, text, order in CASES:
        request = {**variables, "query": text}
        want = expected(runs, _filter_term(variables, text), order)
        assert want, f"{label}: the case should match some runs"
        got, total = await page_through(api, request)
        assert got == want, label
        assert total == len(want), label
        vision = [r for r in runs if r.index < half]
        want_vision = expected(vision, _filter_term(variables, text), order)
        got_vision, total_vision = await page_through(api, request, namespace="vision")
        assert got_vision == want_vision, label
        assert total_vision == len(want_vision), label


async def test_query_text_errors_say_where_and_limits_are_named(api: Api) -> None:
    await api.create_experiment("vision", "only")
    body = await api.post(SEARCH, {"query": "metrics.val_acc > 0.9 and and params.lr < 1"})
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "column 27" in error["message"], error["message"]
    body = await api.post(SEARCH, {"query": "params.x in (" + ", ".join(["1"] * 101) + ")"})
    assert "MAX_IN_VALUES" in body["errors"][0]["message"]
    body = await api.post(SEARCH, {"orderBy": [{"metric": "a", "field": "name"}]})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    body = await api.post(SEARCH, {"orderBy": [{"field": "hyperparameters"}]})
    assert "orderBy.field" in body["errors"][0]["message"]
    body = await api.post(
        SEARCH, {"filter": {"hyperparameters": [{"path": "lr", "op": "LT", "exists": True}]}}
    )
    assert "exactly one of op" in body["errors"][0]["message"]
    body = await api.post(SEARCH, {"first": 5, "after": "bm90IGEgY3Vyc29y"})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_metric_dataset_on_experiments_is_refused_on_the_argument_that_gave_it(
    api: Api,
) -> None:
    # Datasets belong to model version metrics (ExperimentOrder has none to give).
    await api.create_experiment("vision", "only")
    metric = {"key": "acc", "op": "GT", "value": 0.5, "dataset": "imagenet"}
    asked = {
        "filter": {"filter": {"metrics": [metric]}},
        "query": {"query": "metrics.acc@imagenet > 0.5"},
    }
    for argument, variables in asked.items():
        [error] = (await api.post(SEARCH, variables))["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["extensions"]["field"] == argument
        assert error["message"].startswith(f"{argument}: a metric's dataset"), error["message"]


async def test_query_experiments_keeps_to_the_namespaces_the_token_reads(api: Api) -> None:
    for namespace in ("vision", "speech", "secret"):
        run = await api.create_experiment(
            namespace, f"{namespace}-run", hyperparameters={"lr": 0.001}
        )
        await api.ok(
            LOG,
            {
                "input": {
                    "subjectId": run["id"],
                    "series": [{"key": "val_acc", "steps": [1], "values": [0.99]}],
                }
            },
        )
    reader = await api.token(("vision", "VIEWER"), ("speech", "VIEWER"))
    writer = await api.token(("speech", "WRITER"))
    request = {
        "query": "metrics.val_acc > 0.5 and params.lr < 0.01",
        "orderBy": [{"metric": "val_acc"}],
    }
    for token, visible in ((reader, {"vision-run", "speech-run"}), (writer, {"speech-run"})):
        data = await api.ok(SEARCH, request, token=token)
        names = {edge["node"]["name"] for edge in data["experiments"]["edges"]}
        assert names == visible
        assert data["experiments"]["totalCount"] == len(visible)
        # Naming another namespace in the query text does not reach it either.
        data = await api.ok(SEARCH, {"query": "attributes.namespace = 'secret'"}, token=token)
        assert data["experiments"]["edges"] == []
    data = await api.ok(SEARCH, request)
    assert {e["node"]["name"] for e in data["experiments"]["edges"]} == {
        "vision-run",
        "speech-run",
        "secret-run",
    }
    # Another namespace's experiments are not reachable through Namespace.experiments either.
    body = await api.post(
        IN_NAMESPACE, {"ns": "secret", "orderBy": [{"metric": "val_acc"}]}, token=reader
    )
    assert body["data"]["namespace"] is None


async def test_query_experiments_over_websocket_keeps_to_the_token(settings: Settings) -> None:
    async with running(settings) as (server, api):
        for namespace in ("vision", "secret"):
            await api.create_experiment(namespace, f"{namespace}-run", hyperparameters={"lr": 0.1})
        reader = await api.token(("vision", "VIEWER"))
        writer = await api.token(("secret", "WRITER"))
        for token, visible in ((reader, ["vision-run"]), (writer, ["secret-run"])):
            async with WsClient(server.url, token=token) as ws:
                op = await ws.subscribe(SEARCH, {"query": "params.lr >= 0.1"})
                data = await ws.next(op)
                assert [e["node"]["name"] for e in data["experiments"]["edges"]] == visible
                assert data["experiments"]["totalCount"] == 1


NESTED = """query($ns: [ID!]!) { nodes(ids: $ns) { ... on Namespace { name
  experiments(first: 2, orderBy: [{metric: "val_acc"}], query: "params.lr < 0.05") {
    edges { node { name } } } } } }"""


async def test_nested_searches_cost_one_command_whatever_the_number_of_namespaces(
    counted: tuple[Api, CommandCounter],
) -> None:
    api, counter = counted
    ids = []
    for n in range(6):
        namespace = f"team-{n}"
        for i, (lr, acc) in enumerate(((0.01, 0.5), (0.1, 0.9), (0.001, 0.7), (0.02, 0.6))):
            run = await api.create_experiment(
                namespace, f"{namespace}-{i}", hyperparameters={"lr": lr}
            )
            await api.ok(
                LOG,
                {
                    "input": {
                        "subjectId": run["id"],
                        "series": [{"key": "val_acc", "steps": [0], "values": [acc + n / 100]}],
                    }
                },
            )
        data = await api.ok("query($n: String!) { namespace(name: $n) { id } }", {"n": namespace})
        ids.append(data["namespace"]["id"])

    counter.names.clear()
    small = await api.ok(NESTED, {"ns": ids[:2]})
    few = list(counter.names)
    counter.names.clear()
    large = await api.ok(NESTED, {"ns": ids})
    assert len(counter.names) == len(few), (few, counter.names)
    assert large["nodes"][:2] == small["nodes"]
    for n, node in enumerate(large["nodes"]):
        # Highest val_acc among lr < 0.05: runs 2 (0.7) and 3 (0.6) of each namespace.
        assert [e["node"]["name"] for e in node["experiments"]["edges"]] == [
            f"team-{n}-2",
            f"team-{n}-3",
        ]


WATCH = """subscription($ns: String!) { namespaceChanges(namespace: $ns) { type
  node { ... on Experiment { name status } } } }"""


async def test_search_summaries_are_not_news_to_namespace_watchers(settings: Settings) -> None:
    async with running(settings) as (server, api), WsClient(server.url) as ws:
        op = await ws.subscribe(WATCH, {"ns": "vision"})
        first = await until_live(ws, op, lambda i: api.create_experiment("vision", f"probe-{i}"))
        assert first["namespaceChanges"]["type"] == "CREATED"
        run = await api.create_experiment("vision", "watched")
        await api.ok(
            LOG,
            {
                "input": {
                    "subjectId": run["id"],
                    "series": [{"key": "val_acc", "steps": [1, 2], "values": [0.5, 0.6]}],
                }
            },
        )
        await api.ok(
            "mutation($id: ID!) { updateExperiment(input: {id: $id, status: FINISHED}) { id } }",
            {"id": run["id"]},
        )
        seen = []
        while len(seen) < 2:
            change = (await ws.next(op))["namespaceChanges"]
            if change["node"]["name"].startswith("probe-"):
                continue
            seen.append((change["type"], change["node"]["status"]))
        # Logging metrics updated the experiment's document (its search summaries) in between.
        assert seen == [("CREATED", "RUNNING"), ("UPDATED", "FINISHED")]
        await ws.nothing(op)
