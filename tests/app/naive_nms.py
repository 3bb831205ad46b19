"""Plain, obviously-correct greedy NMS used as the oracle of the NMS and post-processing tests."""
import numpy as np


def iou(a, b):
    """TFLite's ComputeIntersectionOverUnion, one pair at a time, in float32."""
    a, b = np.float32(a), np.float32(b)
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    if area_a <= 0 or area_b <= 0:
        return np.float32(0)
    inter = max(min(a[2], b[2]) - max(a[0], b[0]), 0) * max(min(a[3], b[3]) - max(a[1], b[1]), 0)
    return np.float32(inter / (area_a + area_b - inter))


def naive_nms(boxes, scores, threshold, max_output, groups=None, max_per_group=None):
    order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))
    kept, per_group = [], {}
    for i in order:
        if len(kept) == max_output:
            break
        group = None if groups is None else int(groups[i])
        if max_per_group is not None and per_group.get(group, 0) >= max_per_group:
            continue
        if any((groups is None or groups[k] == groups[i]) and iou(boxes[k], boxes[i]) > np.float32(threshold) for k in kept):
            continue
        kept.append(i)
        per_group[group] = per_group.get(group, 0) + 1
    return kept
