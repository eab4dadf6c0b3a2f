"""M4 downsampling (store/metrics/downsampling.py): pure functions, no database."""

from __future__ import annotations

from modelbox.server.store.metrics.columns import BYTES, FLOAT, Columns
from modelbox.server.store.metrics.downsampling import extremes, m4


def series(values: list[float], kind: str = FLOAT, start: int = 0) -> Columns:
    steps = list(range(start, start + len(values)))
    return Columns(kind, steps, [float(s) for s in steps], list(values))


def test_extremes_picks_first_min_max_last_of_each_group_in_order() -> None:
    values = [5.0, 1.0, 9.0, 4.0, 3.0, 3.0, 8.0, 0.0, 2.0, 7.0]
    assert extremes(values, [(0, 4), (4, 10)]) == [0, 1, 2, 3, 4, 6, 7, 9]


def test_extremes_merges_coinciding_picks_and_skips_empty_groups() -> None:
    # Ascending: first is the minimum and last the maximum, so two indexes per group.
    assert extremes([1.0, 2.0, 3.0], [(0, 3), (3, 3)]) == [0, 2]
    assert extremes([4.0], [(0, 1)]) == [0]


def test_m4_keeps_a_short_series_whole() -> None:
    columns = series([3.0, 1.0, 2.0])
    assert m4(columns, 3) is columns


def test_m4_stays_within_max_points_and_keeps_first_last_and_spikes() -> None:
    values = [0.0] * 10_000
    values[1234], values[8765] = 100.0, -100.0
    sampled = m4(series(values), 40)
    assert len(sampled) <= 40
    assert sampled.steps[0] == 0 and sampled.steps[-1] == 9_999
    assert 100.0 in sampled.column and -100.0 in sampled.column
    assert sampled.steps == sorted(sampled.steps)
    assert all(sampled.wallclocks[i] == sampled.steps[i] for i in range(len(sampled)))


def test_m4_groups_by_step_width_not_by_point_count() -> None:
    # 1,000 points in steps 0..999, then one at step 100,000: with 2 groups of equal step
    # width, the first group holds the dense part and the second only the far point.
    dense = series([float(i % 7) for i in range(1000)])
    columns = Columns(
        FLOAT, [*dense.steps, 100_000], [*dense.wallclocks, 0.0], [*dense.column, 1.0]
    )
    sampled = m4(columns, 8)
    assert sampled.steps[-1] == 100_000
    assert sampled.steps.count(100_000) == 1 and len(sampled) <= 8


def test_m4_keeps_first_and_last_of_each_group_for_bytes() -> None:
    values = [bytes([i % 256]) for i in range(100)]
    sampled = m4(Columns(BYTES, list(range(100)), [0.0] * 100, values), 10)
    assert len(sampled) == 10
    assert sampled.steps == [0, 19, 20, 39, 40, 59, 60, 79, 80, 99]


def test_m4_below_one_group_spaces_points_evenly() -> None:
    columns = series([float(i) for i in range(101)])
    assert m4(columns, 1).steps == [100]
    assert m4(columns, 3).steps == [0, 50, 100]
