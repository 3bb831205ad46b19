"""The board's assignment (numpy) against scipy's on the host, on random cost matrices."""
from __future__ import annotations

import numpy as np
import pytest

from ssdlite_detect.tracking.assignment import linear_sum_assignment, match

scipy_optimize = pytest.importorskip("scipy.optimize", reason="scipy is the host's reference (requirements/app.txt)")


@pytest.mark.parametrize("seed", range(6))
def test_the_same_least_cost_as_scipy_on_random_matrices(seed):
    rng = np.random.default_rng(seed)
    for _ in range(300):
        rows, columns = rng.integers(1, 14, size=2)
        cost = rng.random((rows, columns)) * rng.choice([1.0, 1000.0])
        if rng.random() < 0.3:
            cost = np.round(cost * 4)  # ties
        expected_rows, expected_columns = scipy_optimize.linear_sum_assignment(cost)
        got_rows, got_columns = linear_sum_assignment(cost)
        assert cost[got_rows, got_columns].sum() == pytest.approx(cost[expected_rows, expected_columns].sum())
        assert len(got_rows) == min(rows, columns)
        assert len(set(got_columns.tolist())) == len(got_columns)
        assert list(got_rows) == sorted(got_rows)


def test_infinite_costs_are_forbidden_pairs():
    cost = np.array([[1.0, np.inf], [np.inf, 2.0]])
    rows, columns = linear_sum_assignment(cost)
    assert list(zip(rows, columns)) == [(0, 0), (1, 1)]
    with pytest.raises(ValueError):
        linear_sum_assignment(np.array([[np.inf, np.inf], [1.0, 2.0]]))
    with pytest.raises(ValueError):
        linear_sum_assignment(np.array([[np.nan]]))


def _lapjv_extended(cost: np.ndarray, limit: float) -> float:
    """The least total with lapjv's cost limit, by scipy on the extended matrix."""
    rows, columns = cost.shape
    if rows == 0 or columns == 0:
        return (rows + columns) * limit / 2
    big = 1e9
    extended = np.full((rows + columns, columns + rows), big)
    extended[:rows, :columns] = np.where(cost < limit, cost, big)
    extended[np.arange(rows), columns + np.arange(rows)] = limit / 2
    extended[rows + np.arange(columns), np.arange(columns)] = limit / 2
    extended[rows:, columns:] = 0.0
    chosen = scipy_optimize.linear_sum_assignment(extended)
    return extended[chosen].sum()


@pytest.mark.parametrize("seed", range(4))
def test_match_is_lapjv_with_a_cost_limit(seed):
    rng = np.random.default_rng(100 + seed)
    for _ in range(400):
        rows, columns = rng.integers(0, 12, size=2)
        cost = rng.random((rows, columns))
        limit = float(rng.choice([0.2, 0.5, 0.8]))
        pairs, lone_rows, lone_columns = match(cost, limit)
        total = sum(cost[r, c] for r, c in pairs) + (len(lone_rows) + len(lone_columns)) * limit / 2
        assert total == pytest.approx(_lapjv_extended(cost, limit))
        assert all(cost[r, c] < limit for r, c in pairs)
        assert sorted([r for r, _ in pairs] + lone_rows) == list(range(rows))
        assert sorted([c for _, c in pairs] + lone_columns) == list(range(columns))


@pytest.mark.parametrize("transposed", [False, True])
def test_one_track_between_detections_pairs_as_the_solver_does(transposed):
    # A component of one row (or one column), the tracker's usual overlap, is paired without the
    # solver: the same pair as linear_sum_assignment's, the first of equal costs included.
    rng = np.random.default_rng(7)
    for _ in range(300):
        costs = np.round(rng.random(int(rng.integers(2, 9))) * 4) / 10  # ties, all below the limit
        cost = costs[:, None] if transposed else costs[None, :]
        limit = 0.45
        solver_rows, solver_columns = linear_sum_assignment(np.minimum(cost - limit, 0.0))
        pairs, _, _ = match(cost, limit)
        assert pairs == list(zip(solver_rows.tolist(), solver_columns.tolist()))
