"""Greedy non-maximum suppression, class-agnostic or per class, on numpy arrays.

Semantics follow TFLite's TFLite_Detection_PostProcess (NonMaxSuppressionSingleClassHelper):
candidates are visited by descending score, ties in ascending index order (a stable sort); a
candidate is kept unless a kept candidate before it overlaps it with IoU > iou_threshold; the
walk stops once `max_output` are kept. With `groups` (class ids), only candidates of the same
group suppress each other and each group keeps at most `max_per_group`: the TF Object Detection
API's per-class multiclass_non_max_suppression followed by a merge of the top scores.

Speed: usually only a few dozen candidates are visited before `max_output` boxes are kept, so the
candidates are ordered lazily in growing chunks (np.partition, then a stable sort of the chunk),
their boxes are fetched per chunk (the caller can decode lazily), and the greedy walk inside a
chunk reads a precomputed IoU matrix instead of calling numpy once per pair.
"""
from __future__ import annotations

from typing import Callable, Iterator, Optional, Tuple, Union

import numpy as np


BoxSource = Union[np.ndarray, Callable[[np.ndarray], np.ndarray]]

# Enough for max_output boxes plus the ones they suppress in most images; ties may add more.
_FIRST_CHUNK = 32
_CHUNK_GROWTH = 4
_PREFIX_GROWTH = 16
# The in-chunk IoU matrix is chunk x chunk float32: 1024 keeps it at 4 MiB.
_MAX_CHUNK = 1024


def _descending_chunks(scores: np.ndarray, first_chunk: int) -> Iterator[np.ndarray]:
    """Indices of `scores` in descending order, ties ascending, yielded as chunks of growing size.

    Orders a prefix at a time (np.partition, then a stable sort of the prefix), each prefix
    _PREFIX_GROWTH times the last, so that a walk which stops early never sorts everything and a
    long walk (per-class NMS at a 1e-8 threshold) partitions the candidates only a few times.
    """
    # Negated float64 keys give a descending stable sort for every integer and float dtype.
    keys = -scores.astype(np.float64)
    if keys.size <= first_chunk:  # the usual case at an application's threshold: one chunk
        if keys.size:
            yield np.argsort(keys, kind="stable")
        return
    remaining = np.arange(scores.shape[0])
    prefix = chunk = first_chunk
    while remaining.size:
        if remaining.size > prefix:
            remaining_keys = keys[remaining]
            # Everything tied with the prefix-th best score joins this prefix, so ties are never
            # split between prefixes (they would otherwise be visited out of index order).
            cutoff = np.partition(remaining_keys, prefix - 1)[prefix - 1]
            in_prefix = remaining_keys <= cutoff
            head, remaining = remaining[in_prefix], remaining[~in_prefix]
        else:
            head, remaining = remaining, remaining[:0]
        ordered = head[np.argsort(keys[head], kind="stable")]
        start = 0
        while start < ordered.size:
            yield ordered[start : start + chunk]
            start += chunk
            chunk = min(chunk * _CHUNK_GROWTH, _MAX_CHUNK)
        prefix *= _PREFIX_GROWTH


def iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """[A, B] IoU of (ymin, xmin, ymax, xmax) boxes in float32.

    As TFLite's ComputeIntersectionOverUnion: a pair where either box has area <= 0 has IoU 0.
    Written with few temporaries and in-place operations: for the small chunks NMS works on,
    numpy's per-call overhead is most of the cost. Columns [A, 1] against rows [B]: every
    operation's inner loop runs along B (an [A, B, 2] layout would make it 2 long, several times
    slower on a 300-candidate chunk).
    """
    ymin_a, xmin_a, ymax_a, xmax_a = (boxes_a[:, k : k + 1] for k in range(4))  # columns, [A, 1]
    ymin_b, xmin_b, ymax_b, xmax_b = (boxes_b[:, k] for k in range(4))          # rows, [B]
    intersection = np.minimum(ymax_a, ymax_b)
    intersection -= np.maximum(ymin_a, ymin_b)
    np.maximum(intersection, 0, out=intersection)
    width = np.minimum(xmax_a, xmax_b)
    width -= np.maximum(xmin_a, xmin_b)
    np.maximum(width, 0, out=width)
    intersection *= width
    areas_a = (ymax_a - ymin_a) * (xmax_a - xmin_a)
    areas_b = (ymax_b - ymin_b) * (xmax_b - xmin_b)
    union = areas_a + areas_b
    union -= intersection
    with np.errstate(divide="ignore", invalid="ignore"):
        intersection /= union  # now the IoU
    if (areas_a <= 0).any() or (areas_b <= 0).any():
        intersection[(areas_a <= 0) | (areas_b <= 0)] = 0
    return intersection


def _bits(mask: np.ndarray) -> int:
    """A boolean vector as an int whose bit i is mask[i]."""
    return int.from_bytes(np.packbits(mask, bitorder="little").tobytes(), "little")


def non_max_suppression(
    boxes: BoxSource,
    scores: np.ndarray,
    iou_threshold: float,
    max_output: int,
    groups: Optional[np.ndarray] = None,
    max_per_group: Optional[int] = None,
) -> np.ndarray:
    """Indices of the kept candidates, in the order they were kept (descending score); see
    non_max_suppression_with_boxes for the arguments."""
    return non_max_suppression_with_boxes(boxes, scores, iou_threshold, max_output, groups, max_per_group)[0]


def non_max_suppression_with_boxes(
    boxes: BoxSource,
    scores: np.ndarray,
    iou_threshold: float,
    max_output: int,
    groups: Optional[np.ndarray] = None,
    max_per_group: Optional[int] = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """(indices of the kept candidates in the order they were kept, their [K, 4] float32 boxes).

    boxes: [M, 4] (ymin, xmin, ymax, xmax), or a function from candidate indices to their boxes
    (so a caller can decode only the candidates that are visited); scores: [M], any numeric
    dtype (quantised is fine: only the order matters); groups: optional [M] integer ids.
    """
    scores = np.asarray(scores).reshape(-1)
    if callable(boxes):
        boxes_of = boxes
    else:
        all_boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
        if all_boxes.shape[0] != scores.shape[0]:
            raise ValueError(f"{all_boxes.shape[0]} boxes but {scores.shape[0]} scores")
        boxes_of = all_boxes.__getitem__
    if max_per_group is not None and groups is None:
        raise ValueError("max_per_group needs groups")
    if max_output <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 4), np.float32)
    threshold = np.float32(iou_threshold)
    kept: list[int] = []
    kept_boxes = np.zeros((0, 4), np.float32)
    kept_groups = np.zeros(0, np.int64)
    kept_per_group: dict[int, int] = {}

    for order in _descending_chunks(scores, min(max(_FIRST_CHUNK, 3 * max_output), _MAX_CHUNK)):
        chunk_boxes = np.asarray(boxes_of(order), dtype=np.float32).reshape(-1, 4)
        chunk_groups = groups[order] if groups is not None else None
        # suppresses[i, j]: chunk candidate i, if kept, removes candidate j. Only j after i
        # matters: the walk never looks back (the triangle below the diagonal is left as it is).
        suppresses = iou_matrix(chunk_boxes, chunk_boxes) > threshold
        if chunk_groups is not None:
            suppresses &= chunk_groups[:, None] == chunk_groups
        # The walk on Python ints, bit j standing for candidate j: `active` holds the candidates
        # not yet suppressed, each kept candidate's row of `suppresses` is read as an int.
        if kept:  # boxes kept in earlier chunks suppress this chunk too
            overlapped = iou_matrix(kept_boxes, chunk_boxes) > threshold
            if chunk_groups is not None:
                overlapped &= kept_groups[:, None] == chunk_groups
            blocked = overlapped.any(axis=0)
            full = [g for g, n in kept_per_group.items() if max_per_group is not None and n >= max_per_group]
            if full:
                blocked |= np.isin(chunk_groups, full)
            active = _bits(~blocked)
        else:
            active = (1 << order.shape[0]) - 1
        rows = np.packbits(suppresses, axis=1, bitorder="little")
        row_bytes, width = rows.tobytes(), rows.shape[1]
        group_of = chunk_groups.tolist() if chunk_groups is not None else None
        kept_in_chunk = []
        room = max_output - len(kept)
        while active:
            lowest = active & -active
            position = lowest.bit_length() - 1
            active ^= lowest
            kept_in_chunk.append(position)
            room -= 1
            if not room:
                break
            active &= ~int.from_bytes(row_bytes[position * width:(position + 1) * width], "little")
            if group_of is not None:
                group = group_of[position]
                kept_per_group[group] = kept_per_group.get(group, 0) + 1
                if max_per_group is not None and kept_per_group[group] >= max_per_group:
                    active &= ~_bits(chunk_groups == group)
        kept.extend(order[kept_in_chunk].tolist())
        kept_boxes = np.concatenate([kept_boxes, chunk_boxes[kept_in_chunk]]) if kept_boxes.size else chunk_boxes[kept_in_chunk]
        if not room:
            break
        if chunk_groups is not None:
            kept_groups = np.concatenate([kept_groups, chunk_groups[kept_in_chunk]])
    return np.asarray(kept, dtype=np.int64), kept_boxes
