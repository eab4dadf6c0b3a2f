"""NaN and infinities in float series: sent beside the column, stored, read back, and kept
out of min/max while a plot still shows them."""

from __future__ import annotations

from modelbox.server.store.metrics.downsampling import extremes
from tests.api import Api
from tests.metrics import DOWNSAMPLED, LOG, log, points, series_of

POINTS_NF = """query($id: ID!, $key: String!) { node(id: $id) { ... on Experiment {
  metric(key: $key) { min max last { step value nonFinite }
    points { steps values nonFinite { index value } } } } } }"""


async def test_non_finite_values_are_stored_and_read_back_beside_the_column(api: Api) -> None:
    run = await api.create_experiment("vision", "diverging")
    result = await log(
        api,
        run["id"],
        {
            "key": "loss",
            "steps": [0, 1, 2, 3, 4],
            "values": [0.5, 0, 0.25, 0, 0],
            "nonFinite": [
                {"index": 1, "value": "INFINITY"},
                {"index": 3, "value": "NEGATIVE_INFINITY"},
                {"index": 4, "value": "NAN"},
            ],
        },
    )
    assert result == {"accepted": 5, "duplicate": False}
    data = await api.ok(POINTS_NF, {"id": run["id"], "key": "loss"})
    metric = data["node"]["metric"]
    assert metric["points"] == {
        "steps": [0, 1, 2, 3, 4],
        "values": [0.5, None, 0.25, None, None],
        "nonFinite": [
            {"index": 1, "value": "INFINITY"},
            {"index": 3, "value": "NEGATIVE_INFINITY"},
            {"index": 4, "value": "NAN"},
        ],
    }
    assert (metric["min"], metric["max"]) == (0.25, 0.5), "min and max of the finite values"
    assert metric["last"] == {"step": 4, "value": None, "nonFinite": "NAN"}
    finite = await points(api, run["id"], "loss")
    assert finite["values"][0] == 0.5


async def test_a_series_of_only_nan_has_no_min_or_max(api: Api) -> None:
    run = await api.create_experiment("vision", "all-nan")
    await log(
        api,
        run["id"],
        {"key": "loss", "steps": [0], "values": [0], "nonFinite": [{"index": 0, "value": "NAN"}]},
    )
    [summary] = await series_of(api, run["id"])
    assert (summary["count"], summary["min"], summary["max"]) == (1, None, None)


async def test_a_plot_shows_a_nan_instead_of_hiding_it(api: Api) -> None:
    run = await api.create_experiment("vision", "spike")
    values = [float(i % 7) for i in range(4000)]
    await log(
        api,
        run["id"],
        {
            "key": "loss",
            "steps": list(range(4000)),
            "values": values,
            "nonFinite": [{"index": 2500, "value": "NAN"}],
        },
    )
    query = DOWNSAMPLED.replace("{ steps values }", "{ steps values nonFinite { index value } }")
    data = await api.ok(query, {"id": run["id"], "key": "loss", "max": 40})
    plot = data["node"]["metric"]["downsampled"]
    assert len(plot["steps"]) <= 40
    assert [plot["steps"][item["index"]] for item in plot["nonFinite"]] == [2500]
    assert max(v for v in plot["values"] if v is not None) == 6.0, "the other spikes survive"


async def test_bad_non_finite_positions_are_refused_and_nothing_is_logged(api: Api) -> None:
    run = await api.create_experiment("vision", "refused")
    cases = [
        (
            {"key": "a", "steps": [0], "values": [0], "nonFinite": [{"index": 1, "value": "NAN"}]},
            "within the 1 values",
        ),
        (
            {
                "key": "a",
                "steps": [0, 1],
                "values": [0, 0],
                "nonFinite": [{"index": 0, "value": "NAN"}, {"index": 0, "value": "INFINITY"}],
            },
            "named twice",
        ),
        (
            {
                "key": "a",
                "steps": [0],
                "tensors": ["x"],
                "nonFinite": [{"index": 0, "value": "NAN"}],
            },
            "only a values",
        ),
    ]
    for series, message in cases:
        body = await api.post(LOG, {"input": {"subjectId": run["id"], "series": [series]}})
        [error] = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT" and message in error["message"]
    assert await series_of(api, run["id"]) == []
    literal = (
        "mutation($id: ID!) { logMetrics(input: {subjectId: $id,"
        ' series: [{key: "a", steps: [0], values: [1e999]}]}) { accepted } }'
    )
    body = await api.post(literal, {"id": run["id"]})
    assert "send those in nonFinite" in body["errors"][0]["message"]
    assert await series_of(api, run["id"]) == []


def test_extremes_put_a_groups_first_nan_in_the_maximums_place() -> None:
    nan = float("nan")
    values = [1.0, nan, 3.0, -2.0, 5.0, 0.0, float("inf"), 4.0]
    assert extremes(values, [(0, 4), (4, 8)]) == [0, 1, 3, 4, 5, 6, 7]
    assert extremes([nan, nan], [(0, 2)]) == [0, 1]
