"""Minimum-cost assignment in numpy, for the board (mickledore's meta-python has no scipy).

linear_sum_assignment(cost) answers what scipy.optimize.linear_sum_assignment answers (the tests
compare them on random matrices): the shortest augmenting path method (Jonker-Volgenant, in the
form of Crouse, "On implementing 2D rectangular assignment algorithms", IEEE TAES 2016, which
scipy implements too), one row at a time, each step a few vectorised numpy operations.

match(cost, cost_limit) is the tracker's question, lap.lapjv(cost, extend_cost=True,
cost_limit=...) as ByteTrack asks it: pair rows and columns so that the sum of the pairs' costs
plus cost_limit / 2 for every row and column left alone is least, i.e. a pair is made only where
it pays (its cost < cost_limit). Pairs that cannot pay are never edges, so the problem falls apart
into the connected parts of the "can pair" graph: in a tracker almost every part is one track and
the one detection over it (paired at once), and only where objects overlap is a small
assignment solved.
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np


def linear_sum_assignment(cost) -> Tuple[np.ndarray, np.ndarray]:
    """(row indices, column indices) of a least-cost complete assignment of the smaller side,
    rows in increasing order. ValueError for NaN, or infinite costs that leave no assignment."""
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2:
        raise ValueError("the cost matrix must be 2-D")
    if np.isnan(cost).any() or np.isneginf(cost).any():
        raise ValueError("the cost matrix contains NaN or -inf")
    transposed = cost.shape[0] > cost.shape[1]
    if transposed:
        cost = cost.T
    rows, columns = cost.shape
    if rows == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty.copy()
    u = np.zeros(rows)
    v = np.zeros(columns)
    column_of_row = np.full(rows, -1, dtype=np.intp)
    row_of_column = np.full(columns, -1, dtype=np.intp)
    for current in range(rows):
        shortest = np.full(columns, np.inf)
        path = np.full(columns, -1, dtype=np.intp)
        rows_seen = np.zeros(rows, dtype=bool)
        columns_seen = np.zeros(columns, dtype=bool)
        distance = 0.0
        row = current
        sink = -1
        while sink < 0:
            rows_seen[row] = True
            reduced = distance + cost[row] - u[row] - v
            shorter = ~columns_seen & (reduced < shortest)
            path[shorter] = row
            shortest[shorter] = reduced[shorter]
            open_shortest = np.where(columns_seen, np.inf, shortest)
            lowest = open_shortest.min()
            if not np.isfinite(lowest):
                raise ValueError("the cost matrix is infeasible")
            ties = np.flatnonzero(open_shortest == lowest)
            free = ties[row_of_column[ties] < 0]  # prefer ending the path over going on
            column = int(free[0] if free.size else ties[0])
            distance = lowest
            columns_seen[column] = True
            if row_of_column[column] < 0:
                sink = column
            else:
                row = int(row_of_column[column])
        # Dual update, then flip the path's pairs.
        u[current] += distance
        others = rows_seen.copy()
        others[current] = False
        u[others] += distance - shortest[column_of_row[others]]
        v[columns_seen] -= distance - shortest[columns_seen]
        column = sink
        while True:
            row = int(path[column])
            row_of_column[column] = row
            column_of_row[row], column = column, column_of_row[row]
            if row == current:
                break
    if transposed:
        order = np.argsort(column_of_row)
        return column_of_row[order], np.arange(rows, dtype=np.intp)[order]
    return np.arange(rows, dtype=np.intp), column_of_row


def _components(edge_rows: List[int], edge_columns: List[int], rows: int, columns: int) -> List[Tuple[List[int], List[int]]]:
    """The connected parts (row indices, column indices) of the bipartite graph of these edges:
    union-find (the edges are few: a tracker's boxes overlap few others)."""
    parent = list(range(rows + columns))  # rows, then columns

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for row, column in zip(edge_rows, edge_columns):
        a, b = root(row), root(rows + column)
        if a != b:
            parent[b] = a
    members: dict = {}
    for row, column in zip(edge_rows, edge_columns):
        part = members.setdefault(root(row), (set(), set()))
        part[0].add(row)
        part[1].add(column)
    return [(sorted(part_rows), sorted(part_columns)) for part_rows, part_columns in members.values()]


def match(cost, cost_limit: float) -> Tuple[List[Tuple[int, int]], List[int], List[int]]:
    """(pairs (row, column), unpaired rows, unpaired columns), the least total of paired costs
    plus cost_limit / 2 per unpaired row and column (see the module doc). Pairs in row order."""
    cost = np.asarray(cost, dtype=np.float64)
    rows, columns = cost.shape
    if rows == 0 or columns == 0:
        return [], list(range(rows)), list(range(columns))
    feasible = cost < cost_limit  # NaN compares False: never a pair
    edge_rows, edge_columns = (edges.tolist() for edges in np.nonzero(feasible))
    if len(set(edge_rows)) == len(edge_rows) and len(set(edge_columns)) == len(edge_columns):
        # Every row and column has at most one possible partner (objects apart): nothing to solve.
        return _result(list(zip(edge_rows, edge_columns)), rows, columns)
    pairs = []
    for part_rows, part_columns in _components(edge_rows, edge_columns, rows, columns):
        if len(part_rows) == 1 and len(part_columns) == 1:
            pairs.append((part_rows[0], part_columns[0]))
            continue
        if len(part_rows) == 1 or len(part_columns) == 1:
            # One track between detections (or one detection between tracks), the usual overlap:
            # the least cost pairs, the first of equal ones, as linear_sum_assignment chooses
            # (its first free column of the least reduced cost), without its numpy loop.
            costs = cost[part_rows[0], part_columns] if len(part_rows) == 1 else cost[part_rows, part_columns[0]]
            best = int(np.argmin(costs))
            row, column = (part_rows[0], part_columns[best]) if len(part_rows) == 1 else (part_rows[best], part_columns[0])
            pairs.append((row, column))  # a component's edges are feasible: its least cost pays
            continue
        # With the cost limit, the total is (rows + columns) * limit / 2 plus (cost - limit) for
        # every pair made: so the least total is the least-cost assignment of min(cost - limit, 0),
        # in which a pair that cannot pay is worth as much as no pair (and is then dropped).
        block = cost[np.ix_(part_rows, part_columns)]
        chosen_rows, chosen_columns = linear_sum_assignment(np.minimum(block - cost_limit, 0.0))
        for row, column in zip(chosen_rows.tolist(), chosen_columns.tolist()):
            if block[row, column] < cost_limit:
                pairs.append((part_rows[row], part_columns[column]))
    pairs.sort()
    return _result(pairs, rows, columns)


def _result(pairs: List[Tuple[int, int]], rows: int, columns: int) -> Tuple[List[Tuple[int, int]], List[int], List[int]]:
    paired_rows = {row for row, _ in pairs}
    paired_columns = {column for _, column in pairs}
    return (
        pairs,
        [row for row in range(rows) if row not in paired_rows],
        [column for column in range(columns) if column not in paired_columns],
    )
