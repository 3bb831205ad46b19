"""NMS against a plain, obviously-correct greedy implementation, on random and tie-heavy inputs."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssdlite_detect.nms import iou_matrix, non_max_suppression

from naive_nms import iou, naive_nms


def random_boxes(rng, n, spread=1.0):
    centres = rng.uniform(0, spread, (n, 2))
    sizes = rng.uniform(0.02, 0.4, (n, 2))
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], 1)[:, [0, 1, 2, 3]]
    return boxes.astype(np.float32)


@settings(max_examples=80, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 400),
    levels=st.sampled_from([3, 16, 256]),  # few levels = heavy ties, as with uint8 scores
    threshold=st.sampled_from([0.0, 0.3, 0.5, 0.6, 1.0]),
    max_output=st.integers(0, 120),
)
def test_agnostic_matches_naive_greedy(seed, n, levels, threshold, max_output):
    rng = np.random.default_rng(seed)
    boxes = random_boxes(rng, n, spread=rng.uniform(0.05, 1.0))
    scores = rng.integers(0, levels, n).astype(np.uint8)
    assert non_max_suppression(boxes, scores, threshold, max_output).tolist() == naive_nms(boxes, scores, threshold, max_output)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 300),
    num_groups=st.integers(1, 6),
    max_per_group=st.one_of(st.none(), st.integers(1, 5)),
    max_output=st.integers(1, 50),
)
def test_per_group_matches_naive_greedy(seed, n, num_groups, max_per_group, max_output):
    rng = np.random.default_rng(seed)
    boxes = random_boxes(rng, n, spread=0.3)
    scores = rng.random(n).astype(np.float32).round(2)
    groups = rng.integers(0, num_groups, n)
    ours = non_max_suppression(boxes, scores, 0.5, max_output, groups, max_per_group)
    assert ours.tolist() == naive_nms(boxes, scores, 0.5, max_output, groups, max_per_group)


def test_boxes_can_come_from_a_function_and_only_visited_ones_are_fetched():
    rng = np.random.default_rng(1)
    boxes = random_boxes(rng, 5000)
    scores = rng.random(5000).astype(np.float32)
    fetched = []

    def box_source(indices):
        fetched.append(len(indices))
        return boxes[indices]

    kept = non_max_suppression(box_source, scores, 0.6, 10)
    assert kept.tolist() == non_max_suppression(boxes, scores, 0.6, 10).tolist()
    assert sum(fetched) < 200  # a small first chunk, not all 5000


def test_ties_are_visited_in_index_order_across_chunk_boundaries():
    # 300 identical boxes with one score: the first index must win, whatever the chunking.
    boxes = np.tile(np.array([[0.1, 0.1, 0.5, 0.5]], np.float32), (300, 1))
    scores = np.full(300, 7, np.uint8)
    scores[:5] = 3
    assert non_max_suppression(boxes, scores, 0.5, 10).tolist() == [5]


def test_degenerate_boxes_never_suppress():
    boxes = np.array([[0.2, 0.2, 0.2, 0.6], [0.2, 0.2, 0.4, 0.6]], np.float32)
    assert non_max_suppression(boxes, np.array([2, 1]), 0.0, 5).tolist() == [0, 1]


def test_iou_matrix_matches_pairwise_definition():
    rng = np.random.default_rng(3)
    a, b = random_boxes(rng, 7), random_boxes(rng, 5)
    expected = np.array([[iou(x, y) for y in b] for x in a], np.float32)
    np.testing.assert_allclose(iou_matrix(a, b), expected, rtol=1e-6, atol=1e-7)


def test_bad_arguments():
    with pytest.raises(ValueError, match="boxes but"):
        non_max_suppression(np.zeros((3, 4)), np.zeros(2), 0.5, 1)
    with pytest.raises(ValueError, match="needs groups"):
        non_max_suppression(np.zeros((3, 4)), np.zeros(3), 0.5, 1, max_per_group=2)
    assert non_max_suppression(np.zeros((3, 4)), np.zeros(3), 0.5, 0).size == 0
