"""Steps are 64-bit: language-model runs count tokens past 2^31."""

from __future__ import annotations

from tests.api import Api
from tests.metrics import DOWNSAMPLED, log, points, series_of

BIG = 2**40


async def test_a_step_of_2_to_the_40_is_stored_and_read_back_exactly(api: Api) -> None:
    run = await api.create_experiment("llm", "tokens")
    # Long enough for the columnar short cut on the way in, with 64-bit steps in it.
    steps = [BIG + i * 1_000_000 for i in range(200)]
    await log(api, run["id"], {"key": "loss", "steps": steps, "values": [1.0] * 200})
    await log(api, run["id"], {"key": "one", "steps": [BIG], "values": [0.5]})

    [loss, one] = await series_of(api, run["id"])
    assert (loss["firstStep"], loss["lastStep"]) == (BIG, steps[-1])
    assert loss["last"]["step"] == steps[-1]
    assert one["last"]["step"] == BIG
    assert (await points(api, run["id"], "loss"))["steps"] == steps
    page = await points(api, run["id"], "loss", **{"from": BIG + 5_000_000, "limit": 3})
    assert page["steps"] == steps[5:8]
    data = await api.ok(DOWNSAMPLED, {"id": run["id"], "key": "loss", "max": 8})
    sampled = data["node"]["metric"]["downsampled"]["steps"]
    assert sampled[0] == BIG and sampled[-1] == steps[-1]

    checkpoint = await api.create_checkpoint(run["id"], BIG + 7)
    data = await api.ok(
        "query($id: ID!) { node(id: $id) { ... on Checkpoint { step } } }", {"id": checkpoint["id"]}
    )
    assert data["node"]["step"] == BIG + 7


async def test_a_step_past_64_bits_is_refused(api: Api) -> None:
    run = await api.create_experiment("llm", "overflow")
    codes = await api.fails(
        """mutation($id: ID!) { logMetrics(input: {subjectId: $id,
             series: [{key: "x", steps: [9223372036854775808], values: [1.0]}]}) { accepted } }""",
        {"id": run["id"]},
    )
    assert codes == ["BAD_USER_INPUT"]
    assert await series_of(api, run["id"]) == []
