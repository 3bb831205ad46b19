"""Decoding + NMS against TFLite's own TFLite_Detection_PostProcess op (the ground truth).

The op's options in the reference model: agnostic fast NMS, 10 detections, IoU 0.6, score
threshold 1e-8, scales 10/10/5/5, scores already probabilities (uint8, 1/256), anchors from its
own quantised `anchors` tensor. Our SSDPostprocessor, configured alike, must return the same count,
classes and scores, and boxes within 1e-4 once both are clipped to [0, 1].
"""
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from ssdlite_detect.postprocess import LowBand, PostprocessConfig, RawDetections, SSDPostprocessor, postprocess
from ssdlite_detect.scores import LOGITS, PROBABILITIES, ScoreDecoder

from naive_nms import iou, naive_nms

OP_CONFIG = PostprocessConfig(score_threshold=1e-8, iou_threshold=0.6, max_detections=10, nms="agnostic")


def our_postprocessor(reference_ssd, config=OP_CONFIG):
    scores = reference_ssd.scores
    return SSDPostprocessor(
        reference_ssd.anchors, config, ScoreDecoder(PROBABILITIES, scores.quantization, scores.dtype),
        box_quantization=reference_ssd.boxes.quantization,
    )


def assert_same_as_op(ours: RawDetections, op_result):
    op_boxes, op_classes, op_scores = op_result
    assert len(ours) == len(op_scores)
    np.testing.assert_array_equal(ours.class_ids, op_classes)
    np.testing.assert_array_equal(ours.scores, op_scores)
    np.testing.assert_allclose(np.clip(ours.boxes, 0, 1), np.clip(op_boxes, 0, 1), atol=1e-4, rtol=0)


def photo_variants(image: Image.Image):
    width, height = image.size
    yield "bus", image
    yield "mirrored", ImageOps.mirror(image)
    yield "crop-left", image.crop((0, 0, width // 2, height))
    yield "crop-centre", image.crop((width // 4, height // 4, 3 * width // 4, 3 * height // 4))
    yield "rotated", image.rotate(90, expand=True)
    yield "dark", Image.eval(image, lambda v: v // 4)
    yield "blank-grey", Image.new("RGB", (300, 300), (128, 128, 128))


@pytest.mark.parametrize("variant", [name for name, _ in photo_variants(Image.new("RGB", (4, 4)))])
def test_real_photo_outputs_match_the_tflite_op(reference_ssd, tflite_op, bus_image, variant):
    image = dict(photo_variants(bus_image))[variant]
    boxes, scores = reference_ssd.raw_outputs(image)
    ours = our_postprocessor(reference_ssd)(boxes, scores)
    op_result = tflite_op(boxes, scores)
    assert_same_as_op(ours, op_result)
    # Stronger than the 1e-4 criterion: decoding rounds as the op does, so boxes are bit-identical.
    np.testing.assert_array_equal(ours.boxes, op_result[0])
    if variant == "bus":
        assert ours.class_ids[0] == 6 and ours.scores[0] > 0.8  # COCO id 6 = bus


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), score_levels=st.sampled_from([2, 3, 8, 256]), sparsity=st.floats(0, 0.999))
def test_random_outputs_with_heavy_ties_match_the_tflite_op(reference_ssd, tflite_op, seed, score_levels, sparsity):
    rng = np.random.default_rng(seed)
    boxes = rng.integers(150, 232, (1917, 4), dtype=np.uint8)  # encodings around the zero point 191
    scores = (rng.integers(0, score_levels, (1917, 91)) * (255 // max(score_levels - 1, 1))).astype(np.uint8)
    scores[rng.random((1917, 91)) < sparsity] = 0
    ours = our_postprocessor(reference_ssd)(boxes, scores)
    assert_same_as_op(ours, tflite_op(boxes, scores))


def test_all_zero_scores_give_no_detection_like_the_op(reference_ssd, tflite_op):
    boxes = np.full((1917, 4), 191, np.uint8)
    scores = np.zeros((1917, 91), np.uint8)
    assert len(our_postprocessor(reference_ssd)(boxes, scores)) == 0
    assert len(tflite_op(boxes, scores)[2]) == 0


def test_background_is_never_a_detection(reference_ssd):
    boxes = np.full((1917, 4), 191, np.uint8)
    scores = np.zeros((1917, 91), np.uint8)
    scores[:, 0] = 255
    scores[100, 5] = 10
    result = our_postprocessor(reference_ssd, PostprocessConfig(score_threshold=0.01, nms="agnostic"))(boxes, scores)
    assert result.class_ids.tolist() == [5]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 200), classes=st.integers(2, 6), max_per_class=st.integers(1, 8))
def test_per_class_nms_matches_a_plain_per_class_loop(seed, n, classes, max_per_class):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, 0.4, (n, 2))
    sizes = rng.uniform(0.05, 0.3, (n, 2))
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], 1).astype(np.float32)
    probabilities = rng.random((n, classes)).astype(np.float32).round(2)
    config = PostprocessConfig(score_threshold=0.3, iou_threshold=0.5, max_detections=20, max_per_class=max_per_class)
    ours = postprocess(boxes, probabilities, config)
    # Per class: greedy NMS capped at max_per_class; then the best max_detections of all kept.
    kept = []
    for class_id in range(1, classes):
        candidates = np.flatnonzero(probabilities[:, class_id] >= np.float32(0.3))
        for index in naive_nms(boxes[candidates], probabilities[candidates, class_id], 0.5, max_per_class):
            kept.append((-probabilities[candidates[index], class_id], candidates[index], class_id))
    expected = sorted(kept)[:20]
    assert sorted(zip((-ours.scores).tolist(), ours.class_ids.tolist())) == sorted((s, c) for s, _, c in expected)


def test_per_class_nms_keeps_overlapping_boxes_of_different_classes():
    boxes = np.array([[0.1, 0.1, 0.5, 0.5], [0.1, 0.1, 0.5, 0.52], [0.6, 0.6, 0.9, 0.9]], np.float32)
    probabilities = np.zeros((3, 4), np.float32)
    probabilities[0, 1] = 0.9   # class 1
    probabilities[1, 2] = 0.8   # class 2, same place: kept per class, suppressed agnostic
    probabilities[1, 1] = 0.7   # class 1 again on box 1: suppressed by box 0
    probabilities[2, 3] = 0.6
    per_class = postprocess(boxes, probabilities, PostprocessConfig(score_threshold=0.5, nms="class"))
    assert per_class.class_ids.tolist() == [1, 2, 3]
    agnostic = postprocess(boxes, probabilities, PostprocessConfig(score_threshold=0.5, nms="agnostic"))
    assert agnostic.class_ids.tolist() == [1, 3]


def test_per_class_limits_and_allow_list():
    rng = np.random.default_rng(0)
    centres = rng.uniform(0, 1, (50, 2))
    boxes = np.concatenate([centres - 0.01, centres + 0.01], 1).astype(np.float32)  # no overlaps
    probabilities = np.zeros((50, 4), np.float32)
    probabilities[:, 1] = np.linspace(0.9, 0.6, 50)
    probabilities[:25, 2] = 0.95
    result = postprocess(boxes, probabilities, PostprocessConfig(score_threshold=0.5, max_per_class=10, max_detections=15))
    assert result.class_ids.tolist() == [2] * 10 + [1] * 5
    only_one = postprocess(boxes, probabilities, PostprocessConfig(score_threshold=0.5, class_ids=(1,), max_detections=100))
    assert set(only_one.class_ids.tolist()) == {1} and len(only_one) == 50
    nothing = postprocess(boxes, probabilities, PostprocessConfig(class_ids=(0, 99)))
    assert len(nothing) == 0


def test_quantised_logits_threshold_in_the_raw_domain():
    anchors = np.tile(np.array([[0.5, 0.5, 0.2, 0.2]], np.float32), (3, 1))
    anchors[:, 0] = [0.2, 0.5, 0.8]
    encodings = np.zeros((3, 4), np.int8)
    logits = np.array([[0, 10, -60], [0, -5, 5], [0, -100, -100]], np.int8)  # scale 0.1: 1.0, -0.5, ...
    processor = SSDPostprocessor(anchors, PostprocessConfig(score_threshold=0.5), ScoreDecoder(LOGITS, (0.1, 0), np.dtype(np.int8)), box_quantization=(0.1, 0))
    result = processor(encodings, logits)
    assert result.class_ids.tolist() == [1, 2]
    np.testing.assert_allclose(result.scores, [1 / (1 + np.exp(-1.0)), 1 / (1 + np.exp(-0.5))], rtol=1e-6)
    assert processor.raw_threshold == 0  # sigmoid(0) = 0.5 passes


def test_impossible_threshold_returns_nothing():
    processor = SSDPostprocessor(np.zeros((2, 4), np.float32), PostprocessConfig(score_threshold=1.0),
                                 ScoreDecoder(PROBABILITIES, (0.00390625, 0), np.dtype(np.uint8)))
    assert len(processor(np.zeros((2, 4), np.uint8), np.full((2, 3), 255, np.uint8))) == 0


def test_config_validation():
    with pytest.raises(ValueError, match="nms"):
        PostprocessConfig(nms="soft")
    with pytest.raises(ValueError, match="iou_threshold"):
        PostprocessConfig(iou_threshold=1.5)


@pytest.mark.parametrize("threshold", [0, 1, 26, 128, 250, 255])
def test_candidates_above_the_threshold_are_np_nonzeros_in_its_order(threshold):
    """postprocess._above (flat indices of the mask, split): the same (row, column) pairs in the
    same order as np.nonzero, for thresholds that keep almost none and almost all, also with the
    background column skipped."""
    from ssdlite_detect.postprocess import _above

    rng = np.random.default_rng(threshold)
    scores = rng.integers(0, 256, (1917, 90), dtype=np.uint8)
    scores[rng.random(1917) < 0.9] //= 4  # most anchors low, as a real model's
    expected = np.nonzero(scores >= threshold)
    rows, columns = _above(scores, threshold)
    np.testing.assert_array_equal(rows, expected[0])
    np.testing.assert_array_equal(columns, expected[1])
    with_background = np.concatenate([rng.integers(0, 256, (1917, 1), dtype=np.uint8), scores], axis=1)
    rows, columns = _above(with_background, threshold, first_column=1)  # column 0 left out
    np.testing.assert_array_equal(rows, expected[0])
    np.testing.assert_array_equal(columns, expected[1])


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("kind", [LOGITS, PROBABILITIES])
@pytest.mark.parametrize("nms", ["class", "agnostic"])
def test_one_byte_outputs_give_what_the_conversions_give(dtype, kind, nms):
    """One-byte box encodings and scores are dequantised and converted by looking their values
    up in tables the same functions computed once: the results are bit for bit those of the same
    values read as int16, which goes through the conversions themselves."""
    rng = np.random.default_rng(11)
    anchors = np.concatenate([rng.uniform(0.1, 0.9, (600, 2)), rng.uniform(0.05, 0.5, (600, 2))], 1).astype(np.float32)
    info = np.iinfo(dtype)
    scale, zero_point = (0.05, info.min + 20) if kind == LOGITS else (1 / 256, info.min)
    config = PostprocessConfig(score_threshold=0.3, nms=nms)
    for seed in range(4):
        rng = np.random.default_rng(seed)
        encodings = rng.integers(info.min, info.max + 1, (600, 4)).astype(dtype)
        scores = rng.integers(info.min, info.max + 1, (600, 12)).astype(dtype)
        results = []
        for raw_dtype in (dtype, np.int16):
            processor = SSDPostprocessor(anchors, config, ScoreDecoder(kind, (scale, zero_point), np.dtype(raw_dtype)),
                                         box_quantization=(0.1, zero_point))
            results.append(processor(encodings.astype(raw_dtype), scores.astype(raw_dtype)))
        table, direct = results
        assert len(table) > 3
        for name in ("boxes", "class_ids", "scores"):
            assert getattr(table, name).dtype == getattr(direct, name).dtype
            assert getattr(table, name).tobytes() == getattr(direct, name).tobytes()


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 150), nms=st.sampled_from(["class", "agnostic"]),
       allow_list=st.booleans(), tracks=st.integers(0, 4), levels=st.sampled_from([5, 100]))
def test_a_low_band_keeps_what_nms_on_every_candidate_keeps_near_its_boxes(seed, n, nms, allow_list, tracks, levels):
    """With a band, the detections are those NMS at the band's threshold on every candidate keeps,
    less the low-score ones neither near a band box nor needed to say what NMS does to those
    (a subsequence of them that holds every one above the threshold or near a band box: a box,
    clipped to [0, 1], with IoU >= min_iou with a band box of its class)."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-0.05, 1.05, (n, 2))  # some boxes beyond the image: the band clips them
    sizes = rng.uniform(0.05, 0.4, (n, 2))
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], 1).astype(np.float32)
    # Mostly low scores; with 5 levels, many ties (NMS's order of equal scores).
    probabilities = (np.floor(rng.random((n, 5)) ** 2 * levels) / levels).astype(np.float32)
    # Band boxes: some candidates' boxes, moved a little (a tracker's predictions over objects).
    picked = rng.integers(0, n, tracks)
    band_boxes = np.clip(boxes[picked] + rng.normal(0, 0.02, (tracks, 4)), 0, 1).astype(np.float32)
    band = LowBand(0.1, band_boxes, rng.integers(1, 5, tracks), 0.5)
    config = PostprocessConfig(score_threshold=0.5, iou_threshold=0.5, max_detections=1000, max_per_class=1000, nms=nms,
                               class_ids=(1, 3, 4) if allow_list else None)
    ours = postprocess(boxes, probabilities, config, band)
    every = postprocess(boxes, probabilities, dataclasses.replace(config, score_threshold=0.1))

    def key(result, k):
        return result.class_ids[k].item(), result.scores[k].item(), tuple(result.boxes[k].tolist())

    def near(k):
        clipped = np.clip(every.boxes[k], 0.0, 1.0)
        return any(c == every.class_ids[k] and iou(clipped, b) >= np.float32(0.5) for b, c in zip(band.boxes, band.class_ids))

    ours_keys = [key(ours, k) for k in range(len(ours))]
    every_keys = [key(every, k) for k in range(len(every))]
    assert [k for k in every_keys if k in set(ours_keys)] == ours_keys  # a subsequence ...
    needed = [every_keys[k] for k in range(len(every)) if every.scores[k] >= np.float32(0.5) or near(k)]
    assert set(needed) <= set(ours_keys)  # ... with every one that matters
    # Above the threshold, the band changes nothing (their NMS never looks at lower scores).
    without = postprocess(boxes, probabilities, config)
    above = ours.scores >= np.float32(0.5)
    assert list(zip(ours.class_ids[above].tolist(), ours.scores[above].tolist())) == \
        list(zip(without.class_ids.tolist(), without.scores.tolist()))


def test_an_empty_low_band_or_one_not_below_the_threshold_adds_nothing():
    boxes = np.array([[0.1, 0.1, 0.5, 0.5], [0.1, 0.1, 0.5, 0.5]], np.float32)
    probabilities = np.array([[0, 0.9], [0, 0.3]], np.float32)
    box = boxes[:1]
    config = PostprocessConfig(score_threshold=0.5)
    assert postprocess(boxes, probabilities, config, LowBand(0.1, box, np.array([1]), 0.5)).scores.tolist() == \
        pytest.approx([0.9])  # the low one is suppressed by the sure one over it
    apart = np.array([[0.1, 0.1, 0.5, 0.5], [0.6, 0.6, 0.9, 0.9]], np.float32)
    assert len(postprocess(apart, probabilities, config, LowBand(0.1, apart[1:], np.array([1]), 0.5))) == 2
    assert len(postprocess(apart, probabilities, config, LowBand(0.1, apart[1:], np.array([2]), 0.5))) == 1  # other class
    assert len(postprocess(apart, probabilities, config, LowBand(0.1, np.zeros((0, 4), np.float32), np.zeros(0, int), 0.5))) == 1
    assert len(postprocess(apart, probabilities, config, LowBand(0.6, apart[1:], np.array([1]), 0.5))) == 1  # not below


@pytest.mark.parametrize("nms", ["class", "agnostic"])
def test_a_band_candidate_is_suppressed_by_an_equal_earlier_one_far_from_the_band_as_nms_does(nms):
    # y is near the band box (IoU 0.6), x is not (0.33); x and y overlap (IoU 0.6 > 0.5) with the
    # same score, x first: NMS on every candidate keeps x and drops y, and so must the band.
    x = [0.2, 0.3, 0.6, 0.7]
    y = [0.2, 0.2, 0.6, 0.6]
    band_box = [0.2, 0.1, 0.6, 0.5]
    boxes = np.array([x, y], np.float32)
    probabilities = np.array([[0, 0.3], [0, 0.3]], np.float32)
    config = PostprocessConfig(score_threshold=0.5, iou_threshold=0.5, nms=nms)
    only_x = boxes[:1].tolist()
    assert postprocess(boxes, probabilities, dataclasses.replace(config, score_threshold=0.1)).boxes.tolist() == only_x
    band = LowBand(0.1, np.array([band_box], np.float32), np.array([1]), 0.5)
    assert postprocess(boxes, probabilities, config, band).boxes.tolist() == only_x
