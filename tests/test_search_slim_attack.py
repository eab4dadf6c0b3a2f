"""Attacks on pages of names answered from the search index (store/indexed.py `named`):
each search must give the same runs, in the same order, whether the selection reads only
names (no document read), reads the documents, or goes across namespaces (`Query.experiments`,
one aggregation that never uses the index)."""

from __future__ import annotations

from typing import Any

from tests.api import Api

SEARCH = """query($ns: String!, $first: Int, $after: String, $query: String,
                  $orderBy: [ExperimentOrder!]) {
  namespace(name: $ns) { experiments(first: $first, after: $after, query: $query,
                                     orderBy: $orderBy) {
    edges { cursor node { %s } } pageInfo { hasNextPage endCursor } } } }"""
NAMES = SEARCH % "id name"
FULL = SEARCH % "id name status"
EVERY = """query($query: String, $orderBy: [ExperimentOrder!]) {
  experiments(first: 100, query: $query, orderBy: $orderBy) { edges { node { name } } } }"""
BY_NAME = [{"field": "name", "direction": "ASC"}]


async def three_ways(api: Api, namespace: str, query: str, order: list[Any]) -> list[Any]:
    """The names (or error codes) each of the three selections gives for `query`."""
    outcomes: list[Any] = []
    for selection in (NAMES, FULL, EVERY):
        variables = {"ns": namespace, "first": 100, "query": query, "orderBy": order}
        if selection == EVERY:
            del variables["ns"], variables["first"]
        body = await api.post(selection, variables)
        if body.get("errors"):
            outcomes.append([e.get("extensions", {}).get("code") for e in body["errors"]])
            continue
        found = body["data"].get("namespace") or body["data"]
        outcomes.append([edge["node"]["name"] for edge in found["experiments"]["edges"]])
    return outcomes


async def test_whole_numbers_beyond_64_bits_and_near_them_are_searched_exactly(api: Api) -> None:
    # The text grammar read whole numbers through a double: 2**63 - 1 became 2**63, which
    # MongoDB cannot hold (an internal error from the database, while the index answered),
    # and 2**53 + 1 became 2**53 (another run's value).
    values = {"max": 2**63 - 1, "odd": 2**53 + 1, "even": 2**53, "small": 1, "text": "1"}
    values["digits"] = str(2**64 - 1)  # a string MLflow-style '=' also compares as a number
    for name, value in values.items():
        await api.create_experiment("big", name, hyperparameters={"x": value})
    cases = {
        "params.x < 100000000000000000000000": ["even", "max", "odd", "small"],
        "params.x > -100000000000000000000000 and params.x < 2": ["small"],
        "params.x = 9223372036854775807": ["max"],
        "params.x >= 9223372036854775807": ["max"],
        "params.x = 9007199254740993": ["odd"],
        "params.x in (9007199254740992, 18446744073709551615)": ["even"],
        "params.x = '18446744073709551615'": ["digits"],
        "params.x = '9223372036854775807'": ["max"],
    }
    for query, names in cases.items():
        for order in (BY_NAME, []):
            want = names if order else sorted(names, key=list(values).index, reverse=True)
            assert await three_ways(api, "big", query, order) == [want] * 3, (query, order)
